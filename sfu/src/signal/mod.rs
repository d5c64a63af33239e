//! The `/rtc` WebSocket: LiveKit's client signal protocol (binary protobuf).
//!
//! The HTTP routes (`routes.rs`) verify the join token and ask the
//! [`CallGate`] whether the call still admits its holder; then one task per
//! participant (`session.rs`) joins the room and the media worker and
//! relays between the client, its room and the media worker, while a
//! writer task (`writer.rs`) writes what is queued for the client to its
//! socket. See `docs/ARCHITECTURE.md`, "Signalling".
//!
//! Both of livekit-client's flavours are spoken. On `/rtc`, a client has
//! two peer connections: the server offers the subscriber one, the client
//! the publisher one. On `/rtc/v1` (what livekit-client 2.2x tries first),
//! it has one for both directions and makes every offer, the first inside
//! its join request (`join_request.rs`); the server asks it for another
//! when tracks are to reach it (`MediaSectionsRequirement`).
//!
//! A participant outlives its WebSocket: a client that lost it (a network
//! change, a sleeping laptop) comes back with `reconnect=1&sid=PA_…` within
//! the participant timeout and resumes — the session gets the new socket,
//! answers `ReconnectResponse`, sends the room state again and restarts
//! ICE, while its tracks and subscriptions stay as they were. A participant
//! not heard from for the timeout is removed. Join tokens are short-lived;
//! connected clients are kept supplied with fresh ones (`refresh_token`),
//! so a resume works however long the call runs.

mod join_request;
mod routes;
mod session;
mod writer;

pub use routes::{router, EntryError};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::WebSocket;
use livekit_protocol as lk;
use onair_auth::{JoinClaims, KeySet};
use tokio::sync::mpsc;

use crate::gate::CallGate;
use crate::ids::ParticipantSid;
use crate::limits::SignalLimits;
use crate::media::Media;
use crate::room::Rooms;

/// Version we report; livekit-client needs ≥ 1.8 for RPC.
const SERVER_VERSION: &str = "1.9.0";
/// Protocol we implement.
const PROTOCOL: i32 = 16;

/// What the signal endpoint needs.
pub struct Signal {
    /// Keys that sign join tokens.
    pub keys: Arc<KeySet>,
    /// Rooms on this SFU.
    pub rooms: Rooms,
    /// The media worker.
    pub media: Media,
    /// The store's word on each call.
    gate: Arc<dyn CallGate>,
    /// How long a participant not heard from (silent, or its connection
    /// lost and not resumed) stays in its room.
    pub participant_timeout: Duration,
    /// Lifetime of the join tokens handed to connected clients.
    join_token_ttl: Duration,
    /// What one client may ask.
    limits: SignalLimits,
    /// Sessions a client may resume, by participant sid.
    sessions: Mutex<HashMap<ParticipantSid, Resumable>>,
    /// The node is draining: connected clients stay (and may resume), new
    /// ones are refused.
    pub draining: std::sync::atomic::AtomicBool,
}

/// Where a resuming client's new socket goes.
struct Resumable {
    identity: String,
    room: String,
    sockets: mpsc::UnboundedSender<WebSocket>,
}

impl Signal {
    /// The endpoint state.
    pub fn new(
        keys: Arc<KeySet>,
        rooms: Rooms,
        media: Media,
        gate: Arc<dyn CallGate>,
        config: &crate::SfuConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            keys,
            rooms,
            media,
            gate,
            participant_timeout: config.participant_timeout,
            join_token_ttl: config.join_token_ttl,
            limits: config.limits.clone(),
            sessions: Mutex::default(),
            draining: Default::default(),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<ParticipantSid, Resumable>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of `participant_sid` if the token's user in the
    /// token's room owns it.
    fn resumable(
        &self,
        participant_sid: &str,
        claims: &JoinClaims,
    ) -> Option<mpsc::UnboundedSender<WebSocket>> {
        self.sessions()
            .get(participant_sid)
            .filter(|r| r.identity == claims.sub && r.room == claims.video.room)
            .map(|r| r.sockets.clone())
    }
}

fn server_info() -> lk::ServerInfo {
    lk::ServerInfo {
        version: SERVER_VERSION.into(),
        protocol: PROTOCOL,
        node_id: "onair".into(),
        ..Default::default()
    }
}
