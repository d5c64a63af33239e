//! Phones hear of rings through pushes, made from the event log: a
//! `call.ring` rings the callees' phones, a `call.accepted` or
//! `call.rejected` stops the phones it names (`stop_ringing`), a
//! `call.missed` leaves an alert. The sender keeps its place in the log in
//! the store, so a restart neither loses nor repeats a batch; a ring older
//! than [`STALE`] is not pushed any more (the phone would ring for a call
//! long over). A token the provider disowns is forgotten.

use std::sync::Arc;
use std::time::Duration;

use onair_push::{Device, Outcome, Provider, PushMessage, Pusher};

use crate::domain::event::StoredEvent;
use crate::state::AppState;
use crate::store::{EventFilter, StoreResult};

/// Pushes about an event older than this are not sent.
const STALE: chrono::Duration = chrono::Duration::seconds(60);
/// Events read at once.
const BATCH: i64 = 200;
/// How often the sender looks when nobody woke it.
const POLL: Duration = Duration::from_secs(1);

/// Sends pushes for new events until the process ends (nothing when no
/// provider is configured).
pub fn spawn(state: AppState, pusher: Arc<Pusher>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut live = state.events.subscribe();
        let mut cursor = loop {
            match start_cursor(&state).await {
                Ok(c) => break c,
                Err(e) => tracing::warn!(error = %e, "reading the push cursor failed"),
            }
            tokio::time::sleep(POLL).await;
        };
        loop {
            match send_new(&state, &pusher, cursor).await {
                Ok(c) => cursor = c,
                Err(e) => tracing::warn!(error = %e, "sending pushes failed"),
            }
            tokio::select! {
                _ = live.recv() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

/// Where the sender left off; on a first start, the end of the log (old
/// rings are not pushed).
async fn start_cursor(state: &AppState) -> StoreResult<i64> {
    match state.store.push_cursor().await? {
        0 => state.store.last_event_id().await,
        c => Ok(c),
    }
}

/// Pushes for the events after `cursor`; the new cursor.
async fn send_new(state: &AppState, pusher: &Pusher, mut cursor: i64) -> StoreResult<i64> {
    loop {
        let batch = state
            .store
            .events_after(cursor, &EventFilter::All, BATCH)
            .await?;
        let Some(last) = batch.last().map(|e| e.id) else {
            return Ok(cursor);
        };
        for event in &batch {
            for (user, msg) in pushes_for(state, event).await? {
                push_to_user(state, pusher, event, &user, &msg).await?;
            }
        }
        cursor = last;
        state.store.set_push_cursor(cursor).await?;
        if (batch.len() as i64) < BATCH {
            return Ok(cursor);
        }
    }
}

/// Who gets which push for `event`.
async fn pushes_for(
    state: &AppState,
    event: &StoredEvent,
) -> StoreResult<Vec<(String, PushMessage)>> {
    if chrono::Utc::now() - event.created_at > STALE {
        return Ok(Vec::new());
    }
    let p = &event.payload;
    let users = |key: &str| -> Vec<String> {
        p[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cid = event.call_cid.clone();
    let caller_id = p["user_id"].as_str().unwrap_or_default().to_owned();
    let video = p["video"].as_bool().unwrap_or(true);
    let out = match event.event_type.as_str() {
        "call.ring" => {
            let caller_name = name_of(state, &caller_id).await?;
            let msg = PushMessage::Ring {
                call_cid: cid,
                caller_id,
                caller_name,
                video,
            };
            users("ringing")
                .into_iter()
                .map(|u| (u, msg.clone()))
                .collect()
        }
        "call.accepted" | "call.rejected" => {
            let reason = p["reason"].as_str().unwrap_or("accepted").to_owned();
            let msg = PushMessage::Ended {
                call_cid: cid,
                reason,
            };
            users("stop_ringing")
                .into_iter()
                .map(|u| (u, msg.clone()))
                .collect()
        }
        "call.missed" => {
            let caller_name = name_of(state, &caller_id).await?;
            let msg = PushMessage::Missed {
                call_cid: cid,
                caller_id,
                caller_name,
                video,
            };
            users("members")
                .into_iter()
                .map(|u| (u, msg.clone()))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(out)
}

async fn name_of(state: &AppState, user_id: &str) -> StoreResult<Option<String>> {
    let users = state.store.get_users(&[user_id.to_owned()]).await?;
    Ok(users.into_iter().next().and_then(|u| u.name))
}

/// Sends `msg` to every device of `user`, once across nodes; forgets the
/// devices the provider disowns.
async fn push_to_user(
    state: &AppState,
    pusher: &Pusher,
    event: &StoredEvent,
    user: &str,
    msg: &PushMessage,
) -> StoreResult<()> {
    for d in state.store.devices(user).await? {
        let provider = match d.push_provider.as_str() {
            "apn" => Provider::Apn,
            _ => Provider::Firebase,
        };
        // A missed call is an alert: VoIP tokens only ring.
        let alert_to_voip = d.voip && matches!(msg, PushMessage::Missed { .. });
        if !pusher.is_configured(provider) || alert_to_voip {
            continue;
        }
        // Another node following the same log pushes it at most once.
        let key = format!("push:{}:{}", event.id, d.id);
        if !state
            .bus
            .claim(&key, Duration::from_secs(600))
            .await
            .unwrap_or(true)
        {
            continue;
        }
        let device = Device {
            id: d.id.clone(),
            provider,
            voip: d.voip,
        };
        if pusher.send(&device, msg).await == Outcome::Unregistered {
            state.store.forget_device(&d.id).await?;
        }
    }
    Ok(())
}
