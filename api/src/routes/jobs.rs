//! Egress jobs as their workers see them (server tokens only): whether a
//! job is still wanted, and where a push goes. Workers ask rather than
//! being told on the bus: a stop event can be missed, and a stream key
//! must not travel there.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Egress, EgressKind, EgressState};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Segment};
use crate::state::AppState;

/// A job's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The job.
    pub id: String,
    /// Its call.
    pub call_cid: String,
    /// `starting`, `active`, `ending`, `complete` or `failed`.
    pub state: EgressState,
}

/// Where a running push goes, stream key included.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetResponse {
    /// `rtmp(s)://host/app/KEY`.
    pub target: String,
}

/// Job `id`, for a server token.
async fn job(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Egress> {
    caller.require_server()?;
    state
        .store
        .get_egress(id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("egress job `{id}`")))
}

/// For egress workers: a job's state (a worker stops a job the API no
/// longer wants, in case it missed the stop).
#[utoipa::path(get, path = "/v1/egress/{id}", tag = "broadcasts", security(("token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn state_of(
    State(state): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> ApiResult<axum::Json<JobView>> {
    let job = job(&state, &caller, &id).await?;
    Ok(axum::Json(JobView {
        id: job.id,
        call_cid: job.call_cid,
        state: job.state,
    }))
}

/// For egress workers: where a running RTMP push goes (stream keys never
/// travel on the bus).
#[utoipa::path(get, path = "/v1/egress/{id}/target", tag = "broadcasts", security(("token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TargetResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the push is not running")))]
pub async fn target_of(
    State(state): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> ApiResult<axum::Json<TargetResponse>> {
    let job = job(&state, &caller, &id).await?;
    if job.kind != EgressKind::Rtmp {
        return Err(ApiError::not_found(&format!("RTMP push `{id}`")));
    }
    if !job.state.is_running() {
        return Err(ApiError::conflict("not_running", "the push is over"));
    }
    let target = state
        .store
        .egress_target(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("target of `{id}`")))?;
    Ok(axum::Json(TargetResponse { target }))
}
