//! Recordings: start, stop, list (`{c}/recordings…`).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::egress;
use crate::context;
use crate::domain::{Egress, EgressKind, EgressState};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::state::AppState;

/// `POST {c}/recordings/start` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRecordingRequest {
    /// `360p`, `720p` (default) or `1080p`.
    pub preset: Option<String>,
}

/// A recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    /// Its id.
    pub id: String,
    /// The session it recorded.
    pub session_id: Option<String>,
    /// `starting`, `active`, `ending`, `complete` or `failed`.
    pub state: EgressState,
    /// Why it failed.
    pub error: Option<String>,
    /// The file's name.
    pub filename: Option<String>,
    /// Where to download it (a signed link; absent until there is a file).
    pub url: Option<String>,
    /// Recording began.
    pub start_time: Option<DateTime<Utc>>,
    /// Recording ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Media duration in seconds.
    pub duration: f64,
    /// File size in bytes.
    pub size: i64,
}

impl RecordingView {
    /// The view of job `e`, with a download link from `state`'s file links.
    pub async fn new(state: &AppState, e: Egress) -> Self {
        let url = match e.file.as_deref() {
            Some(f) => Some(state.files.url(f).await),
            None => None,
        };
        Self {
            filename: e
                .file
                .as_deref()
                .map(|f| f.rsplit('/').next().unwrap_or(f).to_owned()),
            url,
            id: e.id,
            session_id: e.session_id,
            state: e.state,
            error: e.error,
            start_time: e.started_at,
            end_time: e.ended_at,
            duration: e.duration_ms as f64 / 1000.0,
            size: e.size,
        }
    }
}

/// One recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingResponse {
    /// The recording.
    pub recording: RecordingView,
}

/// The call's recordings.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingsResponse {
    /// Oldest first.
    pub recordings: Vec<RecordingView>,
}

/// Start recording the call.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/recordings/start", tag = "recordings", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = StartRecordingRequest,
    responses((status = 201, body = RecordingResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_recording(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<StartRecordingRequest>,
) -> ApiResult<(StatusCode, axum::Json<RecordingResponse>)> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StartRecordCall)?;
    let job = egress::start(&state, &ctx, EgressKind::Recording, req.preset, None).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RecordingResponse {
            recording: RecordingView::new(&state, job).await,
        }),
    ))
}

/// Stop the running recording; it completes once its file is written.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/recordings/stop", tag = "recordings", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RecordingResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_recording(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<RecordingResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StopRecordCall)?;
    let job = egress::stop(&state, &ctx, EgressKind::Recording, None)
        .await?
        .ok_or_else(|| ApiError::not_found("running recording"))?;
    Ok(axum::Json(RecordingResponse {
        recording: RecordingView::new(&state, job).await,
    }))
}

/// The call's recordings, with download links.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}/recordings", tag = "recordings", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RecordingsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_recordings(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<RecordingsResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::ReadCall)?;
    let jobs = state
        .store
        .list_egress(&ctx.call.cid.to_string(), EgressKind::Recording)
        .await?;
    let mut recordings = Vec::with_capacity(jobs.len());
    for e in jobs {
        recordings.push(RecordingView::new(&state, e).await);
    }
    Ok(axum::Json(RecordingsResponse { recordings }))
}
