//! `{c}/go_live`, `{c}/stop_live` and `{c}/end`: the call's state changes.
//! The transitions themselves (and what they refuse) are in
//! [`crate::domain::lifecycle`]; these handlers check capabilities, have
//! [`crate::lifecycle`] persist and announce the change, and start the
//! egress that going live asks for.

use axum::extract::State;
use chrono::Utc;
use onair_auth::Capability;
use serde::Deserialize;
use utoipa::ToSchema;

use super::view::call_view;
use super::CallResponse;
use crate::context;
use crate::domain::lifecycle;
use crate::domain::settings::RecordingMode;
use crate::domain::{CallCid, EgressKind};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::state::AppState;

/// Leave backstage: everyone who may join now gets the hosts' media.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/go_live", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body(content = GoLiveRequest, description = "optional"),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the call ended")))]
pub async fn go_live(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<GoLiveRequest>,
) -> ApiResult<axum::Json<CallResponse>> {
    set_live(state, caller, cid, true, req).await
}

/// `POST {c}/go_live` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoLiveRequest {
    /// Start recording too (needs `start-record-call`).
    #[serde(default)]
    pub start_recording: bool,
    /// Start HLS too (needs `start-broadcast-call`).
    #[serde(default)]
    pub start_hls: bool,
}

/// Go back to backstage: only `join-backstage` holders publish and are seen.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/stop_live", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the call ended")))]
pub async fn stop_live(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<CallResponse>> {
    set_live(state, caller, cid, false, GoLiveRequest::default()).await
}

async fn set_live(
    state: AppState,
    caller: Caller,
    cid: CallCid,
    live: bool,
    also: GoLiveRequest,
) -> ApiResult<axum::Json<CallResponse>> {
    let mut ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCall)?;
    if also.start_recording {
        ctx.require(Capability::StartRecordCall)?;
    }
    if also.start_hls {
        ctx.require(Capability::StartBroadcastCall)?;
    }
    let now = Utc::now();
    let transition = if live {
        lifecycle::go_live(&ctx.call, &ctx.settings, now)?
    } else {
        lifecycle::stop_live(&ctx.call, &ctx.settings, now)?
    };
    ctx.call = crate::lifecycle::commit(&state, transition).await?;
    tracing::info!(call_cid = %cid, live, "call live state changed");
    let auto = ctx.settings.recording.mode == RecordingMode::AutoOn;
    if live && (also.start_recording || auto) {
        crate::egress::start_by_itself(&state, &ctx, EgressKind::Recording).await?;
    }
    if live && also.start_hls {
        crate::egress::start_by_itself(&state, &ctx, EgressKind::Hls).await?;
    }
    Ok(axum::Json(CallResponse {
        call: call_view(&state, &ctx).await?,
    }))
}

/// End the call: everyone is disconnected; later joins need `join-ended-call`.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/end", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already ended")))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<CallResponse>> {
    let mut ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::EndCall)?;
    ctx.call = crate::lifecycle::end_call(&state, &ctx.call, None).await?;
    Ok(axum::Json(CallResponse {
        call: call_view(&state, &ctx).await?,
    }))
}
