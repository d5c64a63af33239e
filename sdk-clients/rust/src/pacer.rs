//! A publisher's video, paced as libwebrtc's paced sender paces it.
//!
//! A frame written whole is packetized at once, and its packets sent back
//! to back are a burst at line rate: it fills the queues on the way, and in
//! an SFU every subscriber's copy of the frame's last packet waits behind
//! the copies of all the packets before it. Browsers never send that way:
//! libwebrtc lets video out at 2.5 times the bitrate it is sending. This
//! pacer does the same with the rate sent over the last second (no
//! bandwidth estimate here), holding only RTP video: audio, RTCP and the
//! handshakes leave at once. Sans-IO: the caller owns the clock and the
//! socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::net::Transmit;
use str0m::Rtc;

/// Video leaves at this multiple of the rate sent (libwebrtc's default).
const PACING_FACTOR: f64 = 2.5;
/// The pacing rate never goes below this, bits per second: the first frame
/// (no rate measured yet) and a low layer still leave within milliseconds.
const MIN_RATE: f64 = 1_000_000.0;
/// The rate is measured over two windows of this length.
const WINDOW: Duration = Duration::from_millis(500);
/// The queue is sent within this at most: a rate that falls behind (a
/// keyframe far above the average) is raised, as libwebrtc raises it.
const MAX_QUEUE_TIME: Duration = Duration::from_millis(250);
/// Packets held at most; beyond it the oldest is dropped (a stalled loop
/// must not grow memory without bound).
const MAX_QUEUED: usize = 2_000;

/// A datagram the pacer can look into.
pub trait Datagram {
    /// Its bytes.
    fn bytes(&self) -> &[u8];
}

impl Datagram for Transmit {
    fn bytes(&self) -> &[u8] {
        &self.contents
    }
}

/// Holds RTP video packets and lets them out at a pace (see the module).
pub struct Pacer<T> {
    /// Held packets, when each was pushed and its size, oldest first.
    queue: VecDeque<(T, Instant, usize)>,
    /// Bytes held.
    queued_bytes: usize,
    /// When the next held packet may leave.
    next_at: Option<Instant>,
    /// Start of the current rate window, and bytes sent in it and in the
    /// one before.
    window: Option<(Instant, usize, usize)>,
    /// RTP payload types that are not paced (audio).
    unpaced: Vec<u8>,
}

impl<T> Default for Pacer<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_at: None,
            window: None,
            unpaced: Vec::new(),
        }
    }
}

impl<T: Datagram> Pacer<T> {
    /// A pacer for what `rtc` sends: its audio payload types leave at once.
    pub fn for_connection(rtc: &Rtc) -> Self {
        let mut pacer = Self::default();
        let audio = rtc
            .codec_config()
            .iter()
            .filter(|p| p.spec().codec.is_audio());
        pacer.unpaced = audio.map(|p| *p.pt()).collect();
        pacer
    }

    /// Takes datagram `item`, written at `now`: returns it if it leaves at
    /// once, or holds it for [`Pacer::poll`].
    pub fn push(&mut self, now: Instant, item: T) -> Option<T> {
        let size = item.bytes().len();
        self.count(now, size);
        if !self.paces(item.bytes()) {
            return Some(item);
        }
        let due = self.next_at.is_none_or(|t| t <= now);
        if self.queue.is_empty() && due {
            self.charge(now, now, size);
            return Some(item);
        }
        if self.queue.len() == MAX_QUEUED {
            if let Some((_, _, size)) = self.queue.pop_front() {
                self.queued_bytes -= size;
                tracing::debug!("pacer full: oldest video packet dropped");
            }
        }
        self.queued_bytes += size;
        self.queue.push_back((item, now, size));
        None
    }

