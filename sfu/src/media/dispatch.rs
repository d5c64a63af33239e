//! The receive side of the one UDP port: a thread reads every datagram and
//! hands it to the worker that owns its peer.
//!
//! A peer's first packet is a STUN binding request whose USERNAME starts
//! with our ICE ufrag. Workers announce every ufrag they hand out (and the
//! new ones of an ICE restart) on [`Routes`] before the SDP carrying it
//! leaves the process, so the first packet finds its worker; the dispatcher
//! then remembers the source address. Hand-off is a bounded lock-free queue
//! per worker, with buffers recycled through a per-worker pool: nothing is
//! allocated per packet once warm, and no lock is taken.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::{ArrayQueue, SegQueue};

use crate::stun;

/// Largest datagram read.
pub const MTU: usize = 2000;
/// Datagrams waiting per worker before new ones are dropped.
const QUEUE: usize = 4096;
/// An address not heard from for this long is forgotten.
const ADDR_IDLE: Duration = Duration::from_secs(60);
/// Socket buffer asked for each way: bursts (a keyframe to every viewer,
/// a wake-up's batch) must not overflow the kernel's default 208 KiB. The
/// kernel grants at most `net.core.rmem_max` / `wmem_max`.
const SOCKET_BUFFER: usize = 4 << 20;

/// Asks for [`SOCKET_BUFFER`] each way on the SFU's socket; logs what the
/// kernel granted, which is less where its limits are lower.
pub fn size_buffers(socket: &UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    let granted = (socket.recv_buffer_size(), socket.send_buffer_size());
    if let (Ok(recv), Ok(send)) = granted {
        tracing::info!(
            recv,
            send,
            "UDP socket buffers (raise net.core.rmem_max / wmem_max for more)"
        );
    }
}

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

impl Datagram {
    /// The datagram's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What a worker receives through: its queue, its buffer pool, its
/// wake-up; and what it forwarded, for the registry to read.
pub struct Inbox {
    /// Datagrams for this worker.
    pub queue: ArrayQueue<Datagram>,
    /// Spent buffers, for the dispatcher to fill again.
    pub pool: ArrayQueue<Vec<u8>>,
    /// Signalled after each push.
    pub wake: tokio::sync::Notify,
    /// RTP packets the worker forwarded since it started (set once per
    /// wake-up, not per packet).
    pub forwarded: AtomicU64,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self {
            queue: ArrayQueue::new(QUEUE),
            pool: ArrayQueue::new(QUEUE),
            wake: tokio::sync::Notify::new(),
            forwarded: AtomicU64::new(0),
        }
    }

    /// Gives a spent buffer back.
    pub fn recycle(&self, buf: Vec<u8>) {
        let _ = self.pool.push(buf);
    }
}

/// Which worker owns which local ICE ufrag: workers push, the dispatcher
/// applies the changes before routing the next datagram.
#[derive(Default)]
pub struct Routes(SegQueue<(String, Option<usize>)>);

impl Routes {
    /// STUN for `ufrag` goes to worker `worker` from now on.
    pub fn add(&self, ufrag: &str, worker: usize) {
        self.0.push((ufrag.to_owned(), Some(worker)));
    }

    /// `ufrag` is gone.
    pub fn remove(&self, ufrag: &str) {
        self.0.push((ufrag.to_owned(), None));
    }

    fn apply(&self, by_ufrag: &mut HashMap<Vec<u8>, usize>) {
        while let Some((ufrag, worker)) = self.0.pop() {
            match worker {
                Some(w) => by_ufrag.insert(ufrag.into_bytes(), w),
                None => by_ufrag.remove(ufrag.as_bytes()),
            };
        }
    }
}

/// Reads the socket forever, routing datagrams to `inboxes`.
pub fn run(
    socket: UdpSocket,
    inboxes: Vec<Arc<Inbox>>,
    routes: Arc<Routes>,
    thread_id: Arc<AtomicI32>,
) {
    // SAFETY: gettid has no preconditions.
    thread_id.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    let mut by_ufrag: HashMap<Vec<u8>, usize> = HashMap::new();
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
        routes.apply(&mut by_ufrag);
        // STUN names its worker; everything else follows its address.
        let named = stun::local_ufrag_span(packet).and_then(|span| by_ufrag.get(packet.get(span)?));
        let worker = match named {
            Some(&w) if w < inboxes.len() => {
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
    fn routes_follow_announcements() {
        let routes = Routes::default();
        let mut map = HashMap::new();
        routes.add("abc", 1);
        routes.add("def", 0);
        routes.remove("abc");
        routes.add("ghi", 2);
        routes.apply(&mut map);
        assert_eq!(map.get("def".as_bytes()), Some(&0));
        assert_eq!(map.get("ghi".as_bytes()), Some(&2));
        assert_eq!(map.get("abc".as_bytes()), None);
    }
}
