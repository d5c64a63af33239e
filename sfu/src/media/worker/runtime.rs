//! The thread around a [`Worker`]: it owns the socket, the clock, the
//! command queue and the sessions' notice channels, and does nothing the
//! state machine could decide.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::send_batch::SendBatch;
use super::{Output, Worker};
use crate::media::dispatch::{Inbox, Routes};
use crate::media::{Command, ForwardStats, Notice, Pid, TrackSink};

/// The longest the thread sleeps, so a late command is never stranded.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Datagrams handled before what they caused is sent: a subscriber owed
/// several packets is drained once, after the last (a burst, such as a
/// keyframe, costs less and ends sooner). More would hold the first back.
const BATCH: usize = 16;

/// Runs worker `index` until every command sender is gone: datagrams come
/// from `inbox` (filled by the receive thread), replies go out on `socket`.
pub fn run(
    index: usize,
    socket: UdpSocket,
    inbox: Arc<Inbox>,
    routes: Arc<Routes>,
    candidates: Vec<SocketAddr>,
    connect_timeout: Duration,
    commands: mpsc::UnboundedReceiver<Command>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "media worker cannot start");
            return;
        }
    };
    let worker = Worker::new(index, routes, candidates, connect_timeout, Instant::now());
    let mut thread = Thread {
        worker,
        socket,
        sessions: HashMap::new(),
        sending: SendBatch::new(),
        handled: Vec::with_capacity(BATCH),
        reported: 0,
        delay_us: new_histogram(),
    };
    runtime.block_on(thread.run(inbox, commands));
}

struct Thread {
    worker: Worker,
    socket: UdpSocket,
    /// Where each participant's notices go: its session, and for its
    /// tracks its room.
    sessions: HashMap<Pid, (mpsc::UnboundedSender<Notice>, TrackSink)>,
    sending: SendBatch,
    /// Datagrams handled since the last flush: when each was read, and how
    /// many packets it was forwarded as.
    handled: Vec<(Instant, u64)>,
    /// Packets forwarded at the last `Stats`.
    reported: u64,
    /// Forwarding delays since the last `Stats`.
    delay_us: hdrhistogram::Histogram<u64>,
}

impl Thread {
    async fn run(&mut self, inbox: Arc<Inbox>, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let next = self.worker.poll_timeout().min(Instant::now() + MAX_SLEEP);
            let command = tokio::select! {
                _ = inbox.wake.notified() => None,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => Some(cmd),
                    None => return,
                },
                _ = tokio::time::sleep_until(next.into()) => None,
            };
            let woke = Instant::now();
            let queued = match command {
                Some(cmd) => {
                    self.command(woke, cmd);
                    0
                }
                None => self.datagrams(&inbox),
            };
            // Only what is due runs: the peers' timers, the 100 ms rounds.
            self.worker.handle_timeout(Instant::now());
            self.flush();
            inbox
                .forwarded
                .store(self.worker.forwarded(), Ordering::Relaxed);
            self.worker.note_load(woke.elapsed(), queued);
        }
    }

    /// Hands the worker what waits in `inbox`, sending what it caused every
    /// [`BATCH`] datagrams and at the end; returns how many waited.
    fn datagrams(&mut self, inbox: &Inbox) -> usize {
        let queued = inbox.queue.len();
        while let Some(datagram) = inbox.queue.pop() {
            let before = self.worker.forwarded();
            let bytes = datagram.bytes();
            self.worker
                .handle_datagram(datagram.at, datagram.source, bytes);
            let forwarded = self.worker.forwarded() - before;
            self.handled.push((datagram.at, forwarded));
            inbox.recycle(datagram.buf);
            if self.handled.len() == BATCH {
                self.flush();
            }
        }
        self.flush();
        queued
    }

    /// Hands a command to the worker, keeping what only this thread uses:
    /// a joining participant's notice channel, and the `Stats` figures.
    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Stats { reply } => {
                let forwarded = self.worker.forwarded();
                let _ = reply.send(ForwardStats {
                    forwarded: forwarded - std::mem::replace(&mut self.reported, forwarded),
                    delay_us: std::mem::replace(&mut self.delay_us, new_histogram()),
                    // SAFETY: gettid has no preconditions.
                    thread_ids: vec![unsafe { libc::gettid() }],
                });
            }
            cmd => {
                match &cmd {
                    Command::Join {
                        pid,
                        notices,
                        tracks,
                        ..
                    } => {
                        self.sessions
                            .insert(*pid, (notices.clone(), tracks.clone()));
                    }
                    Command::Leave { pid } => {
                        self.sessions.remove(pid);
                    }
                    _ => {}
                }
                self.worker.handle_command(now, cmd);
            }
        }
    }

    /// Sends what the worker has to send, tells what it has to tell, and
    /// notes how long the datagrams handled since took to go out.
    fn flush(&mut self) {
        while let Some(output) = self.worker.poll_output() {
            match output {
                Output::Transmit(t) => self.sending.push(&self.socket, t),
                Output::Notice(pid, notice) => {
                    let closed = matches!(notice, Notice::Closed { .. });
                    let track =
                        matches!(notice, Notice::TrackLive { .. } | Notice::TrackEnded { .. });
                    match self.sessions.get(&pid) {
                        Some((_, room)) if track => room(notice),
                        Some((session, _)) => {
                            let _ = session.send(notice);
                        }
                        None => {}
                    }
                    if closed {
                        self.sessions.remove(&pid);
                    }
                }
            }
        }
        self.sending.send(&self.socket);
        // Read off the socket → sent to every subscriber.
        for (at, forwarded) in self.handled.drain(..) {
            let delay = at.elapsed().as_micros() as u64;
            let _ = self.delay_us.record_n(delay.max(1), forwarded);
        }
    }
}

/// Forwarding delays from 1 µs to 10 s, 2 significant digits (allocated once).
fn new_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 10_000_000, 2)
        .unwrap_or_else(|_| unreachable!("valid bounds"))
}
