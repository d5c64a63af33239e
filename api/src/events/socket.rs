//! An app's events socket (`/v1/connect`): after the token, the app hears
//! every event of the calls it is a member of or watches, in order; a
//! reconnect with `after` replays what it missed before anything new, so
//! a dropped connection loses nothing. Health checks both ways keep dead
//! connections from piling up.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use onair_auth::Capability;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::domain::event::StoredEvent;
use crate::domain::CallCid;
use crate::extract::Caller;
use crate::state::AppState;
use crate::store::EventFilter;

/// How long a client has to send its token.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server says it is alive.
const HEALTH_EVERY: Duration = Duration::from_secs(25);
/// A client silent this long is gone.
const SILENCE: Duration = Duration::from_secs(60);
/// A send that takes longer than this: the client does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a client may send per [`SILENCE`] window before it is dropped.
const MAX_CLIENT_MESSAGES: u32 = 600;
/// Events read from the store at once when catching up.
const REPLAY_BATCH: i64 = 500;
/// Calls whose membership a connection remembers before forgetting all.
const MEMBERSHIP_CACHE: usize = 1024;

/// Where a reconnecting client was: the last event it heard, and the calls
/// it watched.
#[derive(Debug, Default)]
pub struct Resume {
    /// Replay the events after this id.
    pub after: Option<i64>,
    /// Watch these calls from the start (those the user may read).
    pub watch: Vec<CallCid>,
}

/// One connection's session, after the upgrade. `caller` is known when
/// the token came in a header; else the first message must carry it.
pub async fn serve(state: AppState, mut ws: WebSocket, caller: Option<Caller>, resume: Resume) {
    let caller = match caller {
        Some(c) => c,
        None => match first_message_token(&state, &mut ws).await {
            Some(c) => c,
            None => return,
        },
    };
    let Some(slot) = state.events.connect(caller.user().map(|u| u.sub.as_str())) else {
        let error = json!({"code": "too_many_connections", "message": "too many open connections for this user"});
        let _ = send(
            &mut ws,
            &json!({"type": "connection.error", "error": error}),
        )
        .await;
        return;
    };
    let user = caller.user().map(|u| u.sub.clone());
    tracing::info!(connection = %slot.id, user = ?user, "events socket connected");
    let mut watching = Vec::new();
    for cid in resume.watch {
        if may_watch(&state, &caller, &cid).await
            && state.events.watches.watch(&slot.id, &cid.to_string())
        {
            watching.push(cid.to_string());
        }
    }
    let mut conn = Connection {
        state,
        user,
        slot,
        members: HashMap::new(),
        watching,
    };
    conn.run(ws, resume.after).await;
    tracing::info!(connection = %conn.slot.id, "events socket closed");
}

/// Whether `caller` may read call `cid` (and so watch it).
async fn may_watch(state: &AppState, caller: &Caller, cid: &CallCid) -> bool {
    let ctx = crate::context::load(state, caller, cid).await;
    ctx.is_ok_and(|ctx| ctx.require(Capability::ReadCall).is_ok())
}

/// Waits for `{"token": "…"}`; tells the client and returns `None` when it
/// does not come or does not verify.
async fn first_message_token(state: &AppState, ws: &mut WebSocket) -> Option<Caller> {
    let refused = |code: &str, message: &str| json!({"type": "connection.error", "error": {"code": code, "message": message}});
    let msg = match tokio::time::timeout(AUTH_TIMEOUT, ws.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        _ => {
            let _ = send(ws, &refused("auth_timeout", "send {\"token\": …} first")).await;
            return None;
        }
    };
    let token = serde_json::from_str::<serde_json::Value>(&msg)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_owned));
    let Some(token) = token else {
        let _ = send(
            ws,
            &refused("auth_required", "the first message is {\"token\": …}"),
        )
        .await;
        return None;
    };
    match crate::extract::verify(state, &token) {
        Ok(caller) => Some(caller),
        Err(e) => {
            let _ = send(ws, &refused(&e.body.code, &e.body.message)).await;
            None
        }
    }
}

