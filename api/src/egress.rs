//! Egress jobs as the API sees them: start one (stored, then queued on
//! the bus for one worker to take), stop it, find the running one. Workers do the work and report
//! back (see [`crate::presence`]). A service, not a route: the routes
//! [`crate::routes::recordings`], [`crate::routes::hls`] and
//! [`crate::routes::rtmp`] call it, and so do `go_live` and joins (auto-on
//! recording).

use chrono::Utc;
use onair_bus::EventKind;
use uuid::Uuid;

use crate::context::{self, CallContext};
use crate::domain::egress::PRESETS;
use crate::domain::lifecycle;
use crate::domain::{CallCid, CallSettings, Egress, EgressKind, EgressState};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The call's running jobs of `kind`, oldest first.
pub async fn running_all(state: &AppState, cid: &str, kind: EgressKind) -> ApiResult<Vec<Egress>> {
    let mut jobs = state.store.list_egress(cid, kind).await?;
    jobs.retain(|e| e.state.is_running());
    Ok(jobs)
}

/// The call's running job of `kind` (named `name`, for RTMP pushes), if any.
pub async fn running(
    state: &AppState,
    cid: &str,
    kind: EgressKind,
    name: Option<&str>,
) -> ApiResult<Option<Egress>> {
    let jobs = running_all(state, cid, kind).await?;
    Ok(jobs.into_iter().rev().find(|e| e.name.as_deref() == name))
}

/// What a job of a kind that may run several times per call is about.
pub struct Subject {
    /// Its name in the call (an RTMP target's name, a track's sid).
    pub name: String,
    /// What the worker needs: an RTMP URL with its stream key, a track's sid.
    pub target: String,
}

/// The error code when a job of `kind` already runs.
fn running_code(kind: EgressKind) -> &'static str {
    match kind {
        EgressKind::Recording => "recording_running",
        EgressKind::Hls => "hls_running",
        EgressKind::Rtmp => "rtmp_running",
        EgressKind::TrackRecording => "track_recording_running",
    }
}

/// Stores a job of `kind` and asks a worker for it (409 if one runs).
pub async fn start(
    state: &AppState,
    ctx: &CallContext,
    kind: EgressKind,
    preset: Option<String>,
    subject: Option<Subject>,
) -> ApiResult<Egress> {
    state.refuse_if_draining()?;
    if ctx.call.ended_at.is_some() {
        return Err(ApiError::conflict("call_ended", "the call has ended"));
    }
    let preset = checked_preset(preset, &ctx.settings)?;
    refuse_over_limit(state, &ctx.call.cid, kind).await?;
    let id = format!("EG_{}", Uuid::new_v4().simple());
    let name = subject.as_ref().map(|p| p.name.clone());
    let job = Egress::requested(id, &ctx.call, kind, name, preset.clone(), Utc::now());
    if !state.store.insert_egress(&job).await? {
        return Err(ApiError::conflict(
            running_code(kind),
            format!("the call already has a running {}", kind.as_str()),
        ));
    }
    let track_sid = keep_target(state, &job, subject).await?;
    tracing::info!(call_cid = %job.call_cid, egress = %job.id, kind = kind.as_str(), %preset, "egress requested");
    let event = EventKind::EgressRequested {
        egress_id: job.id.clone(),
        kind,
        preset,
        backstage: lifecycle::in_backstage(&ctx.call, &ctx.settings),
        track_sid,
    };
    let request = onair_bus::Event::new(job.call_cid.clone(), onair_auth::clock::unix_ms(), event);
    if let Err(e) = state.bus.offer(onair_bus::jobs::EGRESS, request).await {
        // Stored but not queued: the sweep fails it as never taken.
        tracing::error!(call_cid = %job.call_cid, egress = %job.id, error = %e, "egress job not queued");
    }
    Ok(job)
}

/// The requested preset, else the call's recording quality; 422 for an
/// unknown one.
fn checked_preset(preset: Option<String>, settings: &CallSettings) -> ApiResult<String> {
    let preset = preset.unwrap_or_else(|| settings.recording.quality.clone());
    if !PRESETS.iter().any(|(name, ..)| *name == preset) {
        return Err(ApiError::invalid(
            "invalid_preset",
            format!("preset must be one of 360p, 720p, 1080p, not `{preset}`"),
        ));
    }
    Ok(preset)
}

/// Refuses (409) a job of a kind that may run several times per call
/// (RTMP pushes, track recordings) once the call runs as many as allowed.
async fn refuse_over_limit(state: &AppState, cid: &CallCid, kind: EgressKind) -> ApiResult<()> {
    let limits = &state.config.egress;
    let cap = match kind {
        EgressKind::Rtmp => limits.max_rtmp_per_call,
        EgressKind::TrackRecording => limits.max_track_recordings_per_call,
        _ => return Ok(()),
    };
    if running_all(state, &cid.to_string(), kind).await?.len() >= cap {
        tracing::info!(call_cid = %cid, kind = kind.as_str(), cap, "egress refused: per-call limit");
        return Err(ApiError::conflict(
            "egress_limit",
            format!("a call runs at most {cap} jobs of kind {}", kind.as_str()),
        ));
    }
    Ok(())
}

/// Keeps what `job` is about where its worker finds it, and returns the
/// track sid the request carries. A push target holds its stream key: it
/// stays in the store, and the worker fetches it (`GET
/// /v1/egress/{id}/target`); a track sid travels on the bus.
async fn keep_target(
    state: &AppState,
    job: &Egress,
    subject: Option<Subject>,
) -> ApiResult<Option<String>> {
    match (job.kind, subject) {
        (EgressKind::Rtmp, Some(subject)) => {
            state
                .store
                .put_egress_target(&job.id, &subject.target)
                .await?;
            Ok(None)
        }
        (_, subject) => Ok(subject.map(|s| s.target)),
    }
}

/// Starts a job because the call says so (`recording.mode: auto-on`,
/// `go_live {start_recording, start_hls}`); one already running is fine.
pub async fn start_by_itself(
    state: &AppState,
    ctx: &CallContext,
    kind: EgressKind,
) -> ApiResult<()> {
    match start(state, ctx, kind, None, None).await {
        Err(e) if e.body.code == running_code(kind) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Moves the running job of `kind` (named `name`, for RTMP pushes) to
/// `ending` and asks its worker to finish.
pub async fn stop(
    state: &AppState,
    ctx: &CallContext,
    kind: EgressKind,
    name: Option<&str>,
) -> ApiResult<Option<Egress>> {
    let cid = ctx.call.cid.to_string();
    // A worker report may move the job meanwhile: retry on a lost race.
    for _ in 0..5 {
        let Some(mut job) = running(state, &cid, kind, name).await? else {
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
        tracing::info!(call_cid = %cid, egress = %job.id, kind = kind.as_str(), "egress stop requested");
        let event = EventKind::EgressStopRequested {
            egress_id: job.id.clone(),
        };
        context::publish(state, &ctx.call.cid, event).await;
        return Ok(Some(job));
    }
    Err(ApiError::conflict(
        "egress_busy",
        "the job changed state repeatedly; try again",
    ))
}
