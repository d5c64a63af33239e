//! `{c}/block_users` and `{c}/unblock_users`: a blocked user is sent away
//! at once and refused at REST join, at the SFU and at ingest, whatever
//! token they still hold, until unblocked.

use axum::extract::State;
use chrono::Utc;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context;
use crate::domain::{ids, CallCid};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json};
use crate::state::AppState;
use crate::store::Write;

/// Most users one request blocks or unblocks.
pub const MAX_BLOCK: usize = 100;

/// `POST {c}/block_users` and `POST {c}/unblock_users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockUsersRequest {
    /// The users.
    pub user_ids: Vec<String>,
}

/// Who is blocked now.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedUsersResponse {
    /// Blocked user ids, first blocked first.
    pub blocked_user_ids: Vec<String>,
}

/// Block users from the call: they are disconnected and cannot join again.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/block_users", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = BlockUsersRequest,
    responses((status = 200, body = BlockedUsersResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<BlockUsersRequest>,
) -> ApiResult<axum::Json<BlockedUsersResponse>> {
    change(&state, &caller, &cid, &req, Change::Block).await
}

/// Lift blocks: the users may join again.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/unblock_users", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = BlockUsersRequest,
    responses((status = 200, body = BlockedUsersResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<BlockUsersRequest>,
) -> ApiResult<axum::Json<BlockedUsersResponse>> {
    change(&state, &caller, &cid, &req, Change::Unblock).await
}

/// What a request does to the users it names.
#[derive(Clone, Copy)]
enum Change {
    Block,
    Unblock,
}

/// Blocks or unblocks the users `req` names, if the caller may; answers
/// who is blocked now.
async fn change(
    state: &AppState,
    caller: &Caller,
    cid: &CallCid,
    req: &BlockUsersRequest,
    what: Change,
) -> ApiResult<axum::Json<BlockedUsersResponse>> {
    authorize(state, caller, cid, req).await?;
    match what {
        Change::Block => block_users(state, cid, &req.user_ids).await?,
        Change::Unblock => unblock_users(state, cid, &req.user_ids).await?,
    }
    Ok(axum::Json(BlockedUsersResponse {
        blocked_user_ids: state.store.blocked_users(&cid.to_string()).await?,
    }))
}

/// Stores the blocks with their events; the SFU sends the users away.
pub async fn block_users(state: &AppState, cid: &CallCid, user_ids: &[String]) -> ApiResult<()> {
    let write = Write::BlockUsers {
        cid: cid.to_string(),
        user_ids: user_ids.to_vec(),
        at: Utc::now(),
    };
    let kinds = user_ids.iter().map(|user_id| EventKind::UserBlocked {
        user_id: user_id.clone(),
    });
    events::commit(state, cid, vec![write], Announce::bus(kinds)).await?;
    tracing::info!(call_cid = %cid, users = ?user_ids, "users blocked");
    Ok(())
}

/// Lifts the blocks (the SFU's gate reads them from the store) with their
/// events.
async fn unblock_users(state: &AppState, cid: &CallCid, user_ids: &[String]) -> ApiResult<()> {
    let write = Write::UnblockUsers {
        cid: cid.to_string(),
        user_ids: user_ids.to_vec(),
    };
    let kinds = user_ids.iter().map(|user_id| EventKind::UserUnblocked {
        user_id: user_id.clone(),
    });
    events::commit(state, cid, vec![write], Announce::bus(kinds)).await?;
    tracing::info!(call_cid = %cid, users = ?user_ids, "users unblocked");
    Ok(())
}

/// The caller may block in call `cid`, and `req` names 1 to
/// [`MAX_BLOCK`] valid user ids.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    cid: &CallCid,
    req: &BlockUsersRequest,
) -> ApiResult<()> {
    let ctx = context::load(state, caller, cid).await?;
    ctx.require(Capability::BlockUsers)?;
    let user_ids = &req.user_ids;
    if user_ids.is_empty() || user_ids.len() > MAX_BLOCK {
        return Err(ApiError::invalid(
            "invalid_body",
            format!("name between 1 and {MAX_BLOCK} `user_ids`"),
        ));
    }
    for id in user_ids {
        ids::validate_user_id(id)?;
    }
    Ok(())
}
