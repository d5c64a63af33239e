//! The receive side of the one UDP port: a thread reads every datagram and
//! hands it to the worker that owns its peer.
//!
//! A peer's first packet is a STUN binding request whose USERNAME starts
//! with our ICE ufrag, and every ufrag starts with its worker's index (two
//! hex digits), so the first packet routes itself; the dispatcher then
//! remembers the source address. Hand-off is a bounded lock-free queue per
//! worker, with buffers recycled through a per-worker pool: nothing is
//! allocated per packet once warm, and no lock is taken.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::stun;

/// Largest datagram read.
pub const MTU: usize = 2000;
/// Datagrams waiting per worker before new ones are dropped.
const QUEUE: usize = 4096;
/// An address not heard from for this long is forgotten.
const ADDR_IDLE: Duration = Duration::from_secs(60);

/// One datagram handed to a worker.
pub struct Datagram {
    /// Who sent it.
    pub source: SocketAddr,
    /// A pooled buffer; the first `len` bytes are the datagram.
    pub buf: Vec<u8>,
    /// Length of the datagram.
    pub len: usize,
    /// When it was read off the socket.
    pub at: Instant,
}

/// What a worker receives through: its queue, its buffer pool, its wake-up.
pub struct Inbox {
    /// Datagrams for this worker.
    pub queue: ArrayQueue<Datagram>,
    /// Spent buffers, for the dispatcher to fill again.
    pub pool: ArrayQueue<Vec<u8>>,
    /// Signalled after each push.
    pub wake: tokio::sync::Notify,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self {
            queue: ArrayQueue::new(QUEUE),
            pool: ArrayQueue::new(QUEUE),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Gives a spent buffer back.
    pub fn recycle(&self, buf: Vec<u8>) {
        let _ = self.pool.push(buf);
    }
}

/// The worker that owns a ufrag (its first two hex digits).
pub fn worker_of_ufrag(ufrag: &str) -> Option<usize> {
    ufrag
        .get(..2)
        .and_then(|p| usize::from_str_radix(p, 16).ok())
}

/// The ufrag prefix of worker `index`.
pub fn ufrag_prefix(index: usize) -> String {
    format!("{:02x}", index % 256)
}

/// Reads the socket forever, routing datagrams to `inboxes`.
pub fn run(socket: UdpSocket, inboxes: Vec<Arc<Inbox>>, thread_id: Arc<AtomicI32>) {
    // SAFETY: gettid has no preconditions.
    thread_id.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    let mut by_addr: HashMap<SocketAddr, (usize, Instant)> = HashMap::new();
    let mut buf = vec![0u8; MTU];
    let mut last_sweep = Instant::now();
    loop {
        let (len, source) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive");
                continue;
            }
        };
        let now = Instant::now();
        let packet = &buf[..len];
        // STUN names its worker; everything else follows its address.
        let worker = match stun::local_ufrag(packet).and_then(worker_of_ufrag) {
            Some(w) if w < inboxes.len() => {
                by_addr.insert(source, (w, now));
                Some(w)
            }
            _ => by_addr.get_mut(&source).map(|(w, seen)| {
                *seen = now;
                *w
            }),
        };
        let Some(worker) = worker else {
            tracing::trace!(%source, "datagram from an unknown address dropped");
            continue;
        };
        let inbox = &inboxes[worker];
        let mut out = inbox.pool.pop().unwrap_or_else(|| vec![0u8; MTU]);
        out[..len].copy_from_slice(packet);
        if let Err(full) = inbox.queue.push(Datagram {
            source,
            buf: out,
            len,
            at: now,
        }) {
            tracing::debug!(worker, "worker queue full; datagram dropped");
            inbox.recycle(full.buf);
        }
        inbox.wake.notify_one();
        if now.duration_since(last_sweep) > ADDR_IDLE {
            last_sweep = now;
            by_addr.retain(|_, (_, seen)| now.duration_since(*seen) < ADDR_IDLE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufrags_name_their_worker() {
        assert_eq!(
            worker_of_ufrag(&format!("{}abcdef", ufrag_prefix(0))),
            Some(0)
        );
        assert_eq!(
            worker_of_ufrag(&format!("{}abcdef", ufrag_prefix(17))),
            Some(17)
        );
        assert_eq!(worker_of_ufrag("zz12"), None);
        assert_eq!(worker_of_ufrag("a"), None);
    }
}
