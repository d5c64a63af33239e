//! Stream's permission flow: a user asks the hosts for capabilities
//! (`POST {c}/request_permission`, a "raised hand"), and someone holding
//! `update-call-permissions` grants or revokes them for that user in this
//! call (`POST {c}/user_permissions`). Grants are stored over the user's
//! roles and reach a connected client at once (it may publish without
//! rejoining).

use std::collections::BTreeSet;

use axum::extract::State;
use chrono::Utc;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::live::Done;
use crate::context;
use crate::domain::event::NewEvent;
use crate::domain::{ids, UserPermissions};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json};
use crate::state::AppState;
use crate::store::Write;

/// What a user may ask the hosts for.
const REQUESTABLE: [Capability; 3] = [
    Capability::SendAudio,
    Capability::SendVideo,
    Capability::Screenshare,
];

/// `POST {c}/request_permission` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPermissionRequest {
    /// `send-audio`, `send-video`, `screenshare`.
    pub permissions: Vec<String>,
}

/// `POST {c}/user_permissions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPermissionsRequest {
    /// Whose.
    pub user_id: String,
    /// Capabilities to give (over the user's roles).
    #[serde(default)]
    pub grant_permissions: Vec<String>,
    /// Capabilities to take away.
    #[serde(default)]
    pub revoke_permissions: Vec<String>,
}

/// Ask the call's hosts for capabilities (a user token; needs `join-call`).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/request_permission", tag = "members",
    security(("token" = [])), params(("type" = String, Path), ("id" = String, Path)),
    request_body = RequestPermissionRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<RequestPermissionRequest>,
) -> ApiResult<axum::Json<Done>> {
    let Some(user) = caller.user() else {
        return Err(ApiError::forbidden(
            "user_token_required",
            "a user asks for permissions",
        ));
    };
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::JoinCall)?;
    let asked = capabilities(&req.permissions)?;
    if asked.is_empty() || asked.iter().any(|c| !REQUESTABLE.contains(c)) {
        let message = "ask for one or more of send-audio, send-video, screenshare";
        return Err(ApiError::invalid("invalid_permissions", message));
    }
    let kind = EventKind::PermissionRequested {
        user_id: user.sub.clone(),
        permissions: asked.iter().map(|c| c.as_str().to_owned()).collect(),
    };
    events::record(&state, &cid, Announce::bus([kind])).await?;
    Ok(axum::Json(Done { ok: true }))
}

/// Grant or revoke capabilities of one user in this call (needs
/// `update-call-permissions`; a user grants only what they hold).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/user_permissions", tag = "members",
    security(("token" = [])), params(("type" = String, Path), ("id" = String, Path)),
    request_body = UserPermissionsRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<UserPermissionsRequest>,
) -> ApiResult<axum::Json<Done>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCallPermissions)?;
    ids::validate_user_id(&req.user_id)?;
    let grant = capabilities(&req.grant_permissions)?;
    let revoke = capabilities(&req.revoke_permissions)?;
    for cap in grant.iter().chain(&revoke) {
        ctx.require(*cap)?;
    }
    let cid_s = cid.to_string();
    let old = state.store.user_permissions(&cid_s, &req.user_id).await?;
    let mut granted: BTreeSet<Capability> = old.granted.into_iter().collect();
    let mut revoked: BTreeSet<Capability> = old.revoked.into_iter().collect();
    granted.extend(&grant);
    revoked.retain(|c| !grant.contains(c));
    revoked.extend(&revoke);
    granted.retain(|c| !revoke.contains(c));
    let permissions = UserPermissions {
        granted: granted.into_iter().collect(),
        revoked: revoked.into_iter().collect(),
    };
    let names = |caps: &[Capability]| caps.iter().map(|c| c.as_str()).collect::<Vec<_>>();
    let fields = json!({"user_id": req.user_id, "granted": names(&permissions.granted),
        "revoked": names(&permissions.revoked)});
    let updated = NewEvent::new(&cid_s, "call.permissions_updated", fields);
    let write = Write::SetUserPermissions {
        cid: cid_s.clone(),
        user_id: req.user_id.clone(),
        permissions,
        at: Utc::now(),
    };
    events::commit(&state, &cid, vec![write], Announce::default().and(updated)).await?;
    tracing::info!(call_cid = %cid, user = %req.user_id, ?grant, ?revoke, "user permissions changed");
    crate::permissions::announce(&state, &ctx, &req.user_id).await?;
    Ok(axum::Json(Done { ok: true }))
}

/// Capability names, parsed (422 for an unknown one), without repeats.
fn capabilities(names: &[String]) -> ApiResult<Vec<Capability>> {
    if names.len() > Capability::ALL.len() {
        return Err(ApiError::invalid(
            "too_many_permissions",
            "too many permissions",
        ));
    }
    let mut out: Vec<Capability> = Vec::new();
    for name in names {
        let cap: Capability =
            name.parse()
                .map_err(|e: onair_auth::capability::UnknownCapability| {
                    ApiError::invalid("invalid_permissions", e.to_string())
                })?;
        if !out.contains(&cap) {
            out.push(cap);
        }
    }
    Ok(out)
}
