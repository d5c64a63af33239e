//! What a worker tells `/metrics`. The forwarding loop counts in plain
//! integers ([`Counts`], no atomic and no lock per packet); every
//! housekeeping round hands them to the `metrics` registry through
//! handles made once per worker ([`Published`]).

use std::time::Duration;

use ::metrics::{counter, gauge, Counter, Gauge};

/// Counts since the last flush.
#[derive(Default)]
pub(super) struct Counts {
    /// RTP packets sent on to subscribers.
    pub packets: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Keyframe requests (PLIs) sent to publishers.
    pub plis: u64,
    /// Keyframe requests subscribers sent us.
    pub plis_received: u64,
    /// Retransmission requests subscribers sent us.
    pub nacks_received: u64,
    /// Retransmission requests we sent publishers.
    pub nacks_sent: u64,
    /// Datagrams dropped: unknown or malformed, or refused by their peer.
    pub dropped: u64,
    /// Time spent handling datagrams, commands and timers.
    pub busy: Duration,
    /// The most datagrams seen waiting at once.
    pub queue_peak: usize,
}

/// Where one worker's figures go (labelled with its number).
pub(super) struct Published {
    packets: Counter,
    bytes: Counter,
    plis: Counter,
    plis_received: Counter,
    nacks_received: Counter,
    nacks_sent: Counter,
    dropped: Counter,
    busy_us: Counter,
    queue: Gauge,
    participants: Gauge,
    published: Gauge,
    subscribed: Gauge,
}

/// What the worker holds now, for the gauges.
pub(super) struct Load {
    /// Participants with media on this worker.
    pub participants: usize,
    /// Tracks published into it.
    pub published: usize,
    /// Tracks sent to subscribers.
    pub subscribed: usize,
}

impl Published {
    /// The handles of worker `index`.
    pub fn new(index: usize) -> Self {
        let w = index.to_string();
        Published {
            packets: counter!("onair_sfu_forwarded_packets_total", "worker" => w.clone()),
            bytes: counter!("onair_sfu_forwarded_bytes_total", "worker" => w.clone()),
            plis: counter!("onair_sfu_plis_sent_total", "worker" => w.clone()),
            plis_received: counter!("onair_sfu_plis_received_total", "worker" => w.clone()),
            nacks_received: counter!("onair_sfu_nacks_received_total", "worker" => w.clone()),
            nacks_sent: counter!("onair_sfu_nacks_sent_total", "worker" => w.clone()),
            dropped: counter!("onair_sfu_dropped_packets_total", "worker" => w.clone()),
            busy_us: counter!("onair_sfu_worker_busy_microseconds_total", "worker" => w.clone()),
            queue: gauge!("onair_sfu_worker_queue_peak", "worker" => w.clone()),
            participants: gauge!("onair_sfu_participants", "worker" => w.clone()),
            published: gauge!("onair_sfu_published_tracks", "worker" => w.clone()),
            subscribed: gauge!("onair_sfu_subscribed_tracks", "worker" => w),
        }
    }

    /// Hands over `counts` (and starts them again) and the worker's `load`.
    pub fn flush(&self, counts: &mut Counts, load: Load) {
        let c = std::mem::take(counts);
        self.packets.increment(c.packets);
        self.bytes.increment(c.bytes);
        self.plis.increment(c.plis);
        self.plis_received.increment(c.plis_received);
        self.nacks_received.increment(c.nacks_received);
        self.nacks_sent.increment(c.nacks_sent);
        self.dropped.increment(c.dropped);
        self.busy_us.increment(c.busy.as_micros() as u64);
        self.queue.set(c.queue_peak as f64);
        self.participants.set(load.participants as f64);
        self.published.set(load.published as f64);
        self.subscribed.set(load.subscribed as f64);
    }
}
