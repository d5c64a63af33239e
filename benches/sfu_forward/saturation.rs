//! Saturation: the SFU's media threads pinned to one core, the load (the
//! publishers, the subscribers, the signalling) on the other. Subscribers
//! complete ICE and DTLS and then only count SRTP datagrams, so the load
//! stays cheap. Publishers and subscribers are added step by step until
//! more than 1 % of what should arrive is lost or the p99 forwarding delay
//! passes 5 ms, in two windows in a row; the figure is the highest forwarded packets/s of a step
//! that passed. The same ramp drives OnAir and, where it runs, Janus
//! ([`Target`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use onair_auth::ApiKey;
use onair_client::Client;
use onair_sfu::Sfu;

use crate::{cpu_of, process_cpu, publish, token, Publish};

/// Loss above this ends the ramp.
const MAX_LOSS: f64 = 0.01;
/// A p99 forwarding delay above this ends the ramp.
const MAX_P99_US: u64 = 5_000;

/// What one step measured.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    /// Forwarded packets per second.
    pub pps: f64,
    /// Share of the SFU's core its media threads used.
    pub cpu: f64,
    /// p99 forwarding delay, µs, where the SFU measures it.
    pub p99_us: Option<u64>,
    /// Share of the expected datagrams the subscribers did not count.
    pub loss: f64,
}

impl Reading {
    /// Its p99, or "-" where the SFU does not measure it.
    pub fn p99_text(&self) -> String {
        self.p99_us.map_or("-".into(), |p| p.to_string())
    }

    fn passes(&self) -> bool {
        self.loss <= MAX_LOSS && self.p99_us.is_none_or(|p| p <= MAX_P99_US)
    }
}

/// An SFU with a room under load, as the ramp drives it.
pub trait Target {
    /// The SFU runs in this process: its CPU is part of this process's.
    const IN_PROCESS: bool;
    /// Adds publishers and subscribers up to the counts of a step, and
    /// waits for their media to start.
    async fn grow(&mut self, publishers: usize, subscribers: usize);
    /// Datagrams the subscribers counted so far.
    fn counted(&self) -> u64;
    /// CPU-seconds the SFU used so far.
    fn cpu(&self) -> f64;
    /// Starts a measuring window.
    async fn begin(&self);
    /// What the SFU itself counted in the window, if it can say: forwarded
    /// packets and the p99 forwarding delay in µs.
    async fn end(&self) -> Option<(u64, u64)>;
    /// Everyone leaves.
    async fn leave(self);
}

/// OnAir's room under load: its publishers and its counting subscribers.
pub struct Load<'a> {
    sfu: &'a Sfu,
    /// The SFU's media threads.
    threads: &'a [i32],
    url: &'a str,
    key: &'a ApiKey,
    dir: &'a Path,
    what: Publish,
    publishers: Vec<Client>,
    subscribers: Vec<(Client, Arc<AtomicU64>)>,
}

impl<'a> Load<'a> {
    /// An empty room on `sfu` (media threads `threads`), at `url`.
    pub fn new(
        (sfu, threads): (&'a Sfu, &'a [i32]),
        (url, key, dir): (&'a str, &'a ApiKey, &'a Path),
        what: Publish,
    ) -> Self {
        Self {
            sfu,
            threads,
            url,
            key,
            dir,
            what,
            publishers: Vec::new(),
            subscribers: Vec::new(),
        }
    }
}

impl Target for Load<'_> {
    const IN_PROCESS: bool = true;

    async fn grow(&mut self, publishers: usize, subscribers: usize) {
        while self.publishers.len() < publishers {
            let name = format!("pub-{}", self.publishers.len());
            let client = Client::connect(self.url, &token(self.key, &name, false))
                .await
                .expect("publisher joins");
            publish(&client, self.dir, self.what).await;
            self.publishers.push(client);
        }
        while self.subscribers.len() < subscribers {
            let name = format!("sub-{}", self.subscribers.len());
            // Hidden: the room tells nobody of them, as a livestream's viewers.
            let joined = Client::connect_counting(self.url, &token(self.key, &name, true))
                .await
                .expect("subscriber joins");
            self.subscribers.push(joined);
        }
        // New m-lines are negotiated and the first keyframes asked for.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    fn counted(&self) -> u64 {
        let counts = self
            .subscribers
            .iter()
            .map(|(_, c)| c.load(Ordering::Relaxed));
        counts.sum()
    }

    fn cpu(&self) -> f64 {
        cpu_of(self.threads)
    }