    /// The next held packet, if it may leave at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        let at = self.next_at.filter(|_| !self.queue.is_empty())?;
        if at > now {
            return None;
        }
        let (item, _, size) = self.queue.pop_front()?;
        self.queued_bytes -= size;
        self.charge(at, now, size);
        Some(item)
    }

    /// When the next held packet may leave (None: nothing held).
    pub fn timeout(&self) -> Option<Instant> {
        self.next_at.filter(|_| !self.queue.is_empty())
    }

    /// Whether `bytes` is RTP video: RTP (RFC 5761: not RTCP's types)
    /// whose payload type is not one of the unpaced.
    fn paces(&self, bytes: &[u8]) -> bool {
        match bytes {
            [first, second, ..] if (128..=191).contains(first) => {
                let pt = second & 0x7f;
                !(64..=95).contains(&pt) && !self.unpaced.contains(&pt)
            }
            _ => false,
        }
    }

    /// Notes `size` bytes sent at `now`, for the rate.
    fn count(&mut self, now: Instant, size: usize) {
        let (start, current, previous) = self.window.get_or_insert((now, 0, 0));
        let elapsed = now.saturating_duration_since(*start);
        if elapsed >= WINDOW {
            // A gap of two windows or more leaves nothing to remember.
            *previous = if elapsed < 2 * WINDOW { *current } else { 0 };
            *current = 0;
            *start = now;
        }
        *current += size;
    }

    /// Bits per second sent over the last one or two windows.
    fn sent_rate(&self, now: Instant) -> f64 {
        let Some((start, current, previous)) = self.window else {
            return 0.0;
        };
        let span = WINDOW + now.saturating_duration_since(start);
        (current + previous) as f64 * 8.0 / span.as_secs_f64()
    }

    /// A packet of `size` bytes left at `at` (noticed at `now`): the next
    /// may leave when it has gone at the pacing rate.
    fn charge(&mut self, at: Instant, now: Instant, size: usize) {
        // What is held must be gone before its oldest is MAX_QUEUE_TIME old.
        let oldest = self.queue.front().map_or(now, |(_, pushed, _)| *pushed);
        let left = MAX_QUEUE_TIME
            .saturating_sub(now.saturating_duration_since(oldest))
            .max(Duration::from_millis(1));
        let drain = self.queued_bytes as f64 * 8.0 / left.as_secs_f64();
        let rate = (self.sent_rate(now) * PACING_FACTOR)
            .max(MIN_RATE)
            .max(drain);
        let gap = Duration::from_secs_f64(size as f64 * 8.0 / rate);
        // A late wake-up sends one more at once, not a burst.
        self.next_at = Some((at + gap).max(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Datagram for Vec<u8> {
        fn bytes(&self) -> &[u8] {
            self
        }
    }

    /// An RTP packet of `size` bytes with payload type `pt`.
    fn rtp(pt: u8, size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[0] = 0x80;
        p[1] = pt;
        p
    }

    /// Pushes a frame of `n` video packets at `now`, numbered in their
    /// third byte; returns how many left at once.
    fn frame(pacer: &mut Pacer<Vec<u8>>, now: Instant, n: usize) -> usize {
        let packet = |i: usize| {
            let mut p = rtp(96, 1200);
            p[2] = i as u8;
            p
        };
        (0..n)
            .filter(|i| pacer.push(now, packet(*i)).is_some())
            .count()
    }

    /// Runs the pacer on virtual time from `start` until it holds nothing;
    /// when each packet left, checking they leave in order.
    fn drain(pacer: &mut Pacer<Vec<u8>>, start: Instant) -> Vec<Instant> {
        let mut now = start;
        let mut left: Vec<Instant> = Vec::new();
        let mut last = None;
        while let Some(t) = pacer.timeout() {
            now = now.max(t);
            while let Some(p) = pacer.poll(now) {
                assert!(
                    last.is_none_or(|l: u8| p[2] == l.wrapping_add(1)),
                    "in order"
                );
                last = Some(p[2]);
                left.push(now);
            }
        }
        left
    }

    #[test]
    fn a_frame_is_spread_at_the_pacing_rate() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        assert_eq!(
            frame(&mut pacer, start, 5),
            1,
            "the first packet leaves at once"
        );
        let left = drain(&mut pacer, start);
        assert_eq!(left.len(), 4);
        // Nothing measured yet: 1200 bytes at the 1 Mbit/s floor is 9.6 ms
        // apiece (the queue is small enough not to raise it much).
        let last = left[3].duration_since(start);
        assert!(last > Duration::from_millis(30), "{last:?}");
        assert!(last < Duration::from_millis(40), "{last:?}");
        assert!(left.windows(2).all(|w| w[0] < w[1]), "one at a time");
    }

    #[test]
    fn the_rate_follows_what_is_sent() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        // 2 s of 30 frames a second, 5 packets each: 1.44 Mbit/s, paced at
        // 3.6 Mbit/s, so a frame takes about 10.7 ms.
        let mut spread = Duration::ZERO;
        for f in 0..60u32 {
            let at = start + Duration::from_millis(33) * f;
            frame(&mut pacer, at, 5);
            let left = drain(&mut pacer, at);
            spread = left.last().map_or(Duration::ZERO, |t| t.duration_since(at));
        }
        assert!(spread > Duration::from_millis(8), "{spread:?}");
        assert!(spread < Duration::from_millis(14), "{spread:?}");
    }

    #[test]
    fn audio_rtcp_and_handshakes_are_not_held() {
        let mut pacer = Pacer {
            unpaced: vec![111],
            ..Default::default()
        };
        let now = Instant::now();
        frame(&mut pacer, now, 5);
        assert!(pacer.timeout().is_some());
        for (what, datagram) in [
            ("audio", rtp(111, 100)),
            ("RTCP SR", rtp(200, 60)),
            ("STUN", vec![0, 1, 0, 0]),
            ("DTLS", vec![22, 254, 253]),
            ("empty", vec![]),
        ] {
            assert!(pacer.push(now, datagram).is_some(), "{what}");
        }
        assert!(pacer.push(now, rtp(96, 1200)).is_none(), "video is held");
    }

    #[test]
    fn a_connections_audio_is_not_held() {
        let now = Instant::now();
        let rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(now);
        let pt = |audio: bool| {
            let mut params = rtc.codec_config().iter();
            params
                .find(|p| p.spec().codec.is_audio() == audio)
                .map(|p| *p.pt())
        };
        let (Some(opus), Some(vp8)) = (pt(true), pt(false)) else {
            panic!("both codecs configured");
        };
        let mut pacer = Pacer::for_connection(&rtc);
        assert!(
            pacer.push(now, rtp(vp8, 1200)).is_some(),
            "the first leaves"
        );
        assert!(
            pacer.push(now, rtp(vp8, 1200)).is_none(),
            "the next video waits"
        );
        assert!(pacer.push(now, rtp(opus, 100)).is_some(), "audio does not");
    }

    #[test]
    fn a_big_backlog_raises_the_rate_and_the_queue_is_bounded() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        // 1.2 MB at once: at the floor it would take 9.6 s.
        frame(&mut pacer, start, 1_000);
        let left = drain(&mut pacer, start);
        let took = left.last().map(|t| t.duration_since(start));
        assert!(took < Some(Duration::from_millis(500)), "{took:?}");
        frame(&mut pacer, start, MAX_QUEUED + 10);
        assert_eq!(pacer.queue.len(), MAX_QUEUED);
    }
}
