//! The live tail of the event log: one reader per node follows the stored
//! events in id order and hands each to every socket and webhook sender
//! here. Commits only say "there is more" ([`Hub::stored`]); the reader
//! reads the store, so the order everyone sees is the store's, whichever
//! node or request committed first. Other nodes' commits arrive through
//! the bus (any bus event wakes the reader) or, at worst, the next poll.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::socket::Watches;
use crate::domain::event::StoredEvent;
use crate::state::AppState;
use crate::store::EventFilter;

/// How often the reader looks for events nobody told it of.
const POLL: Duration = Duration::from_secs(1);
/// Events read from the store at once.
const BATCH: i64 = 500;
/// Events a slow listener may fall behind before it reads the store again.
const BACKLOG: usize = 4096;

/// Calls one connection may watch.
pub const MAX_WATCHED: usize = 1000;
/// Sockets one user may hold open on one node.
pub const MAX_CONNECTIONS_PER_USER: usize = 20;

/// Tells listeners of new events as they are stored, and keeps this
/// node's open sockets (what each watches, how many each user holds).
pub struct Hub {
    latest: watch::Sender<i64>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    /// What each open connection watches.
    pub watches: Arc<Watches>,
    /// How often users send custom events and reactions.
    pub send_rate: super::rate::SendRate,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            latest: watch::channel(0).0,
            events: broadcast::channel(BACKLOG).0,
            watches: Arc::default(),
            send_rate: Default::default(),
            per_user: Arc::default(),
        }
    }
}

/// An open socket's place in the hub; dropping it closes it there.
pub struct Slot {
    /// The connection's id (`connection_id`).
    pub id: String,
    user: Option<String>,
    watched: Arc<Mutex<HashSet<String>>>,
    watches: Arc<Watches>,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

impl Slot {
    /// Whether the connection watches call `cid`.
    pub fn watches(&self, cid: &str) -> bool {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        watched.contains(cid)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.watches.close(&self.id);
        if let Some(user) = &self.user {
            let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_user.get_mut(user) {
                *n -= 1;
                if *n == 0 {
                    per_user.remove(user);
                }
            }
        }
    }
}

impl Hub {
    /// Notes that `events` were just stored here.
    pub fn stored(&self, events: &[StoredEvent]) {
        if let Some(max) = events.iter().map(|e| e.id).max() {
            self.latest.send_if_modified(|latest| {
                let newer = max > *latest;
                *latest = (*latest).max(max);
                newer
            });
        }
    }

    /// Opens a socket for `user` (None: a server); `None` when the user
    /// holds too many already.
    pub fn connect(&self, user: Option<&str>) -> Option<Slot> {
        if let Some(user) = user {
            let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            let n = per_user.entry(user.to_owned()).or_insert(0);
            if *n >= MAX_CONNECTIONS_PER_USER {
                return None;
            }
            *n += 1;
        }
        let id = uuid::Uuid::new_v4().to_string();
        Some(Slot {
            watched: self.watches.open(&id),
            id,
            user: user.map(str::to_owned),
            watches: self.watches.clone(),
            per_user: self.per_user.clone(),
        })
    }

    /// Every event stored from now on, in order. A listener that falls more
    /// than a few thousand behind gets `Lagged` and reads the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }
}

/// Runs this node's reader until the bus closes.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut bus = state.bus.subscribe();
    let mut latest = state.events.latest.subscribe();
    tokio::spawn(async move {
        let mut cursor = loop {
            match state.store.last_event_id().await {
                Ok(id) => break id,
                Err(e) => tracing::warn!(error = %e, "reading the event log failed; retrying"),
            }
            tokio::time::sleep(POLL).await;
        };
        loop {
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { return },
                event = bus.recv() => if event.is_none() { return },
                _ = tokio::time::sleep(POLL) => {}
            }
            cursor = forward(&state, cursor).await;
        }
    })
}

/// Hands every event after `cursor` to the listeners; the new cursor.
async fn forward(state: &AppState, mut cursor: i64) -> i64 {
    loop {
        let batch = match state
            .store
            .events_after(cursor, &EventFilter::All, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "reading new events failed");
                return cursor;
            }
        };
        let full = batch.len() as i64 == BATCH;
        for event in batch {
            cursor = event.id;
            // No listener is not an error.
            let _ = state.events.events.send(Arc::new(event));
        }
        if !full {
            return cursor;
        }
    }
}
