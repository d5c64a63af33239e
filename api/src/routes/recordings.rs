//! Recordings: start, stop, list (`{c}/recordings…`). A recording is the
//! whole call composited (one at a time), or one track as it is published
//! (`track_sid`; any number of tracks at once).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context;
use crate::domain::{Egress, EgressKind, EgressState};
use crate::egress::{self, Subject};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::state::AppState;

/// `POST {c}/recordings/start` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRecordingRequest {
    /// `360p`, `720p` (default) or `1080p` (composite recordings).
    pub preset: Option<String>,
    /// Record only this track (`TR_…`), as published: no transcoding.
    pub track_sid: Option<String>,
}

/// `POST {c}/recordings/stop` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRecordingRequest {
    /// Stop this track's recording (else the composite one).
    pub track_sid: Option<String>,
}

/// Refuses what cannot be a track sid.
fn track_sid(sid: &str) -> ApiResult<()> {
    let ok = sid.len() <= 64
        && sid.strip_prefix("TR_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_track_sid",
            "track_sid must look like TR_xxxx",
        ))
    }
}

/// A recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    /// Its id.
    pub id: String,
    /// `composite` or `track`.
    pub mode: &'static str,
    /// The recorded track (track recordings).
    pub track_sid: Option<String>,
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
    /// Media duration in seconds (all parts).
    pub duration: f64,
    /// File size in bytes (all parts).
    pub size: i64,
    /// Its files in order. One, unless the node recording it died and
    /// another took it over into a new file (`filename` and `url` are the
    /// last part's).
    pub parts: Vec<RecordingPart>,
}

/// One file of a recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingPart {
    /// The file's name.
    pub filename: String,
    /// Where to download it (a signed link).
    pub url: String,
    /// Media duration in seconds.
    pub duration: f64,
    /// File size in bytes.
    pub size: i64,
    /// At most this many seconds went unrecorded before it (0 for the first).
    pub gap_before: f64,
}

/// The name of the file at storage key `key`.
fn file_name(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_owned()
}

/// Job `e`'s files in order, with download links.
async fn parts(state: &AppState, e: &Egress) -> Vec<RecordingPart> {
    let earlier = e.parts.iter().map(|p| (&p.file, p.size, p.duration_ms));
    let last = e.file.iter().map(|f| (f, e.size, e.duration_ms));
    let gaps = std::iter::once(0).chain(e.parts.iter().map(|p| p.gap_after_ms));
    let mut parts = Vec::new();
    for ((file, size, duration_ms), gap_ms) in earlier.chain(last).zip(gaps) {
        parts.push(RecordingPart {
            filename: file_name(file),
            url: state.files.url(file).await,
            duration: duration_ms as f64 / 1000.0,
            size,
            gap_before: gap_ms as f64 / 1000.0,
        });
    }
    parts
}

impl RecordingView {
    /// The view of job `e`, with a download link from `state`'s file links.
    pub async fn new(state: &AppState, e: Egress) -> Self {
        let parts = parts(state, &e).await;
        let last = parts.last();
        Self {
            filename: last.map(|p| p.filename.clone()),
            url: last.map(|p| p.url.clone()),
            mode: if e.kind == EgressKind::TrackRecording {
                "track"
            } else {
                "composite"
            },
            track_sid: e.name.filter(|_| e.kind == EgressKind::TrackRecording),
            id: e.id,
            session_id: e.session_id,
            state: e.state,
            error: e.error,
            start_time: e.started_at,
            end_time: e.ended_at,
            duration: parts
                .iter()
                .map(|p| p.duration)
                .sum::<f64>()
                .max(e.duration_ms as f64 / 1000.0),
            size: parts.iter().map(|p| p.size).sum::<i64>().max(e.size),
            parts,
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
    let job = match req.track_sid {
        Some(sid) => {
            track_sid(&sid)?;
            let subject = Subject {
                name: sid.clone(),
                target: sid,
            };
            egress::start(
                &state,
                &ctx,
                EgressKind::TrackRecording,
                req.preset,
                Some(subject),
            )
            .await?
        }
        None => egress::start(&state, &ctx, EgressKind::Recording, req.preset, None).await?,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(RecordingResponse {
            recording: RecordingView::new(&state, job).await,
        }),
    ))
}

/// Stop the running recording (or one track's); it completes once its file is written.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/recordings/stop", tag = "recordings", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = StopRecordingRequest,
    responses((status = 200, body = RecordingResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_recording(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<StopRecordingRequest>,
) -> ApiResult<axum::Json<RecordingResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StopRecordCall)?;
    let (kind, sid) = match &req.track_sid {
        Some(sid) => (EgressKind::TrackRecording, Some(sid.as_str())),
        None => (EgressKind::Recording, None),
    };
    let job = egress::stop(&state, &ctx, kind, sid)
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
    // The list hands out signed links: members with the capability only.
    if !caller.is_server() {
        ctx.require(Capability::ListRecordings)?;
        if ctx.member.is_none() {
            return Err(ApiError::forbidden(
                "members_only",
                "only the call's members list its recordings",
            ));
        }
    }
    let cid = ctx.call.cid.to_string();
    let mut jobs = state.store.list_egress(&cid, EgressKind::Recording).await?;
    jobs.extend(
        state
            .store
            .list_egress(&cid, EgressKind::TrackRecording)
            .await?,
    );
    jobs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut recordings = Vec::with_capacity(jobs.len());
    for e in jobs {
        recordings.push(RecordingView::new(&state, e).await);
    }
    Ok(axum::Json(RecordingsResponse { recordings }))
}
