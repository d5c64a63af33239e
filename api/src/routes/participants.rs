//! `PATCH {c}/participants/{identity}`: the server side of LiveKit's
//! `UpdateParticipant`. A backend (or a member manager) sets the name,
//! metadata, attributes or media permissions of a connected participant;
//! the SFU applies them at once and everyone in the room hears them.

use std::collections::HashMap;

use axum::extract::State;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::Deserialize;
use utoipa::ToSchema;

use super::live::Done;
use crate::context::{self, CallContext};
use crate::domain::ids;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, IdentityPath, Json};
use crate::state::AppState;

/// A participant's name, in bytes (LiveKit's limit).
const MAX_NAME: usize = 256;
/// A participant's metadata, and its attributes together, in bytes (LiveKit's limits).
const MAX_METADATA: usize = 64_000;
/// Sources a participant may be allowed to publish.
const SOURCES: [&str; 4] = ["camera", "microphone", "screen_share", "screen_share_audio"];

/// `PATCH {c}/participants/{identity}` body; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParticipantRequest {
    /// Display name (at most 256 bytes).
    pub name: Option<String>,
    /// Metadata (at most 64 000 bytes).
    pub metadata: Option<String>,
    /// Attributes to set; an empty value removes one (64 000 bytes in all).
    pub attributes: Option<HashMap<String, String>>,
    /// Media permissions to change, over what the participant's role gives.
    pub permission: Option<PermissionRequest>,
}

/// Media permissions, as LiveKit's `ParticipantPermission`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionRequest {
    /// May publish tracks.
    pub can_publish: Option<bool>,
    /// May receive others' tracks.
    pub can_subscribe: Option<bool>,
    /// May send data packets.
    pub can_publish_data: Option<bool>,
    /// May change its own name, metadata and attributes.
    pub can_update_metadata: Option<bool>,
    /// What it may publish: `camera`, `microphone`, `screen_share`,
    /// `screen_share_audio` (empty: all).
    pub can_publish_sources: Option<Vec<String>>,
}

/// Change a connected participant (needs `update-call-member`).
#[utoipa::path(patch, path = "/v1/calls/{type}/{id}/participants/{identity}", tag = "calls",
    security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path),
        ("identity" = String, Path, description = "a user id, or `{user}:ingest`")),
    request_body = UpdateParticipantRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such call, or the participant is not connected"),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    IdentityPath(identity): IdentityPath,
    Json(req): Json<UpdateParticipantRequest>,
) -> ApiResult<axum::Json<Done>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCallMember)?;
    let user = identity.strip_suffix(":ingest").unwrap_or(&identity);
    ids::validate_user_id(user)?;
    check_sizes(&req)?;
    let connected = state.store.connected_participants(&cid.to_string()).await?;
    // A user's ingest (`{user}:ingest`) answers for the user too: it
    // publishes no more than the user may.
    let answers = |p: &str| p == identity || p.strip_suffix(":ingest") == Some(&identity);
    if !connected.iter().any(|p| answers(&p.user_id)) {
        return Err(ApiError::not_found(&format!("participant `{identity}`")));
    }
    let grant = match &req.permission {
        Some(permission) => Some(granted(&state, &ctx, user, permission).await?),
        None => None,
    };
    tracing::info!(call_cid = %cid, %identity, permission = grant.is_some(), "participant updated");
    let kind = EventKind::ParticipantUpdated {
        identity,
        name: req.name,
        metadata: req.metadata,
        attributes: req.attributes,
        grant,
    };
    context::publish(&state, &cid, kind).await;
    Ok(axum::Json(Done { ok: true }))
}

/// Refuses what is over LiveKit's sizes.
fn check_sizes(req: &UpdateParticipantRequest) -> ApiResult<()> {
    let too_large = |what: &str, max: usize| {
        ApiError::invalid("too_large", format!("{what}: at most {max} bytes"))
    };
    if req.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
        return Err(too_large("name", MAX_NAME));
    }
    if req
        .metadata
        .as_ref()
        .is_some_and(|m| m.len() > MAX_METADATA)
    {
        return Err(too_large("metadata", MAX_METADATA));
    }
    let attributes: usize = req
        .attributes
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if attributes > MAX_METADATA {
        return Err(too_large("attributes", MAX_METADATA));
    }
    Ok(())
}

/// The participant's grant from its role, with `permission` on top.
async fn granted(
    state: &AppState,
    ctx: &CallContext,
    user: &str,
    permission: &PermissionRequest,
) -> ApiResult<onair_auth::VideoGrant> {
    let mut grant = crate::permissions::grant_of(state, ctx, user).await?;
    if let Some(sources) = &permission.can_publish_sources {
        if let Some(bad) = sources.iter().find(|s| !SOURCES.contains(&s.as_str())) {
            let message = format!("unknown source `{bad}`; sources are {SOURCES:?}");
            return Err(ApiError::invalid("invalid_source", message));
        }
        grant.can_publish_sources = sources.clone();
    }
    grant.can_publish = permission.can_publish.or(grant.can_publish);
    grant.can_subscribe = permission.can_subscribe.or(grant.can_subscribe);
    grant.can_publish_data = permission.can_publish_data.or(grant.can_publish_data);
    grant.can_update_own_metadata = permission
        .can_update_metadata
        .or(grant.can_update_own_metadata);
    Ok(grant)
}
