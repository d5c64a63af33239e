//! Carries out the call lifecycle of [`crate::domain::lifecycle`]: writes
//! the call and its open session, and announces the change on the bus.
//! Used by the lifecycle routes, by joins (which open sessions) and by
//! [`crate::presence`] (which ends overdue calls).

use chrono::Utc;
use onair_bus::EventKind;
use uuid::Uuid;

use crate::context::{self, CallContext};
use crate::domain::settings::RecordingMode;
use crate::domain::{Call, EgressKind, Session};
use crate::error::ApiResult;
use crate::state::AppState;

/// Ends `call` and its open session, and tells everyone on the bus
/// (`reason` when it ended by itself).
pub async fn end_call(state: &AppState, call: &mut Call, reason: Option<&str>) -> ApiResult<()> {
    let now = Utc::now();
    call.ended_at = Some(now);
    call.updated_at = now;
    state.store.update_call(call).await?;
    let ended_session = current_open_session(state, call).await?;
    if let Some(mut session) = ended_session.clone() {
        session.ended_at = Some(now);
        state.store.update_session(&session).await?;
    }
    let cid = &call.cid;
    tracing::info!(call_cid = %cid, ?reason, "call ended");
    let reason = reason.map(str::to_owned);
    context::publish(state, cid, EventKind::CallEnded { reason }).await;
    if let Some(session) = ended_session {
        let kind = EventKind::SessionEnded {
            session_id: session.id,
        };
        context::publish(state, cid, kind).await;
    }
    Ok(())
}

/// The call's current session if it has not ended.
pub async fn current_open_session(
    state: &AppState,
    call: &Call,
) -> ApiResult<Option<crate::domain::Session>> {
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
    let now = Utc::now();
    let in_backstage = ctx.settings.backstage.enabled && ctx.call.backstage;
    let session = Session {
        id: Uuid::new_v4().to_string(),
        call_cid: ctx.call.cid.to_string(),
        started_at: now,
        ended_at: None,
        live_started_at: (!in_backstage).then_some(now),
        live_ended_at: None,
    };
    let previous = ctx.call.current_session_id.clone();
    if state
        .store
        .open_session(&session, previous.as_deref())
        .await?
    {
        tracing::info!(call_cid = %ctx.call.cid, session = %session.id, "session started");
        context::publish(
            state,
            &ctx.call.cid,
            EventKind::SessionStarted {
                session_id: session.id.clone(),
            },
        )
        .await;
        ctx.call.current_session_id = Some(session.id);
        if ctx.settings.recording.mode == RecordingMode::AutoOn && !in_backstage {
            crate::egress::start_by_itself(state, ctx, EgressKind::Recording).await?;
        }
    } else if let Some(call) = state.store.get_call(&ctx.call.cid.to_string()).await? {
        ctx.call.current_session_id = call.current_session_id;
    }
    Ok(())
}
