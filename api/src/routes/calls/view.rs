//! The call as answered to clients: its view (with session, member count,
//! running egress and ingress addresses) and the roster the caller may see.

use crate::context::CallContext;
use crate::domain::EgressKind;
use crate::error::ApiResult;
use crate::extract::Caller;
use crate::routes::hls::hls_view;
use crate::routes::members::member_views;
use crate::state::AppState;
use crate::views::{
    CallView, EgressStatus, EgressSummary, IngressView, MemberView, RtmpView, SessionView,
};

/// The call as answered to clients.
pub async fn call_view(state: &AppState, ctx: &CallContext) -> ApiResult<CallView> {
    let cid = ctx.call.cid.to_string();
    let session = match &ctx.call.current_session_id {
        Some(id) => state.store.get_session(id).await?,
        None => None,
    };
    let mut session = session.map(SessionView::from);
    if let Some(s) = session.as_mut() {
        if s.ended_at.is_none() {
            let (count, by_role) = crate::events::participants::counts(state, &cid).await?;
            s.participants_count = count;
            s.participants_count_by_role = by_role;
        }
        if let Some(ring) = state.store.latest_ring(&cid).await? {
            s.add_ring(&ring);
        }
    }
    let count = state.store.count_members(&cid).await?;
    let recording = crate::egress::running(state, &cid, EgressKind::Recording, None)
        .await?
        .map(|e| EgressStatus {
            id: e.id,
            state: e.state,
        });
    let hls = match crate::egress::running(state, &cid, EgressKind::Hls, None).await? {
        Some(e) => Some(hls_view(state, e).await),
        None => None,
    };
    let rtmps = crate::egress::running_all(state, &cid, EgressKind::Rtmp)
        .await?
        .into_iter()
        .map(RtmpView::from)
        .collect();
    Ok(CallView::new(
        ctx.call.clone(),
        ctx.settings.clone(),
        session,
        count,
        EgressSummary {
            recording,
            hls,
            rtmps,
        },
        IngressView::new(
            state.config.rtmp_url.as_deref(),
            state.config.whip_url.as_deref(),
            &cid,
        ),
    ))
}

/// The members the caller may see: all of them, or none on a private call
/// they are not a member of.
pub async fn roster(
    state: &AppState,
    ctx: &CallContext,
    caller: &Caller,
) -> ApiResult<Vec<MemberView>> {
    if !ctx.sees_roster(caller) {
        return Ok(Vec::new());
    }
    member_views(state, &ctx.call.cid).await
}
