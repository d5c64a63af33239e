//! Ringing (`{c}/ring`, `{c}/accept`, `{c}/reject`): a member rings
//! others; callees accept or reject; the caller cancels with a reject.
//! The events (`call.ring`, `call.accepted`, `call.rejected`,
//! `call.missed`) reach sockets, webhooks and phones. See [`crate::ringing`].

use axum::extract::State;
use axum::http::StatusCode;
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::{self, CallContext};
use crate::domain::ids;
use crate::domain::ring::{Ring, REASONS};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::ringing::{self, Answer, MAX_CALLEES};
use crate::state::AppState;

/// `POST {c}/ring` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RingRequest {
    /// Members to ring; absent or empty: every member not in the call now.
    #[serde(default)]
    pub members_ids: Vec<String>,
    /// A video call (phones show it so); default true.
    pub video: Option<bool>,
}

/// `POST {c}/reject` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// `decline` (default), `busy`, `cancel` or `timeout`.
    pub reason: Option<String>,
}

/// A ring as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RingView {
    /// The ring.
    pub ring_id: String,
    /// Who rings.
    pub caller_id: String,
    /// `ringing`, `accepted` or `ended`.
    pub state: String,
    /// Who is rung, with where each is (`ringing`, `accepted`, `rejected`).
    #[schema(value_type = Object)]
    pub members: serde_json::Value,
}

impl From<&Ring> for RingView {
    fn from(r: &Ring) -> Self {
        let members = r
            .callees
            .iter()
            .map(|c| {
                let fields = serde_json::json!({"state": c.state.as_str(), "reason": c.reason});
                (c.user_id.clone(), fields)
            })
            .collect::<serde_json::Map<_, _>>();
        RingView {
            ring_id: r.id.clone(),
            caller_id: r.caller_id.clone(),
            state: r.state.as_str().to_owned(),
            members: members.into(),
        }
    }
}

/// The user behind a user token; rings are between users.
fn user(caller: &Caller) -> ApiResult<&str> {
    caller
        .user()
        .map(|u| u.sub.as_str())
        .ok_or_else(|| ApiError::forbidden("user_token_required", "rings are between users"))
}

/// Ring members of the call (needs `ring-call`): their apps hear
/// `call.ring`, their phones ring.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/ring", tag = "ringing", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = RingRequest,
    responses((status = 201, body = RingView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the call is ringing, or has ended"),
        (status = 422, body = ErrorBody)))]
pub async fn ring(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<RingRequest>,
) -> ApiResult<(StatusCode, axum::Json<RingView>)> {
    let me = user(&caller)?;
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::RingCall)?;
    let video = req.video.unwrap_or(true);
    let ring = ring_members(&state, &ctx, me, &req.members_ids, video).await?;
    Ok((StatusCode::CREATED, axum::Json(RingView::from(&ring))))
}

/// Rings `members_ids` (members of the call; all members not connected
/// now when empty) from `me`.
pub async fn ring_members(
    state: &AppState,
    ctx: &CallContext,
    me: &str,
    members_ids: &[String],
    video: bool,
) -> ApiResult<Ring> {
    if ctx.call.ended_at.is_some() {
        return Err(ApiError::conflict("call_ended", "the call has ended"));
    }
    if ctx.member.is_none() {
        let message = "only a member of the call rings the others";
        return Err(ApiError::forbidden("not_a_member", message));
    }
    if members_ids.len() > MAX_CALLEES {
        return Err(ApiError::invalid(
            "too_many_members",
            "ring at most 100 members",
        ));
    }
    let cid = ctx.call.cid.to_string();
    let members = state.store.list_members(&cid).await?;
    let callees: Vec<String> = if members_ids.is_empty() {
        let connected = state.store.connected_participants(&cid).await?;
        let in_call = |u: &str| connected.iter().any(|p| ids::owner_of(&p.user_id) == u);
        members
            .iter()
            .map(|m| m.user_id.clone())
            .filter(|u| u != me && !in_call(u))
            .take(MAX_CALLEES)
            .collect()
    } else {
        for id in members_ids {
            ids::validate_user_id(id)?;
            if !members.iter().any(|m| &m.user_id == id) {
                let message = format!("`{id}` is not a member of the call; add them first");
                return Err(ApiError::invalid("not_a_member", message));
            }
        }
        let mut callees: Vec<String> = Vec::new();
        for id in members_ids {
            if id != me && !callees.contains(id) {
                callees.push(id.clone());
            }
        }
        callees
    };
    if callees.is_empty() {
        return Err(ApiError::invalid("nobody_to_ring", "no member to ring"));
    }
    ringing::start(state, ctx, me, &callees, video).await
}

/// Accept the call's ring (a callee).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/accept", tag = "ringing", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RingView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the ring is over or does not ring you")))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<RingView>> {
    let me = user(&caller)?;
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::JoinCall)?;
    let ring = ringing::answer(&state, &ctx, me, Answer::Accept).await?;
    Ok(axum::Json(RingView::from(&ring)))
}

/// Reject the call's ring (a callee), or cancel it (the caller).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/reject", tag = "ringing", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = RejectRequest,
    responses((status = 200, body = RingView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the ring is over or does not ring you"),
        (status = 422, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<RejectRequest>,
) -> ApiResult<axum::Json<RingView>> {
    let me = user(&caller)?;
    let reason = req.reason.as_deref().unwrap_or("decline");
    if !REASONS.contains(&reason) {
        let message = "reason is decline, busy, cancel or timeout";
        return Err(ApiError::invalid("invalid_reason", message));
    }
    let ctx = context::load(&state, &caller, &cid).await?;
    let ring = ringing::answer(&state, &ctx, me, Answer::Reject(reason)).await?;
    Ok(axum::Json(RingView::from(&ring)))
}
