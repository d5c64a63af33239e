//! Arbitrary packet sequences through one subscriber's down track (layer
//! switches, reordering, sequence and timestamp wraps, VP8 ids): whatever
//! arrives, it must not panic, and what it forwards must never reuse a
//! sequence number.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use onair_sfu::media::downtrack::{DownTrack, Incoming, Vp8Ids};

#[derive(Arbitrary, Debug)]
enum Step {
    Packet {
        layer: u8,
        seq: u32,
        ts: u32,
        after_ms: u8,
        keyframe_start: bool,
        vp8: Option<(u16, bool, Option<u8>)>,
    },
    Target(Option<u8>),
}

fuzz_target!(|steps: Vec<Step>| {
    let mut track = DownTrack::new(90_000, Some(2));
    let mut now = Instant::now();
    let mut given = HashMap::new();
    for step in steps {
        match step {
            Step::Target(t) => track.set_target(t.map(|l| l % 3)),
            Step::Packet {
                layer,
                seq,
                ts,
                after_ms,
                keyframe_start,
                vp8,
            } => {
                now += Duration::from_millis(u64::from(after_ms));
                let incoming = Incoming {
                    layer: layer % 3,
                    seq: u64::from(seq),
                    ts,
                    arrival: now,
                    keyframe_start,
                    vp8: vp8.map(|(picture_id, wide, tl0)| Vp8Ids {
                        picture_id: picture_id & if wide { 0x7fff } else { 0x7f },
                        wide,
                        tl0,
                    }),
                };
                if let Some(out) = track.forward(&incoming) {
                    // The same packet again (a resend) keeps its number; a
                    // number given to another packet is a bug.
                    let packet = (layer % 3, u64::from(seq));
                    if let Some(earlier) = given.insert(out.seq, packet) {
                        assert_eq!(earlier, packet, "sequence number {} given twice", out.seq);
                    }
                }
            }
        }
    }
});
