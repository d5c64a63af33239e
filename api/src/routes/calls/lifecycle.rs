//! `{c}/go_live`, `{c}/stop_live` and `{c}/end`: the call's state changes.
//! The transitions themselves are in [`crate::domain::lifecycle`]; these
//! handlers check capabilities, and [`crate::lifecycle`] persists and
//! announces the change.

use axum::extract::State;
use chrono::Utc;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::Deserialize;
use utoipa::ToSchema;

use super::view::call_view;
use super::CallResponse;
use crate::context;
use crate::domain::lifecycle::{self, CallState};
use crate::domain::settings::RecordingMode;
use crate::domain::{CallCid, EgressKind};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::lifecycle::{current_open_session, end_call};
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
    if lifecycle::state(&ctx.call, &ctx.settings) == CallState::Ended {
        return Err(ApiError::conflict(
            "call_ended",
            format!("call `{cid}` has ended"),
        ));
    }
    let now = Utc::now();
    ctx.call.backstage = !live;
    ctx.call.updated_at = now;
    state.store.update_call(&ctx.call).await?;
    if let Some(mut session) = current_open_session(&state, &ctx.call).await? {
        if live {
            session.live_started_at = Some(now);
        } else {
            session.live_ended_at = Some(now);
        }
        state.store.update_session(&session).await?;
    }
    tracing::info!(call_cid = %cid, live, "call live state changed");
    let kind = if live {
        EventKind::LiveStarted
    } else {
        EventKind::LiveStopped
    };
    context::publish(&state, &cid, kind).await;
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
    if ctx.call.ended_at.is_some() {
        return Err(ApiError::conflict(
            "call_ended",
            format!("call `{cid}` has ended already"),
        ));
    }
    end_call(&state, &mut ctx.call, None).await?;
    Ok(axum::Json(CallResponse {
        call: call_view(&state, &ctx).await?,
    }))
}
