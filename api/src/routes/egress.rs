//! Recordings: start, stop, list (`{c}/recordings…`). The API stores the
//! job and asks on the bus; an egress worker does the work and reports
//! back (see [`crate::presence`]).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::context::{self, CallContext};
use crate::domain::egress::PRESETS;
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
    pub fn new(state: &AppState, e: Egress) -> Self {
        let url = e.file.as_deref().map(|f| state.files.url(f));
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

/// The call's running recording, if any.
pub async fn running_recording(state: &AppState, cid: &str) -> ApiResult<Option<Egress>> {
    let jobs = state.store.list_egress(cid, EgressKind::Recording).await?;
    Ok(jobs.into_iter().rev().find(|e| e.state.is_running()))
}

/// Stores a recording job and asks a worker for it (409 if one runs).
pub async fn start(
    state: &AppState,
    ctx: &CallContext,
    preset: Option<String>,
) -> ApiResult<Egress> {
    if ctx.call.ended_at.is_some() {
        return Err(ApiError::conflict("call_ended", "the call has ended"));
    }
    let preset = preset.unwrap_or_else(|| ctx.settings.recording.quality.clone());
    if !PRESETS.iter().any(|(name, ..)| *name == preset) {
        return Err(ApiError::invalid(
            "invalid_preset",
            format!("preset must be one of 360p, 720p, 1080p, not `{preset}`"),
        ));
    }
    let cid = ctx.call.cid.to_string();
    let job = Egress {
        id: format!("EG_{}", Uuid::new_v4().simple()),
        call_cid: cid.clone(),
        session_id: ctx.call.current_session_id.clone(),
        kind: EgressKind::Recording,
        preset: preset.clone(),
        state: EgressState::Starting,
        error: None,
        file: None,
        size: 0,
        duration_ms: 0,
        created_at: Utc::now(),
        started_at: None,
        ended_at: None,
        updated_at: Utc::now(),
    };
    if !state.store.insert_egress(&job).await? {
        return Err(ApiError::conflict(
            "recording_running",
            "the call is already being recorded",
        ));
    }
    tracing::info!(call_cid = %cid, egress = %job.id, %preset, "recording requested");
    let kind = EventKind::EgressRequested {
        egress_id: job.id.clone(),
        kind: EgressKind::Recording.as_str().into(),
        preset,
        backstage: ctx.settings.backstage.enabled && ctx.call.backstage,
    };
    context::publish(state, &ctx.call.cid, kind).await;
    Ok(job)
}

/// Starts a recording because the call says so (`recording.mode: auto-on`,
/// `go_live {start_recording}`); one already running is fine.
pub async fn start_by_itself(state: &AppState, ctx: &CallContext) -> ApiResult<()> {
    match start(state, ctx, None).await {
        Err(e) if e.body.code == "recording_running" => Ok(()),
        other => other.map(|_| ()),
    }
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
    let job = start(&state, &ctx, req.preset).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RecordingResponse {
            recording: RecordingView::new(&state, job),
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
    let job = stop(&state, &ctx)
        .await?
        .ok_or_else(|| ApiError::not_found("running recording"))?;
    Ok(axum::Json(RecordingResponse {
        recording: RecordingView::new(&state, job),
    }))
}

/// Moves the running recording to `ending` and asks its worker to finish.
pub async fn stop(state: &AppState, ctx: &CallContext) -> ApiResult<Option<Egress>> {
    let cid = ctx.call.cid.to_string();
    // A worker report may move the job meanwhile: retry on a lost race.
    for _ in 0..5 {
        let Some(mut job) = running_recording(state, &cid).await? else {
            return Ok(None);
        };
        let previous = job.state;
        if previous != EgressState::Ending {
            job.state = EgressState::Ending;
            job.updated_at = Utc::now();
            if !state.store.update_egress(&job, previous).await? {
                continue;
            }
        }
        tracing::info!(call_cid = %cid, egress = %job.id, "recording stop requested");
        let kind = EventKind::EgressStopRequested {
            egress_id: job.id.clone(),
        };
        context::publish(state, &ctx.call.cid, kind).await;
        return Ok(Some(job));
    }
    Err(ApiError::conflict(
        "recording_busy",
        "the recording changed state repeatedly; try again",
    ))
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
    Ok(axum::Json(RecordingsResponse {
        recordings: jobs
            .into_iter()
            .map(|e| RecordingView::new(&state, e))
            .collect(),
    }))
}
