//! What happens inside a running call: who is connected, kicking and
//! muting. The SFU carries out kicks and mutes when it hears them on the bus.

use axum::extract::State;
use chrono::{DateTime, Utc};
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context;
use crate::domain::ids;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json};
use crate::state::AppState;
use crate::store::Write;

/// A media connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// The user.
    pub user_id: String,
    /// The SFU's id for this connection.
    pub participant_sid: String,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// Connected since.
    pub joined_at: DateTime<Utc>,
}

/// `GET {c}/participants` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantsResponse {
    /// Connected now, in joining order.
    pub participants: Vec<ParticipantView>,
}

/// `POST {c}/kick_user` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KickUserRequest {
    /// Who to remove.
    pub user_id: String,
    /// Also block them (needs `block-users`): they cannot join again.
    #[serde(default)]
    pub block: bool,
}

/// `POST {c}/mute_users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteUsersRequest {
    /// Whom to mute.
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// Everyone instead.
    #[serde(default)]
    pub mute_all_users: bool,
    /// Microphones.
    #[serde(default)]
    pub audio: bool,
    /// Cameras.
    #[serde(default)]
    pub video: bool,
    /// Screen shares.
    #[serde(default)]
    pub screenshare: bool,
}

/// Empty success answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always `true`.
    pub ok: bool,
}

/// Who is connected to the call's media now.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}/participants", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ParticipantsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn participants(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<ParticipantsResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require_roster(&caller)?;
    let participants = state.store.connected_participants(&cid.to_string()).await?;
    Ok(axum::Json(ParticipantsResponse {
        participants: participants
            .into_iter()
            .map(|p| ParticipantView {
                user_id: p.user_id,
                participant_sid: p.participant_sid,
                session_id: p.session_id,
                joined_at: p.joined_at,
            })
            .collect(),
    }))
}

/// Disconnect a user from the call (they may rejoin unless blocked).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/kick_user", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = KickUserRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn kick_user(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<KickUserRequest>,
) -> ApiResult<axum::Json<Done>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::KickUser)?;
    ids::validate_user_id(&req.user_id)?;
    if req.block {
        ctx.require(Capability::BlockUsers)?;
        super::blocks::block_users(&state, &cid, std::slice::from_ref(&req.user_id)).await?;
    }
    // Join tokens minted before now no longer admit them.
    let kick = Write::RecordKick {
        cid: cid.to_string(),
        user_id: req.user_id.clone(),
        at: chrono::Utc::now(),
    };
    tracing::info!(call_cid = %cid, user = %req.user_id, "user kicked");
    let kind = EventKind::UserKicked {
        user_id: req.user_id,
    };
    events::commit(&state, &cid, vec![kick], Announce::bus([kind])).await?;
    Ok(axum::Json(Done { ok: true }))
}

/// Mute users' microphones, cameras or screen shares.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/mute_users", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = MuteUsersRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mute_users(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<MuteUsersRequest>,
) -> ApiResult<axum::Json<Done>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::MuteUsers)?;
    if req.user_ids.is_empty() && !req.mute_all_users {
        return Err(ApiError::invalid(
            "invalid_body",
            "name `user_ids` or set `mute_all_users`",
        ));
    }
    if !(req.audio || req.video || req.screenshare) {
        return Err(ApiError::invalid(
            "invalid_body",
            "set at least one of `audio`, `video`, `screenshare`",
        ));
    }
    for id in &req.user_ids {
        ids::validate_user_id(id)?;
    }
    let kind = EventKind::UsersMuted {
        user_ids: req.user_ids,
        all: req.mute_all_users,
        audio: req.audio,
        video: req.video,
        screenshare: req.screenshare,
    };
    events::record(&state, &cid, Announce::bus([kind])).await?;
    Ok(axum::Json(Done { ok: true }))
}
