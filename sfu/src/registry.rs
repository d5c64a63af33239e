//! This node in the registry of SFU nodes (`onair_bus::nodes`): every
//! second it announces where clients reach it, its region, how many
//! participants it carries (and may carry) and which rooms it hosts with
//! who publishes in them, so the API sends a room's participants here
//! while there is room, and relays of other nodes know what to carry. A
//! draining node says so (no one new is placed here) and withdraws once
//! its calls have ended; until then relays of the other nodes of its
//! calls go on carrying its participants. A killed node drops out when its
//! entry goes stale.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use onair_bus::nodes::ANNOUNCE_EVERY;
use onair_bus::{Bus, SfuNode};

use crate::signal::Signal;
use crate::Sfu;

/// How this node is known in the registry.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Unique per process.
    pub id: String,
    /// Where clients open `/rtc` (`wss://…`).
    pub url: String,
    /// Its region label, if configured.
    pub region: Option<String>,
    /// The most participants the API should place here (none: no limit).
    pub capacity: Option<u32>,
}

/// The node's registry entry now.
async fn entry(signal: &Signal, identity: &Identity, draining: bool) -> SfuNode {
    let rooms = signal.rooms.hosted().await;
    SfuNode {
        id: identity.id.clone(),
        url: identity.url.clone(),
        region: identity.region.clone(),
        participants: rooms.iter().map(|r| r.participants).sum(),
        capacity: identity.capacity,
        rooms,
        seen_ms: onair_auth::clock::unix_ms(),
        draining,
    }
}

impl Sfu {
    /// Announces this node on `bus` every second until it has drained
    /// (then withdraws it).
    pub fn announce(&self, bus: Arc<dyn Bus>, identity: Identity) {
        let signal = self.signal.clone();
        tokio::spawn(async move {
            tracing::info!(node = %identity.id, url = %identity.url, "SFU node announced");
            let mut every = tokio::time::interval(ANNOUNCE_EVERY);
            loop {
                let draining = signal.draining.load(Ordering::Relaxed);
                let entry = entry(&signal, &identity, draining).await;
                if draining && entry.rooms.is_empty() {
                    break;
                }
                if let Err(e) = bus.announce(&entry).await {
                    tracing::warn!(error = %e, "announcing the SFU node failed");
                }
                every.tick().await;
            }
            if let Err(e) = bus.withdraw(&identity.id).await {
                tracing::warn!(error = %e, "withdrawing the SFU node failed");
            }
            tracing::info!(node = %identity.id, "SFU node withdrawn (drained)");
        });
    }
}
