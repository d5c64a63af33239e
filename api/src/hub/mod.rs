//! This node's listeners to the event log: commits say "there is more"
//! ([`Hub::stored`]); the node's reader (`events::reader`) reads the store
//! in id order and hands each event to every listener here (sockets, the
//! push sender); the hub also keeps what each open socket watches, how
//! many each user holds, and how often users send events. Below the
//! state, so it depends on nothing that holds the state.

mod rate;
mod watches;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use crate::domain::event::StoredEvent;
pub use rate::SendRate;
pub use watches::Watches;

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
    pub send_rate: SendRate,
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

    /// Wakes when a commit here stored events (their largest id).
    pub fn stored_watch(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    /// Hands `event` to every listener (the reader does, in id order).
    pub fn publish(&self, event: Arc<StoredEvent>) {
        // No listener is not an error.
        let _ = self.events.send(event);
    }

    /// Every event stored from now on, in order. A listener that falls more
    /// than a few thousand behind gets `Lagged` and reads the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }
}
