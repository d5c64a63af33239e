//! Carries out the call lifecycle of [`crate::domain::lifecycle`]: writes
//! what a transition decided (the call, then its open session) and
//! announces it on the bus. Used by the lifecycle routes, by joins (which
//! open sessions) and by [`crate::presence`] (which ends overdue calls).

use chrono::Utc;
use onair_bus::EventKind;
use uuid::Uuid;

use crate::context::CallContext;
use crate::domain::lifecycle::{self, Transition};
use crate::domain::settings::RecordingMode;
use crate::domain::{Call, EgressKind, Session};
use crate::error::ApiResult;
use crate::events::{self, Announce};
use crate::state::AppState;
use crate::store::Write;

/// Writes `transition` (the call, then the mark on its open session, if
/// any) and announces it; returns the call as it is now.
pub async fn commit(state: &AppState, transition: Transition) -> ApiResult<Call> {
    let Transition {
        call,
        session,
        event,
    } = transition;
    let mut writes = vec![Write::UpdateCall(call.clone())];
    let mut kinds = vec![event];
    if let Some(mut open) = current_open_session(state, &call).await? {
        kinds.extend(session.apply(&mut open));
        writes.push(Write::UpdateSession(open));
    }
    events::commit(state, &call.cid, writes, Announce::bus(kinds)).await?;
    Ok(call)
}

/// Ends `call` and its open session, and tells everyone on the bus
/// (`reason` when it ended by itself); 409 if it ended already.
pub async fn end_call(state: &AppState, call: &Call, reason: Option<&str>) -> ApiResult<Call> {
    let call = commit(state, lifecycle::end(call, Utc::now(), reason)?).await?;
    tracing::info!(call_cid = %call.cid, ?reason, "call ended");
    crate::ringing::cancel(state, &call.cid.to_string()).await?;
    Ok(call)
}

/// The call's current session if it has not ended.
pub async fn current_open_session(state: &AppState, call: &Call) -> ApiResult<Option<Session>> {
    let Some(id) = &call.current_session_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_session(id)
        .await?
        .filter(|s| s.ended_at.is_none()))
}

/// Opens a session on the first join of a live period (no current session,
/// or the current one ended). Concurrent joins race on a compare-and-swap;
/// the loser reloads and uses the winner's session.
pub async fn ensure_session(state: &AppState, ctx: &mut CallContext) -> ApiResult<()> {
    if current_open_session(state, &ctx.call).await?.is_some() {
        return Ok(());
    }
    let id = Uuid::new_v4().to_string();
    let session = lifecycle::open_session(&ctx.call, &ctx.settings, id, Utc::now());
    let previous = ctx.call.current_session_id.clone();
    let kind = EventKind::SessionStarted {
        session_id: session.id.clone(),
    };
    let open = Write::OpenSession {
        session: session.clone(),
        previous,
    };
    if events::commit(state, &ctx.call.cid, vec![open], Announce::bus([kind])).await? {
        tracing::info!(call_cid = %ctx.call.cid, session = %session.id, "session started");
        ctx.call.current_session_id = Some(session.id);
        let auto = ctx.settings.recording.mode == RecordingMode::AutoOn;
        if auto && !lifecycle::in_backstage(&ctx.call, &ctx.settings) {
            crate::egress::start_by_itself(state, ctx, EgressKind::Recording).await?;
        }
    } else if let Some(call) = state.store.get_call(&ctx.call.cid.to_string()).await? {
        ctx.call.current_session_id = call.current_session_id;
    }
    Ok(())
}
