//! One forwarded track toward one subscriber.
//!
//! Picks which simulcast layer reaches the subscriber and rewrites sequence
//! numbers, RTP timestamps and VP8 picture ids so the subscriber sees one
//! continuous stream across layer switches. A switch happens only at a
//! keyframe of the new layer; until then the old layer keeps flowing, so
//! the picture never freezes. Pure: no I/O, no allocation.

use std::time::Instant;

/// VP8 ids to keep continuous (RFC 7741 payload descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vp8Ids {
    /// PictureID.
    pub picture_id: u16,
    /// Whether PictureID is 15 bits wide (else 7).
    pub wide: bool,
    /// TL0PICIDX, when present.
    pub tl0: Option<u8>,
}

impl Vp8Ids {
    /// Parses the VP8 payload descriptor; `None` if it carries no PictureID.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let first = *payload.first()?;
        if first & 0x80 == 0 {
            return None; // no extension byte
        }
        let ext = *payload.get(1)?;
        if ext & 0x80 == 0 {
            return None; // no PictureID
        }
        let mut at = 2;
        let b = *payload.get(at)?;
        let (picture_id, wide) = if b & 0x80 != 0 {
            let lo = *payload.get(at + 1)?;
            at += 2;
            ((u16::from(b & 0x7f) << 8) | u16::from(lo), true)
        } else {
            at += 1;
            (u16::from(b), false)
        };
        let tl0 = if ext & 0x40 != 0 {
            Some(*payload.get(at)?)
        } else {
            None
        };
        Some(Self {
            picture_id,
            wide,
            tl0,
        })
    }
}

/// An incoming packet as the down track needs to see it.
#[derive(Clone, Copy, Debug)]
pub struct Incoming {
    /// Simulcast layer index (0 = lowest; 0 without simulcast).
    pub layer: u8,
    /// Extended sequence number.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// Arrival time.
    pub arrival: Instant,
    /// First packet of a keyframe.
    pub keyframe_start: bool,
    /// VP8 ids, for VP8 video.
    pub vp8: Option<Vp8Ids>,
}

/// What to write toward the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Sequence number (starts small: SRTP needs no ROC signalling).
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// Rewritten VP8 ids, when the input had them.
    pub vp8: Option<Vp8Ids>,
    /// True when this packet starts a new layer (a keyframe).
    pub switched: bool,
}

/// Forwarding state of one track to one subscriber.
#[derive(Debug)]
pub struct DownTrack {
    clock_rate: u32,
    target: Option<u8>,
    current: Option<u8>,
    seq_offset: u64,
    /// The incoming sequence number the current layer started at.
    switch_seq: u64,
    next_seq: u64,
    ts_offset: u32,
    last: Option<(u32, Instant)>,
    pid_offset: u16,
    last_pid: Option<u16>,
    tl0_offset: u8,
    last_tl0: Option<u8>,
}

/// First outgoing sequence number.
const FIRST_SEQ: u64 = 1;

impl DownTrack {
    /// A down track for media at `clock_rate` Hz, forwarding `target` (None: paused).
    pub fn new(clock_rate: u32, target: Option<u8>) -> Self {
        Self {
            clock_rate,
            target,
            current: None,
            seq_offset: 0,
            switch_seq: 0,
            next_seq: FIRST_SEQ,
            ts_offset: 0,
            last: None,
            pid_offset: 0,
            last_pid: None,
            tl0_offset: 0,
            last_tl0: None,
        }
    }

    /// Continues where `prev` stopped (its sequence numbers, timeline and
    /// VP8 picture ids): a new track on an outgoing stream that carried
    /// another starts as a layer switch does, without a jump back.
    pub fn continue_from(&mut self, prev: &DownTrack) {
        self.next_seq = prev.next_seq;
        self.last = prev.last;
        self.last_pid = prev.last_pid;
        self.last_tl0 = prev.last_tl0;
    }

