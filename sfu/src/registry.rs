//! This node in the registry of SFU nodes (`onair_bus::nodes`): every
//! second it announces where clients reach it (signal and media), its
//! region, its load (participants it carries and may carry, their tracks,
//! packets forwarded per second, the machine's CPU) and which rooms it
//! hosts with who publishes in them, so the API sends a room's
//! participants here while there is room, and relays of other nodes know
//! what to carry. A draining node says so (no one new is placed here) and
//! withdraws once its calls have ended; until then relays of the other
//! nodes of its calls go on carrying its participants. A killed node drops
//! out when its entry goes stale.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use onair_bus::nodes::ANNOUNCE_EVERY;
use onair_bus::{Bus, SfuNode};

use crate::cpu::MachineCpu;
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

/// The load figures measured between two announcements.
struct Load {
    cpu: MachineCpu,
    /// Packets forwarded by the last announcement, and when.
    forwarded: (u64, Instant),
}

impl Load {
    fn new(signal: &Signal) -> Self {
        Load {
            cpu: MachineCpu::new(),
            forwarded: (signal.media.forwarded(), Instant::now()),
        }
    }

    /// Packets forwarded per second since the last call.
    fn forwarded_pps(&mut self, signal: &Signal) -> u64 {
        let now = (signal.media.forwarded(), Instant::now());
        let (then, at) = std::mem::replace(&mut self.forwarded, now);
        let seconds = now.1.duration_since(at).as_secs_f64().max(1e-3);
        (now.0.saturating_sub(then) as f64 / seconds).round() as u64
    }
}

/// The node's registry entry now.
async fn entry(signal: &Signal, identity: &Identity, draining: bool, load: &mut Load) -> SfuNode {
    let rooms = signal.rooms.hosted().await;
    SfuNode {
        id: identity.id.clone(),
        url: identity.url.clone(),
        region: identity.region.clone(),
        media: (signal.media.candidates().iter())
            .map(ToString::to_string)
            .collect(),
        participants: rooms.iter().map(|r| r.participants).sum(),
        tracks: rooms.iter().map(|r| r.tracks).sum(),
        forwarded_pps: load.forwarded_pps(signal),
        cpu: load.cpu.sample(),
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
            let mut load = Load::new(&signal);
            loop {
                let draining = signal.draining.load(Ordering::Relaxed);
                let entry = entry(&signal, &identity, draining, &mut load).await;
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
