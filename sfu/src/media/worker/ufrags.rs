//! Our ICE ufrags: which peer of this worker each one names. A peer's
//! first datagram is a STUN request naming one, before its address is
//! known; every ufrag is also announced to the receive thread
//! ([`Routes`]), so that datagram reaches this worker at all.

use std::collections::HashMap;
use std::sync::Arc;

use super::PeerId;
use crate::media::dispatch::Routes;

/// Our ICE ufrags: the peer each one names here, also announced to the
/// receive thread so a peer's first STUN request reaches this worker.
pub(super) struct Ufrags {
    /// This worker's number (what [`Routes`] know it by).
    worker: usize,
    routes: Arc<Routes>,
    /// By the ufrag's bytes, as STUN carries it.
    pub(super) peers: HashMap<Vec<u8>, PeerId>,
}

impl Ufrags {
    /// None yet, for worker `worker`, announced on `routes`.
    pub(super) fn new(worker: usize, routes: Arc<Routes>) -> Self {
        let peers = HashMap::new();
        Ufrags {
            worker,
            routes,
            peers,
        }
    }

    /// STUN for `ufrag` reaches peer `id`.
    pub(super) fn add(&mut self, id: PeerId, ufrag: &str) {
        self.peers.insert(ufrag.as_bytes().to_vec(), id);
        self.routes.add(ufrag, self.worker);
    }

    /// `ufrag` is gone.
    pub(super) fn remove(&mut self, ufrag: &str) {
        self.peers.remove(ufrag.as_bytes());
        self.routes.remove(ufrag);
    }

    /// The peer `ufrag` names.
    pub(super) fn get(&self, ufrag: &[u8]) -> Option<PeerId> {
        self.peers.get(ufrag).copied()
    }
}