    /// The layer the subscriber should get (None pauses it).
    pub fn set_target(&mut self, target: Option<u8>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    /// The wanted layer.
    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// The layer being forwarded now.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// True while the target layer is not flowing yet (a keyframe is needed).
    pub fn wants_keyframe(&self) -> bool {
        self.target.is_some() && self.current != self.target
    }

    /// Decides about one incoming packet; `None` drops it.
    pub fn forward(&mut self, p: &Incoming) -> Option<Outgoing> {
        let target = self.target?;
        let mut switched = false;
        if self.current != Some(p.layer) {
            if p.layer != target || !p.keyframe_start {
                return None;
            }
            self.switch_to(p);
            switched = true;
        }
        // A packet of this layer from before the switch (late, or resent)
        // would take numbers already used for the previous layer.
        if p.seq < self.switch_seq {
            return None;
        }
        let seq = p.seq.wrapping_sub(self.seq_offset);
        if seq >= self.next_seq {
            self.next_seq = seq.wrapping_add(1);
        }
        let ts = p.ts.wrapping_add(self.ts_offset);
        self.last = Some((ts, p.arrival));
        let vp8 = p.vp8.map(|ids| self.rewrite_vp8(ids));
        Some(Outgoing {
            seq,
            ts,
            vp8,
            switched,
        })
    }

    fn switch_to(&mut self, p: &Incoming) {
        self.current = Some(p.layer);
        // Continue the outgoing sequence without a gap.
        self.switch_seq = p.seq;
        self.seq_offset = p.seq.wrapping_sub(self.next_seq);
        // Continue the timeline: last timestamp plus the wall time since.
        self.ts_offset = match self.last {
            Some((last_ts, at)) => {
                let elapsed = p.arrival.saturating_duration_since(at);
                let ticks = (elapsed.as_secs_f64() * f64::from(self.clock_rate)).max(1.0) as u32;
                last_ts.wrapping_add(ticks).wrapping_sub(p.ts)
            }
            None => 0,
        };
        if let Some(ids) = p.vp8 {
            let mask = if ids.wide { 0x7fff } else { 0x7f };
            self.pid_offset = match self.last_pid {
                Some(last) => ids.picture_id.wrapping_sub(last.wrapping_add(1)) & mask,
                None => 0,
            };
            if let Some(tl0) = ids.tl0 {
                self.tl0_offset = match self.last_tl0 {
                    Some(last) => tl0.wrapping_sub(last.wrapping_add(1)),
                    None => 0,
                };
            }
        }
    }

    fn rewrite_vp8(&mut self, ids: Vp8Ids) -> Vp8Ids {
        let mask = if ids.wide { 0x7fff } else { 0x7f };
        let picture_id = ids.picture_id.wrapping_sub(self.pid_offset) & mask;
        let tl0 = ids.tl0.map(|t| t.wrapping_sub(self.tl0_offset));
        self.last_pid = Some(picture_id);
        if tl0.is_some() {
            self.last_tl0 = tl0;
        }
        Vp8Ids {
            picture_id,
            wide: ids.wide,
            tl0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pkt(layer: u8, seq: u64, ts: u32, key: bool, pid: u16, at: Instant) -> Incoming {
        Incoming {
            layer,
            seq,
            ts,
            arrival: at,
            keyframe_start: key,
            vp8: Some(Vp8Ids {
                picture_id: pid,
                wide: true,
                tl0: Some(pid as u8),
            }),
        }
    }

    #[test]
    fn waits_for_a_keyframe_then_rebases_sequence() {
        let t0 = Instant::now();
        let mut d = DownTrack::new(90_000, Some(2));
        assert!(
            d.forward(&pkt(2, 5000, 100, false, 40, t0)).is_none(),
            "no keyframe yet"
        );
        assert!(d.wants_keyframe());
        let first = d.forward(&pkt(2, 5001, 100, true, 41, t0)).unwrap();
        assert_eq!(
            (first.seq, first.ts, first.switched),
            (FIRST_SEQ, 100, true)
        );
        let next = d.forward(&pkt(2, 5002, 3100, false, 42, t0)).unwrap();
        assert_eq!(next.seq, FIRST_SEQ + 1);
        // A late packet from before the keyframe: dropped (it once
        // overflowed the sequence and killed the media thread).
        assert!(d.forward(&pkt(2, 5000, 100, false, 40, t0)).is_none());
        assert!(!d.wants_keyframe());
        // Other layers are ignored.
        assert!(d.forward(&pkt(0, 70, 9, true, 7, t0)).is_none());
    }

    #[test]
    fn switches_layers_only_at_a_keyframe_and_stays_continuous() {
        let t0 = Instant::now();
        let mut d = DownTrack::new(90_000, Some(2));
        d.forward(&pkt(2, 100, 1000, true, 500, t0)).unwrap();
        let last = d.forward(&pkt(2, 101, 4000, false, 501, t0)).unwrap();
        d.set_target(Some(0));
        // Old layer keeps flowing until the new one has a keyframe.
        let kept = d.forward(&pkt(2, 102, 7000, false, 502, t0)).unwrap();
        assert_eq!(kept.seq, last.seq + 1);
        assert!(d.forward(&pkt(0, 9000, 555_000, false, 30, t0)).is_none());
        let later = t0 + Duration::from_millis(33);
        let switched = d.forward(&pkt(0, 9001, 558_000, true, 31, later)).unwrap();
        assert!(switched.switched);
        assert_eq!(
            switched.seq,
            kept.seq + 1,
            "no sequence gap across the switch"
        );
        assert_eq!(
            switched.ts,
            7000 + 2970,
            "timeline continues by wall time (33 ms at 90 kHz)"
        );
        let vp8 = switched.vp8.unwrap();
        assert_eq!(vp8.picture_id, 503, "picture id continues");
        assert_eq!(vp8.tl0, Some(503u16 as u8));
        // And the old layer is now dropped.
        assert!(d.forward(&pkt(2, 103, 10_000, true, 503, later)).is_none());
        let next = d.forward(&pkt(0, 9002, 561_000, false, 32, later)).unwrap();
        assert_eq!(
            (next.seq, next.ts, next.vp8.unwrap().picture_id),
            (switched.seq + 1, switched.ts + 3000, 504)
        );
    }

    #[test]
    fn paused_drops_everything() {
        let t0 = Instant::now();
        let mut d = DownTrack::new(48_000, None);
        assert!(d.forward(&pkt(0, 1, 1, true, 1, t0)).is_none());
        assert!(!d.wants_keyframe());
    }

    #[test]
    fn picture_id_wraps_within_its_width() {
        let t0 = Instant::now();
        let mut d = DownTrack::new(90_000, Some(0));
        d.forward(&pkt(0, 1, 0, true, 0x7ffe, t0)).unwrap();
        let a = d.forward(&pkt(0, 2, 0, false, 0x7fff, t0)).unwrap();
        let b = d.forward(&pkt(0, 3, 0, false, 0, t0)).unwrap();
        assert_eq!(
            (a.vp8.unwrap().picture_id, b.vp8.unwrap().picture_id),
            (0x7fff, 0)
        );
    }

    #[test]
    fn parses_vp8_descriptors() {
        // X=1,S=1 | I=1,L=1 | M=1 pid 0x1234 | tl0 9
        assert_eq!(
            Vp8Ids::parse(&[0x90, 0xC0, 0x92, 0x34, 9, 0]),
            Some(Vp8Ids {
                picture_id: 0x1234,
                wide: true,
                tl0: Some(9)
            })
        );
        assert_eq!(
            Vp8Ids::parse(&[0x90, 0x80, 0x12, 0]),
            Some(Vp8Ids {
                picture_id: 0x12,
                wide: false,
                tl0: None
            })
        );
        assert_eq!(Vp8Ids::parse(&[0x10, 0]), None);
        assert_eq!(Vp8Ids::parse(&[0x90, 0xC0, 0x92]), None, "truncated");
        assert_eq!(Vp8Ids::parse(&[]), None);
    }
}
