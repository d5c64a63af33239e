//! Counters: kept in atomics for [`crate::TurnServer::stats`] and mirrored
//! to the `metrics` facade.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{counter, gauge, Counter, Gauge};

/// Why a request (or a relayed packet) was refused; the `reason` label of
/// `onair_turn_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefuseReason {
    /// MESSAGE-INTEGRITY did not match the password derived from the secret (401).
    BadCredentials,
    /// The username's expiry has passed; only new allocations are refused (401).
    Expired,
    /// The username is not `"{expiry}:{participant}"` (401).
    BadUsername,
    /// The participant already holds `max_allocations_per_user` allocations (486).
    Quota,
    /// A peer address in a refused range and not in the allow-list (403, or a
    /// dropped Send indication / packet).
    ForbiddenPeer,
    /// No relay port was free in the configured range, or too many usernames are in use (508).
    Capacity,
    /// The requested allocation is not UDP, or not in the relay IP's family (442/440).
    Unsupported,
}

impl RefuseReason {
    /// Every reason, in label order.
    pub const ALL: [RefuseReason; 7] = [
        RefuseReason::BadCredentials,
        RefuseReason::Expired,
        RefuseReason::BadUsername,
        RefuseReason::Quota,
        RefuseReason::ForbiddenPeer,
        RefuseReason::Capacity,
        RefuseReason::Unsupported,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::BadCredentials => "bad_credentials",
            RefuseReason::Expired => "expired",
            RefuseReason::BadUsername => "bad_username",
            RefuseReason::Quota => "quota",
            RefuseReason::ForbiddenPeer => "forbidden_peer",
            RefuseReason::Capacity => "capacity",
            RefuseReason::Unsupported => "unsupported",
        }
    }

    fn index(self) -> usize {
        match self {
            RefuseReason::BadCredentials => 0,
            RefuseReason::Expired => 1,
            RefuseReason::BadUsername => 2,
            RefuseReason::Quota => 3,
            RefuseReason::ForbiddenPeer => 4,
            RefuseReason::Capacity => 5,
            RefuseReason::Unsupported => 6,
        }
    }
}

/// A snapshot of the server's counters (see [`crate::TurnServer::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Allocations alive now (`onair_turn_allocations`).
    pub allocations: u64,
    /// Allocations ever created (`onair_turn_allocations_created_total`).
    pub allocations_total: u64,
    /// Payload bytes relayed from clients to peers.
    pub relayed_bytes_to_peers: u64,
    /// Payload bytes relayed from peers to clients.
    pub relayed_bytes_to_clients: u64,
    /// Refusals by reason label (`onair_turn_refused_total{reason}`); every
    /// reason is present, zero or not.
    pub refused: BTreeMap<&'static str, u64>,
}

impl TurnStats {
    /// Both directions (`onair_turn_relayed_bytes_total`).
    pub fn relayed_bytes(&self) -> u64 {
        self.relayed_bytes_to_peers + self.relayed_bytes_to_clients
    }

    /// Refusals for one reason.
    pub fn refused(&self, reason: RefuseReason) -> u64 {
        self.refused.get(reason.as_str()).copied().unwrap_or(0)
    }
}

/// Metric handles are taken once at start, so the recorder must be installed
/// before [`crate::TurnServer::start`].
pub(crate) struct Stats {
    allocations: AtomicU64,
    allocations_total: AtomicU64,
    to_peers: AtomicU64,
    to_clients: AtomicU64,
    refused: [AtomicU64; 7],
    m_allocations: Gauge,
    m_allocations_total: Counter,
    m_relayed: Counter,
    m_refused: [Counter; 7],
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            allocations: AtomicU64::new(0),
            allocations_total: AtomicU64::new(0),
            to_peers: AtomicU64::new(0),
            to_clients: AtomicU64::new(0),
            refused: Default::default(),
            m_allocations: gauge!("onair_turn_allocations"),
            m_allocations_total: counter!("onair_turn_allocations_created_total"),
            m_relayed: counter!("onair_turn_relayed_bytes_total"),
            m_refused: RefuseReason::ALL
                .map(|r| counter!("onair_turn_refused_total", "reason" => r.as_str())),
        }
    }

    pub(crate) fn refuse(&self, reason: RefuseReason) {
        self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
        self.m_refused[reason.index()].increment(1);
    }

    pub(crate) fn allocation_created(&self) {
        self.allocations_total.fetch_add(1, Ordering::Relaxed);
        self.m_allocations_total.increment(1);
    }

    pub(crate) fn set_allocations(&self, now: usize) {
        self.allocations.store(now as u64, Ordering::Relaxed);
        self.m_allocations.set(now as f64);
    }

    pub(crate) fn relayed_to_peer(&self, bytes: usize) {
        self.to_peers.fetch_add(bytes as u64, Ordering::Relaxed);
        self.m_relayed.increment(bytes as u64);
    }

    pub(crate) fn relayed_to_client(&self, bytes: usize) {
        self.to_clients.fetch_add(bytes as u64, Ordering::Relaxed);
        self.m_relayed.increment(bytes as u64);
    }

    pub(crate) fn snapshot(&self) -> TurnStats {
        TurnStats {
            allocations: self.allocations.load(Ordering::Relaxed),
            allocations_total: self.allocations_total.load(Ordering::Relaxed),
            relayed_bytes_to_peers: self.to_peers.load(Ordering::Relaxed),
            relayed_bytes_to_clients: self.to_clients.load(Ordering::Relaxed),
            refused: RefuseReason::ALL
                .iter()
                .map(|r| (r.as_str(), self.refused[r.index()].load(Ordering::Relaxed)))
                .collect(),
        }
    }
}
