//! Carries out rings ([`crate::domain::ring`]): starts them, applies
//! answers, and fires their timers. Each step stores the ring and its
//! events in one commit, conditional on the ring being as it was read, so
//! two requests (or two nodes firing a timer) never both apply; the loser
//! reads again. The timers are times in the store: a restarted server
//! fires what fell due while it was down.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use crate::context::CallContext;
use crate::domain::event::NewEvent;
use crate::domain::ring::{Ring, RingError, RingState, Told};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{StoreResult, Write};

/// How often the timer loop looks for due rings when nobody woke it.
const TICK: Duration = Duration::from_millis(250);
/// Most callees one ring reaches.
pub const MAX_CALLEES: usize = 100;

/// An answer to a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// The callee accepts.
    Accept,
    /// The callee rejects, or the caller cancels, for this reason.
    Reject(&'a str),
}

/// Rings `callees` of the call of `ctx` from `caller_id`; 409 while a ring
/// of the call is still unanswered.
pub async fn start(
    state: &AppState,
    ctx: &CallContext,
    caller_id: &str,
    callees: &[String],
    video: bool,
) -> ApiResult<Ring> {
    let cid = ctx.call.cid.to_string();
    if let Some(last) = state.store.latest_ring(&cid).await? {
        if last.state == RingState::Ringing {
            let message = "the call is ringing; cancel that ring first";
            return Err(ApiError::conflict("already_ringing", message));
        }
    }
    let mut with_busy = Vec::with_capacity(callees.len());
    for user in callees {
        with_busy.push((user.clone(), state.store.busy_elsewhere(user, &cid).await?));
    }
    let id = format!("RG_{}", uuid::Uuid::new_v4().simple());
    let settings = &ctx.settings.ring;
    let (ring, told) = Ring::start(id, &cid, caller_id, video, &with_busy, settings, Utc::now());
    let events = new_events(&cid, told);
    if !crate::events::store(state, vec![Write::InsertRing(ring.clone())], events).await? {
        return Err(ApiError::not_found(&format!("call `{cid}`")));
    }
    tracing::info!(call_cid = %cid, ring = %ring.id, callees = callees.len(), "ringing");
    // Wake the timer loop: short timeouts fire on time.
    state.ring_timers.notify_one();
    Ok(ring)
}

/// `user_id` answers the call's latest ring: 404 when it never rang,
/// 409 when the ring is over or does not ring this user.
pub async fn answer(
    state: &AppState,
    ctx: &CallContext,
    user_id: &str,
    answer: Answer<'_>,
) -> ApiResult<Ring> {
    let cid = ctx.call.cid.to_string();
    for _ in 0..5 {
        let Some(mut ring) = state.store.latest_ring(&cid).await? else {
            return Err(ApiError::not_found("ring of this call"));
        };
        let now = Utc::now();
        let told = match answer {
            Answer::Accept => ring.accept(user_id, now),
            Answer::Reject(reason) => ring.reject(user_id, reason, now),
        }
        .map_err(|e| match e {
            RingError::Ended => ApiError::conflict("ring_ended", e.to_string()),
            RingError::NotRung => ApiError::conflict("not_rung", e.to_string()),
        })?;
        if save(state, &ring, told).await? {
            tracing::info!(call_cid = %cid, ring = %ring.id, user = %user_id, ?answer, "ring answered");
            return Ok(ring);
        }
    }
    Err(ApiError::conflict(
        "ring_busy",
        "the ring changed repeatedly; try again",
    ))
}

/// Ends the call's ring, if it still rings (the call ended): phones stop.
pub async fn cancel(state: &AppState, cid: &str) -> StoreResult<()> {
    for _ in 0..5 {
        let Some(mut ring) = state.store.latest_ring(cid).await? else {
            return Ok(());
        };
        let caller = ring.caller_id.clone();
        let Ok(told) = ring.reject(&caller, "cancel", Utc::now()) else {
            return Ok(()); // over already
        };
        if save(state, &ring, told).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Stores `ring` (read at its version) with the events `told`; `false`
/// when it changed meanwhile.
async fn save(state: &AppState, ring: &Ring, told: Vec<Told>) -> StoreResult<bool> {
    let events = new_events(&ring.call_cid, told);
    crate::events::store(state, vec![Write::SaveRing(ring.clone())], events).await
}

fn new_events(cid: &str, told: Vec<Told>) -> Vec<NewEvent> {
    told.into_iter()
        .map(|(event_type, fields)| NewEvent::new(cid, event_type, fields))
        .collect()
}

/// Fires ring timers as they fall due, until the process ends.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let timers: Arc<Notify> = state.ring_timers.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = fire_due(&state).await {
                tracing::warn!(error = %e, "firing ring timers failed");
            }
            tokio::select! {
                _ = timers.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    })
}

/// Applies every timer due now.
async fn fire_due(state: &AppState) -> StoreResult<()> {
    let now = Utc::now();
    for id in state.store.due_rings(now).await? {
        let Some(mut ring) = state.store.get_ring(&id).await? else {
            continue;
        };
        let before = ring.clone();
        let told = ring.tick(now);
        // Another node may have fired it first: then this save does nothing.
        if ring != before {
            save(state, &ring, told).await?;
        }
    }
    Ok(())
}
