//! The event bus: how the API, the SFU and egress tell each other about calls.
//!
//! The API publishes call-state changes (go live, back to backstage, end,
//! member role changes…); the SFU and egress subscribe and act at once. The
//! SFU publishes participant joins and leaves; the API records them.
//!
//! [`Bus`] is the interface. [`LocalBus`] is the in-process implementation
//! used by `onair dev` and single-node deployments; [`RedisBus`] (a Redis Stream)
//! plugs in behind the same trait when the roles run as separate processes,
//! which is why events are plain serde types and subscriptions are fed from a
//! local broadcast channel whatever the transport.
//!
//! Messages between nodes are signed ([`BusKey`]): a node drops what
//! anyone else put on Redis.
//!
//! Besides broadcasting, the bus hands out *claims* (the first node whose
//! [`Bus::claim`] succeeds acts on something every node saw) and *jobs*
//! ([`jobs`]: queued work one worker takes on a lease, taken over by
//! another when that worker dies). It also holds the registry of SFU
//! nodes ([`nodes`]) the API places participants with.

mod egress;
mod event;
pub mod jobs;
mod local;
pub mod nodes;
mod redis;
mod seal;

pub use egress::{EgressKind, EgressState};
pub use event::{Event, EventKind};
pub use jobs::Lease;
pub use local::LocalBus;
pub use nodes::{HostedRoom, Publisher, SfuNode};
pub use redis::RedisBus;
pub use seal::{BusKey, SealError};

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

/// A failure to publish an event.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The transport (e.g. Redis) refused or lost the event.
    #[error("bus transport failed: {0}")]
    Transport(String),
}

/// Publishes events to every subscriber, on this node and (for networked
/// implementations) on every other node.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `event` to all current subscribers. Having no subscriber is not an error.
    async fn publish(&self, event: Event) -> Result<(), BusError>;

    /// A new subscription that receives every event published from now on.
    fn subscribe(&self) -> Subscription;

    /// Claims `key` for the caller: true for the first caller on the whole
    /// bus, false for everyone after it until `ttl` has passed (a
    /// [`Bus::settle`] of a value only this caller knows).
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, BusError> {
        let mine = uuid::Uuid::new_v4().to_string();
        Ok(self.settle(key, &mine, ttl).await? == mine)
    }

    /// Queues `job` on `queue` until one worker takes it.
    async fn offer(&self, queue: &str, job: Event) -> Result<(), BusError>;

    /// The next job of `queue` for `worker`, held for `ttl`: one whose
    /// lease lapsed first, else a new one; waits up to `wait` for either.
    async fn take(
        &self,
        queue: &str,
        worker: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<Lease>, BusError>;

    /// Holds `lease` for another `ttl`; false when the worker lost it (it
    /// lapsed and another worker took the job).
    async fn renew(&self, lease: &Lease) -> Result<bool, BusError>;

    /// The job is done (or given up): nobody takes it again. Does nothing
    /// if the worker no longer holds it.
    async fn finish(&self, lease: &Lease) -> Result<(), BusError>;

    /// Puts `node` in the registry (again), replacing its last entry.
    async fn announce(&self, node: &SfuNode) -> Result<(), BusError>;

    /// Takes node `id` out of the registry (it drains or stops).
    async fn withdraw(&self, id: &str) -> Result<(), BusError>;

    /// The live SFU nodes (announced within [`nodes::NODE_TTL`]).
    async fn sfu_nodes(&self) -> Result<Vec<SfuNode>, BusError>;

    /// The value first settled for `key` within `ttl`: `value` if none
    /// was, else the earlier one (two API nodes placing one new room).
    async fn settle(&self, key: &str, value: &str, ttl: Duration) -> Result<String, BusError>;

    /// Checks the transport answers (for `/readyz`); in process it always does.
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// A stream of events. A subscriber that falls far behind skips the oldest
/// events (logged) rather than slowing publishers down.
pub struct Subscription {
    rx: broadcast::Receiver<Event>,
}

impl Subscription {
    /// Wraps a broadcast receiver; transports feed their events into one.
    pub fn new(rx: broadcast::Receiver<Event>) -> Self {
        Self { rx }
    }

    /// The next event, or `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "bus subscriber lagged; events skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