    async fn begin(&self) {
        let _ = self.sfu.forward_stats().await; // starts a new window
    }

    async fn end(&self) -> Option<(u64, u64)> {
        let stats = self.sfu.forward_stats().await.expect("stats");
        Some((stats.forwarded, stats.delay_us.value_at_quantile(0.99)))
    }

    async fn leave(self) {
        for (s, _) in self.subscribers {
            s.abort();
        }
        for p in self.publishers {
            p.leave().await;
        }
    }
}

/// Waits (up to 10 s) until the subscribers count `expected` datagrams a
/// second, less 1 %: the last ones to join get every track first.
async fn settle(load: &impl Target, expected: f64) {
    for _ in 0..10 {
        let before = load.counted();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if (load.counted() - before) as f64 >= expected * (1.0 - MAX_LOSS) {
            return;
        }
    }
}

/// What one step's window saw, per second.
struct Window {
    pps: f64,
    /// None where the SFU cannot say.
    p99_us: Option<u64>,
    /// Share of a core the SFU used.
    cpu: f64,
    /// Share of a core everything else in this process used.
    load_cpu: f64,
    /// Datagrams the subscribers counted.
    received: f64,
}

/// Measures one step: the SFU's forwarding (what the subscribers counted,
/// where it does not say), its CPU and the rest's.
async fn measure<T: Target>(load: &T, window: Duration) -> Window {
    load.begin().await;
    let (cpu0, all0, counted0) = (load.cpu(), process_cpu(), load.counted());
    let start = std::time::Instant::now();
    tokio::time::sleep(window).await;
    let forwarded = load.end().await;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (load.cpu() - cpu0) / elapsed;
    let received = (load.counted() - counted0) as f64 / elapsed;
    Window {
        pps: forwarded.map_or(received, |(f, _)| f as f64 / elapsed),
        p99_us: forwarded.map(|(_, p99)| p99),
        cpu,
        load_cpu: (process_cpu() - all0) / elapsed - if T::IN_PROCESS { cpu } else { 0.0 },
        received,
    }
}

/// Measures one step of `publishers` × `subscribers` and prints it; the
/// first step sets `per_pair`, what every pair should deliver a second.
async fn step(
    load: &impl Target,
    (p, s): (usize, usize),
    window: Duration,
    per_pair: &mut Option<f64>,
) -> Reading {
    let pairs = (p * s) as f64;
    let w = measure(load, window).await;
    let expected = *per_pair.get_or_insert(w.received / pairs) * pairs;
    let r = Reading {
        pps: w.pps,
        cpu: w.cpu,
        p99_us: w.p99_us,
        loss: (1.0 - w.received / expected.max(1.0)).max(0.0),
    };
    println!(
        "  {p:>3} publishers × {s:>4} subscribers: forwarded {:>8.0} packets/s, SFU core {:>5.1} %, {:>8.0} packets per CPU-second, p99 {:>5} µs, loss {:>5.2} % (counted/forwarded {:.3}; load core {:>5.1} %)",
        r.pps,
        r.cpu * 100.0,
        r.pps / r.cpu.max(1e-9),
        r.p99_text(),
        r.loss * 100.0,
        w.received / r.pps.max(1.0),
        w.load_cpu * 100.0,
    );
    r
}

/// Runs the ramp on `load` over `steps` of (publishers, subscribers),
/// measuring each for `window`; prints each step and returns the best
/// reading that passed.
pub async fn ramp(
    mut load: impl Target,
    (steps, window): (&[(usize, usize)], Duration),
) -> Option<Reading> {
    // Datagrams per (publisher, subscriber) pair per second, from the
    // first, lightest step: what every later step should deliver.
    let mut per_pair = None;
    let mut best: Option<Reading> = None;
    for &(p, s) in steps {
        load.grow(p, s).await;
        if let Some(per_pair) = per_pair {
            settle(&load, per_pair * (p * s) as f64).await;
        }
        let mut r = step(&load, (p, s), window, &mut per_pair).await;
        if !r.passes() {
            // One window on a shared 2-core machine can catch a stall of
            // the load (or of the virtual machine); a step fails only when
            // a second window fails too (the first step too: its first
            // window sets what every pair should deliver, so only its
            // delay can fail it).
            r = step(&load, (p, s), window, &mut per_pair).await;
        }
        if !r.passes() {
            break;
        }
        if best.is_none_or(|b| r.pps > b.pps) {
            best = Some(r);
        }
    }
    load.leave().await;
    best
}
