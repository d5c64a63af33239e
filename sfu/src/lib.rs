//! OnAir's SFU: carries every call's media.
//!
//! - [`media`]: the UDP socket, str0m peer connections and packet
//!   forwarding (LiveKit's `pkg/sfu`); [`media::downtrack`] is the per
//!   subscriber layer choice and RTP rewriting.
//! - [`room`]: rooms (= calls), participants and tracks as the signal
//!   protocol sees them, and who may receive what (LiveKit's `pkg/rtc`).
//! - [`signal`]: the `/rtc` WebSocket speaking LiveKit's client protocol.
//! - [`limits`]: what one client may ask of the SFU, and the counters of
//!   limits hit.
//! - [`outbox`]: the bounded queue of messages toward one client, filled
//!   by its room and its session.
//! - [`ids`]: the ids the SFU hands out (participant, track, room).
//! - [`grant`]: what a join grant lets a participant do, as LiveKit's
//!   participant permission.
//! - [`gate`]: the store's word on a call (ended, blocked, live, full),
//!   asked whenever someone enters.
//! - [`registry`]: this node's entry in the registry of SFU nodes, which
//!   the API places participants with.
//!
//! Call-state changes (go live, back to backstage, end) arrive on the
//! [`onair_bus::Bus`] and take effect in the room at once. How the crates
//! fit together, and a packet's path through this one, are in
//! `docs/ARCHITECTURE.md` ("Crates", "A packet's path", "Bus events").
//!
//! Dependencies run one way: `signal` uses `room` and `media`, `room` uses
//! `media`, and all of them use the modules below (`outbox`, `limits`,
//! `ids`, `gate`), which use none of them.

#![deny(missing_docs)]

pub mod cpu;
pub mod gate;
pub mod grant;
pub mod ids;
pub mod limits;
pub mod media;
pub mod outbox;
pub mod registry;
pub mod room;
mod sdp_scan;
pub mod signal;
mod stun;

/// What the fuzz targets (`fuzz/`) reach that is not public: the parsers
/// hostile input meets first. Built only under `cargo fuzz` (`--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzzing {
    pub use crate::media::{Output, Routes, Worker};
    pub use crate::sdp_scan::{first_codec, ice_ufrag, msid_tracks, prefer_codec};
    pub use crate::stun::{local_ufrag, local_ufrag_span};
}

use std::sync::Arc;

use onair_auth::KeySet;
use onair_bus::{Bus, EventKind};

pub use gate::{CallGate, CallStatus, Entry, Refusal};
pub use limits::SignalLimits;
pub use media::MediaConfig;

/// How long a participant not heard from stays, unless configured.
pub const DEFAULT_PARTICIPANT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the SFU needs to start.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// The media port and workers.
    pub media: MediaConfig,
    /// How long a participant not heard from (silent, or its signal
    /// connection lost and not resumed) stays in its room.
    pub participant_timeout: std::time::Duration,
    /// Lifetime of the join tokens handed to connected clients
    /// (`refresh_token`), so they can resume.
    pub join_token_ttl: std::time::Duration,
    /// What one client may ask of the SFU.
    pub limits: SignalLimits,
}

/// How often rooms catch up with their call's state in the store.
const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Repairs what a missed bus event (a lagging subscriber, Redis down)
/// left wrong: every room gets its call's state from the store as if the
/// events had arrived (they are idempotent), and rooms of ended or deleted
/// calls are closed.
async fn reconcile(rooms: room::Rooms, gate: Arc<dyn CallGate>) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    loop {
        tick.tick().await;
        for name in rooms.names() {
            let read_at = std::time::Instant::now();
            let status = gate.status(&name).await;
            let kind = match &status {
                Ok(status) if status.backstage => EventKind::LiveStopped,
                Ok(_) => EventKind::LiveStarted,
                Err(Refusal::Ended) | Err(Refusal::NoCall) => EventKind::CallEnded {
                    reason: Some("reconciled".into()),
                },
                Err(e) => {
                    tracing::debug!(room = %name, error = %e, "cannot reconcile the room now");
                    continue;
                }
            };
            if let Ok(status) = &status {
                rooms.set_metadata(&name, status.metadata.clone());
            }
            rooms.reconcile(&name, kind, read_at);
        }
    }
}

/// A running SFU: its HTTP routes and its media worker.
pub struct Sfu {
    signal: Arc<signal::Signal>,
}

impl Sfu {
    /// Binds the media socket, starts the workers and listens to the bus;
    /// `gate` says whether a call admits someone.
    pub fn start(
        config: SfuConfig,
        keys: Arc<KeySet>,
        bus: Arc<dyn Bus>,
        gate: Arc<dyn CallGate>,
    ) -> std::io::Result<Sfu> {
        let media = media::Media::start(config.media.clone(), config.participant_timeout)?;
        tracing::info!(udp = %media.local_addr(), "SFU media listening");
        let rooms = room::Rooms::new(media.clone(), bus.clone(), config.limits.clone());
        let mut events = bus.subscribe();
        let bus_rooms = rooms.clone();
        let bus_gate = gate.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                // An updated call may carry new `custom` data: the room's metadata.
                if event.kind == EventKind::CallUpdated {
                    let (rooms, gate, cid) =
                        (bus_rooms.clone(), bus_gate.clone(), event.call_cid.clone());
                    tokio::spawn(async move {
                        if let Ok(status) = gate.status(&cid).await {
                            rooms.set_metadata(&cid, status.metadata);
                        }
                    });
                }
                bus_rooms.bus_event(&event.call_cid, event.kind);
            }
        });
        tokio::spawn(reconcile(rooms.clone(), gate.clone()));
        Ok(Sfu {
            signal: signal::Signal::new(keys, rooms, media, gate, &config),
        })
    }

    /// `/rtc` and friends, to mount on the HTTP server.
    pub fn router(&self) -> axum::Router {
        signal::router(self.signal.clone())
    }

    /// Forwarding figures since the last call (and resets them).
    pub async fn forward_stats(&self) -> Option<media::ForwardStats> {
        self.signal.media.stats().await
    }

    /// Takes no new participants from now on; those connected stay.
    pub fn drain(&self) {
        let draining = &self.signal.draining;
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asks every participant here to reconnect from scratch, which
    /// OnAir's SDKs do on the node the API names next (a draining node's
    /// last step: nobody is placed here any more).
    pub fn move_participants(&self) {
        self.signal.rooms.move_away();
    }

    /// How many rooms (calls with someone connected) run here.
    pub fn rooms_open(&self) -> usize {
        self.signal.rooms.open()
    }

    /// The UDP address media flows through.
    pub fn udp_addr(&self) -> std::net::SocketAddr {
        self.signal.media.local_addr()
    }
}