struct Connection {
    state: AppState,
    /// None for a server token: it hears everything.
    user: Option<String>,
    slot: crate::hub::Slot,
    /// Whether the user is a member of a call, as last read or heard.
    members: HashMap<String, bool>,
    /// The calls watched since the connection opened (`watch=`).
    watching: Vec<String>,
}

impl Connection {
    async fn run(&mut self, mut ws: WebSocket, after: Option<i64>) {
        // Listen before catching up, so nothing falls between the two.
        let mut live = self.state.events.subscribe();
        let mut cursor = match after {
            Some(after) => after,
            None => self.state.store.last_event_id().await.unwrap_or(0),
        };
        let ok = json!({"type": "connection.ok", "connection_id": self.slot.id,
            "user_id": self.user, "last_event_id": cursor.to_string(),
            "watching": self.watching});
        if !send(&mut ws, &ok).await {
            return;
        }
        let Some(replayed) = self.replay(&mut ws, cursor).await else {
            return;
        };
        cursor = replayed;
        let mut heard = Instant::now();
        let mut messages = 0u32;
        let mut health = tokio::time::interval_at(Instant::now() + HEALTH_EVERY, HEALTH_EVERY);
        loop {
            tokio::select! {
                event = live.recv() => match event {
                    Ok(event) if event.id <= cursor => {}
                    Ok(event) => {
                        cursor = event.id;
                        if self.visible(&event).await && !send(&mut ws, &event.to_json()).await {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let Some(replayed) = self.replay(&mut ws, cursor).await else { return };
                        cursor = replayed;
                    }
                    Err(RecvError::Closed) => return,
                },
                msg = ws.recv() => match msg {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {
                        heard = Instant::now();
                        messages += 1;
                        if messages > MAX_CLIENT_MESSAGES {
                            tracing::info!(connection = %self.slot.id, "events socket flooded by its client: closed");
                            return;
                        }
                    }
                },
                _ = health.tick() => {
                    messages = 0;
                    let check = json!({"type": "health.check", "connection_id": self.slot.id});
                    if !send(&mut ws, &check).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(heard + SILENCE) => {
                    tracing::info!(connection = %self.slot.id, "events socket silent for {SILENCE:?}: closed");
                    return;
                }
            }
        }
    }

    /// Sends every stored event after `cursor` the client may see; the
    /// new cursor, or `None` when the client is gone.
    async fn replay(&mut self, ws: &mut WebSocket, mut cursor: i64) -> Option<i64> {
        let filter = match &self.user {
            Some(user) => EventFilter::MemberOf(user.clone(), self.watching.clone()),
            None => EventFilter::All,
        };
        loop {
            let batch = match self
                .state
                .store
                .events_after(cursor, &filter, REPLAY_BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "replaying events failed");
                    return Some(cursor);
                }
            };
            let full = batch.len() as i64 == REPLAY_BATCH;
            for event in batch {
                cursor = event.id;
                if !send(ws, &event.to_json()).await {
                    return None;
                }
            }
            if !full {
                return Some(cursor);
            }
        }
    }

    /// Whether this connection's user may hear `event`.
    async fn visible(&mut self, event: &StoredEvent) -> bool {
        let Some(user) = self.user.clone() else {
            return true;
        };
        if self.slot.watches(&event.call_cid) {
            return true;
        }
        // Membership changes of this user update what it hears at once.
        if event.payload.get("user_id").and_then(|u| u.as_str()) == Some(user.as_str()) {
            match event.event_type.as_str() {
                "call.member_added" | "call.member_updated" => {
                    self.members.insert(event.call_cid.clone(), true);
                }
                "call.member_removed" => {
                    self.members.insert(event.call_cid.clone(), false);
                    return true;
                }
                _ => {}
            }
        }
        if let Some(known) = self.members.get(&event.call_cid) {
            return *known;
        }
        let member = match self.state.store.get_member(&event.call_cid, &user).await {
            Ok(m) => m.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "reading a membership failed");
                false
            }
        };
        if self.members.len() >= MEMBERSHIP_CACHE {
            self.members.clear();
        }
        self.members.insert(event.call_cid.clone(), member);
        member
    }
}

/// Sends `value` as a text frame; `false` when the client is gone or
/// does not read.
async fn send(ws: &mut WebSocket, value: &serde_json::Value) -> bool {
    let text = value.to_string();
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}
