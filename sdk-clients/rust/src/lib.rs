//! OnAir's Rust client.
//!
//! - [`api`]: the REST calls a client needs (join a call).
//! - [`Client`]: joins a call's media over LiveKit's signal protocol on
//!   str0m, publishes pre-encoded files in real time (with simulcast) and
//!   counts what it receives, or hands received frames on
//!   ([`Client::connect_receiving`]); in packet mode it hands on and sends
//!   RTP packets as they are (relays). Egress, ingest, relays, the tests
//!   and the load tester all use it.
//! - [`bridge`]: a signal-only participant whose media comes straight from
//!   another peer (WHIP ingest).
//! - [`files`]: VP8 IVF, H.264 Annex-B and Ogg Opus readers.
//! - [`pacer`]: lets a publisher's video out at a pace, as browsers do.

#![warn(missing_docs)]

pub mod api;
pub mod bridge;
mod client;
pub mod files;
pub mod pacer;
mod signal;
mod types;

use std::sync::{Mutex, MutexGuard};

pub use client::Client;
pub use files::{Codec, Frame};
pub use types::{
    ClientError, LocalLayer, LocalPacket, LocalTrack, MediaEvent, Profile, RemoteFrame,
    RemotePacket, Source, Stats, TrackStats,
};

/// Locks `mutex` even if a holder panicked: what it guards (stats, a close
/// reason) is plain data that stays readable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
