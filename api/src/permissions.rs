//! What a connected participant may do in the call's media, worked out
//! again when its role changes and sent to the SFU (which tells the
//! client, as LiveKit's `ParticipantPermission`): a viewer invited on
//! stage publishes without rejoining; a revoked permission unpublishes.

use chrono::Utc;
use onair_auth::capability::ROLE_USER;
use onair_auth::VideoGrant;
use onair_bus::EventKind;

use crate::context::{self, CallContext};
use crate::domain::lifecycle;
use crate::error::ApiResult;
use crate::state::AppState;

/// The media grant `user_id` holds in the call of `ctx` now.
pub async fn grant_of(state: &AppState, ctx: &CallContext, user_id: &str) -> ApiResult<VideoGrant> {
    let cid = ctx.call.cid.to_string();
    let global = state.store.get_users(&[user_id.to_owned()]).await?;
    let global_role = global.first().map_or(ROLE_USER, |u| u.role.as_str());
    let member = state.store.get_member(&cid, user_id).await?;
    let of_type = (&ctx.call_type, &ctx.settings);
    let caps = context::user_capabilities(
        state,
        &ctx.call,
        of_type,
        user_id,
        global_role,
        member.as_ref(),
    )
    .await?;
    let may_publish =
        lifecycle::admit(&ctx.call, &ctx.settings, &caps, Utc::now()).is_ok_and(|a| a.may_publish);
    Ok(VideoGrant::for_capabilities(&cid, &caps, may_publish))
}

/// Tells the SFU what `user_id` may do now (its connections, if any, are
/// updated at once).
pub async fn announce(state: &AppState, ctx: &CallContext, user_id: &str) -> ApiResult<()> {
    let grant = grant_of(state, ctx, user_id).await?;
    let kind = EventKind::ParticipantUpdated {
        identity: user_id.to_owned(),
        name: None,
        metadata: None,
        attributes: None,
        grant: Some(grant),
    };
    context::publish(state, &ctx.call.cid, kind).await;
    Ok(())
}
