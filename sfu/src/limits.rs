//! What one client may ask of the SFU: how many tracks, how many ids in a
//! message, how many messages a second, how much queued toward it. Each
//! limit hit is logged once per client and counted.

use std::time::{Duration, Instant};

/// Per-client limits of the signal connection (`[limits]` in the config).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalLimits {
    /// Tracks one participant may publish at once.
    pub tracks_per_participant: usize,
    /// Track ids one subscription or settings message may name (more are ignored).
    pub ids_per_message: usize,
    /// Explicit subscription entries one participant may hold (existing tracks only).
    pub subscriptions_per_participant: usize,
    /// Signal messages a second a client may send on average…
    pub messages_per_second: u32,
    /// …and in a burst. A client over it has messages dropped, and is
    /// disconnected if it keeps on.
    pub message_burst: u32,
    /// Messages queued toward a client that does not read before it is
    /// disconnected.
    pub outbox: usize,
    /// Participants in one room, whatever the call's own limit.
    pub participants_per_room: usize,
    /// A participant's name, in bytes (LiveKit's limit).
    pub name_bytes: usize,
    /// A participant's metadata, in bytes (LiveKit's limit).
    pub metadata_bytes: usize,
    /// A participant's attributes, keys and values together, in bytes
    /// (LiveKit's limit).
    pub attributes_bytes: usize,
}

impl Default for SignalLimits {
    fn default() -> Self {
        Self {
            tracks_per_participant: 16,
            ids_per_message: 100,
            subscriptions_per_participant: 1000,
            messages_per_second: 50,
            message_burst: 200,
            outbox: 1024,
            participants_per_room: 1000,
            name_bytes: 256,
            metadata_bytes: 64_000,
            attributes_bytes: 64_000,
        }
    }
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Messages per second: a message dropped.
    Rate,
    /// A client disconnected for flooding.
    Flood,
    /// A client disconnected for not reading.
    Outbox,
    /// Tracks per participant (or a track name too long).
    Tracks,
    /// Ids per message or per participant.
    Ids,
    /// A join refused: the call or room was full.
    Full,
    /// A name, metadata or attributes update over its size.
    Metadata,
    /// A data packet over its size.
    Data,
}

impl Limit {
    /// The label of its counter.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Rate => "signal_rate",
            Limit::Flood => "signal_flood",
            Limit::Outbox => "signal_outbox",
            Limit::Tracks => "tracks",
            Limit::Ids => "ids",
            Limit::Full => "room_full",
            Limit::Metadata => "metadata",
            Limit::Data => "data_packet",
        }
    }
}

/// Counts `n` hits of `limit` (`onair_limit_hits_total{limit=…}`, for the
/// metrics endpoint to expose).
pub fn count(limit: Limit, n: u64) {
    metrics::counter!("onair_limit_hits_total", "limit" => limit.as_str()).increment(n);
}

/// Remembers which limits a client hit, so each is logged once.
#[derive(Debug, Default)]
pub struct Logged(Vec<Limit>);

impl Logged {
    /// True the first time `limit` is hit by this client.
    pub fn first(&mut self, limit: Limit) -> bool {
        if self.0.contains(&limit) {
            return false;
        }
        self.0.push(limit);
        true
    }
}

/// A token bucket over one client's signal messages.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Messages dropped since the client was last within its rate.
    dropped: u32,
}

/// What to do with one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Pass,
    /// Drop it: the client is over its rate.
    Drop,
    /// Disconnect: the client kept on flooding (a burst's worth dropped).
    Disconnect,
}

impl RateLimit {
    /// A full bucket at `now`.
    pub fn new(limits: &SignalLimits, now: Instant) -> Self {
        Self {
            per_second: f64::from(limits.messages_per_second.max(1)),
            burst: f64::from(limits.message_burst.max(1)),
            tokens: f64::from(limits.message_burst.max(1)),
            last: now,
            dropped: 0,
        }
    }

    /// Takes one message arriving at `now`.
    pub fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped = 0;
            return Verdict::Pass;
        }
        self.dropped += 1;
        if f64::from(self.dropped) >= self.burst {
            Verdict::Disconnect
        } else {
            Verdict::Drop
        }
    }
}

/// How often a connected client is handed a fresh join token: halfway
/// through a token's life, so it always holds one valid for a resume.
pub fn refresh_interval(ttl: Duration) -> Duration {
    (ttl / 2).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32) -> SignalLimits {
        SignalLimits {
            messages_per_second: per_second,
            message_burst: burst,
            ..SignalLimits::default()
        }
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(&limits(10, 5), t0);
        for _ in 0..5 {
            assert_eq!(rl.take(t0), Verdict::Pass);
        }
        assert_eq!(rl.take(t0), Verdict::Drop);
        // 100 ms later one more token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.take(t1), Verdict::Pass);
        assert_eq!(rl.take(t1), Verdict::Drop);
    }

    #[test]
    fn a_client_that_keeps_flooding_is_disconnected() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(&limits(10, 5), t0);
        let verdicts: Vec<Verdict> = (0..10).map(|_| rl.take(t0)).collect();
        assert_eq!(
            verdicts[..5],
            [
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass
            ]
        );
        assert_eq!(
            verdicts[5..9],
            [Verdict::Drop, Verdict::Drop, Verdict::Drop, Verdict::Drop]
        );
        assert_eq!(verdicts[9], Verdict::Disconnect);
    }

    #[test]
    fn a_steady_client_is_never_dropped() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(&limits(10, 5), t0);
        for i in 0..1000 {
            let now = t0 + Duration::from_millis(100 * i);
            assert_eq!(rl.take(now), Verdict::Pass, "message {i}");
        }
    }

    #[test]
    fn each_limit_is_logged_once() {
        let mut logged = Logged::default();
        assert!(logged.first(Limit::Rate));
        assert!(!logged.first(Limit::Rate));
        assert!(logged.first(Limit::Ids));
    }
}
