//! The copy here of one far track, packet by packet: which of its layers
//! each far receiver fills, where a layer may start, and each packet's
//! sequence number and RTP time in the copy.
//!
//! A copy's layers come from different receivers on the far node, each
//! with its own sequence numbers and RTP clock: a layer starts at a
//! keyframe (for VP8 one of its own size: a receiver's first packets may
//! be of another layer until it is tuned), and its time then is the time
//! since the copy's first packet arrived, so the layers stay in step as a
//! subscriber switches.

use std::time::Instant;

use onair_client::files::vp8_packet_size;
use onair_client::{Codec, LocalLayer, LocalPacket, LocalTrack, RemotePacket, Source};

use crate::receivers::TOP;

/// Simulcast rids, lowest first.
pub(crate) const RIDS: [&str; 3] = ["q", "h", "f"];

/// One far track, published here.
pub(crate) struct TrackCopy {
    /// Its sid here.
    pub(crate) sid: String,
    pub(crate) video: bool,
    /// Its layers' sizes, lowest first (none: one layer).
    pub(crate) sizes: Vec<(u32, u32)>,
    /// Its RTP clock, in ticks per second.
    clock: u64,
    /// When the copy's first packet arrived.
    epoch: Option<Instant>,
    /// Per layer, where it started.
    starts: [Option<Start>; 3],
}

/// Where a layer of a copy started: its first packet's far sequence
/// number and RTP time, and the copy's RTP time then.
#[derive(Clone, Copy, Debug)]
struct Start {
    far_seq: u64,
    far_time: u64,
    time: u64,
}

impl TrackCopy {
    /// The copy, published as `sid`, of a far track in `codec` with
    /// layers of `sizes` (lowest first; none: one layer).
    pub(crate) fn new(sid: String, codec: Codec, sizes: Vec<(u32, u32)>) -> TrackCopy {
        let video = codec != Codec::Opus;
        TrackCopy {
            sid,
            video,
            sizes,
            clock: if video { 90_000 } else { 48_000 },
            epoch: None,
            starts: [None; 3],
        }
    }

    /// The layer of the copy that receiver `quality` fills, if any.
    pub(crate) fn layer_of(&self, quality: u8) -> Option<usize> {
        let n = self.sizes.len();
        match quality {
            TOP => Some(n.saturating_sub(1)),
            q if (q as usize) + 1 < n => Some(q as usize),
            _ => None,
        }
    }

    /// The rid of `layer`, if the copy has several.
    pub(crate) fn rid(&self, layer: usize) -> Option<&'static str> {
        (self.sizes.len() > 1).then(|| RIDS[layer])
    }

    /// Whether `packet` may start `layer`: audio anywhere, video at a
    /// keyframe, for VP8 one of the layer's size.
    fn starts_with(&self, layer: usize, packet: &RemotePacket) -> bool {
        if !self.video {
            return true;
        }
        match (self.sizes.get(layer), packet.codec) {
            (Some(size), Codec::Vp8) => vp8_packet_size(&packet.payload) == Some(*size),
            _ => packet.keyframe,
        }
    }

    /// `packet` as `layer` of the copy sends it, starting the layer if it
    /// may; none before the layer starts.
    pub(crate) fn rewrite(&mut self, layer: usize, packet: &RemotePacket) -> Option<LocalPacket> {
        let start = match self.starts.get(layer)? {
            Some(start) => *start,
            None if self.starts_with(layer, packet) => {
                let epoch = *self.epoch.get_or_insert(packet.arrival);
                let since = packet.arrival.saturating_duration_since(epoch);
                let start = Start {
                    far_seq: packet.seq,
                    far_time: packet.time,
                    time: (since.as_secs_f64() * self.clock as f64) as u64,
                };
                self.starts[layer] = Some(start);
                start
            }
            None => return None,
        };
        // A retransmission of a packet from before the layer started.
        let after = packet.seq.checked_sub(start.far_seq)?;
        let time = start.time + packet.time.saturating_sub(start.far_time);
        Some(LocalPacket {
            seq: after + 1,
            time: time as u32,
            wallclock: packet.arrival,
            marker: packet.marker,
            payload: packet.payload.clone(),
            audio_level: packet.audio_level,
        })
    }
}

/// How far track `name` in `codec` is published here, with layers of
/// `sizes` (lowest first; none: one layer).
pub(crate) fn local_track(name: &str, codec: Codec, sizes: &[(u32, u32)]) -> LocalTrack {
    let audio = codec == Codec::Opus;
    let layer = |rid: Option<&str>, (width, height): (u32, u32)| LocalLayer {
        rid: rid.map(str::to_owned),
        width,
        height,
        frames: Vec::new(),
    };
    let layers = match (audio, sizes.len()) {
        (true, _) => vec![layer(None, (0, 0))],
        (false, 0 | 1) => vec![layer(None, sizes.first().copied().unwrap_or((1280, 720)))],
        (false, _) => (sizes.iter().zip(RIDS))
            .map(|(size, rid)| layer(Some(rid), *size))
            .collect(),
    };
    LocalTrack {
        name: name.to_owned(),
        source: if audio {
            Source::Microphone
        } else {
            Source::Camera
        },
        codec,
        layers,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const THREE: [(u32, u32); 3] = [(320, 180), (640, 360), (1280, 720)];

    /// A VP8 packet `seq` at RTP time `time`; the first of a keyframe
    /// `width` wide if given one.
    fn packet(width: Option<u16>, seq: u64, time: u64, arrival: Instant) -> RemotePacket {
        // Payload descriptor: S, PID 0; then the frame's first bytes.
        let mut payload = vec![0x10, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        if let Some(w) = width {
            payload = vec![0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
            payload.extend_from_slice(&w.to_le_bytes());
            payload.extend_from_slice(&(w * 9 / 16).to_le_bytes());
        }
        RemotePacket {
            track_sid: "TR_far".into(),
            identity: "alice".into(),
            codec: Codec::Vp8,
            seq,
            time,
            marker: false,
            keyframe: width.is_some(),
            arrival,
            payload: payload.into(),
            audio_level: None,
        }
    }

    #[test]
    fn each_receiver_fills_the_layer_of_its_quality() {
        let three = TrackCopy::new("TR_here".into(), Codec::Vp8, THREE.to_vec());
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| three.layer_of(*q)).collect();
        assert_eq!(layers, [Some(0), Some(1), Some(2)]);
        assert_eq!(three.rid(0), Some("q"));
        let two = TrackCopy::new("TR_here".into(), Codec::Vp8, THREE[..2].to_vec());
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| two.layer_of(*q)).collect();
        assert_eq!(layers, [Some(0), None, Some(1)]);
        let one = TrackCopy::new("TR_here".into(), Codec::Vp8, Vec::new());
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| one.layer_of(*q)).collect();
        assert_eq!(layers, [None, None, Some(0)]);
        assert_eq!(one.rid(0), None);
    }

    #[test]
    fn a_layer_starts_at_a_keyframe_of_its_size_in_step_with_the_others() {
        let mut copy = TrackCopy::new("TR_here".into(), Codec::Vp8, THREE.to_vec());
        let t0 = Instant::now();
        // The top layer starts the copy's clock.
        assert!(copy.rewrite(2, &packet(None, 10, 90_000, t0)).is_none());
        let first = copy
            .rewrite(2, &packet(Some(1280), 11, 90_000, t0))
            .unwrap();
        assert_eq!((first.seq, first.time), (1, 0));
        // Older than the layer's start: a retransmission, not copied.
        assert!(copy.rewrite(2, &packet(None, 10, 90_000, t0)).is_none());
        // The low layer's receiver still gets the top layer: not started.
        let later = t0 + Duration::from_millis(100);
        assert!(copy
            .rewrite(0, &packet(Some(1280), 500, 7_000, later))
            .is_none());
        // Its own keyframe, 100 ms into the copy, on another clock.
        let low = copy
            .rewrite(0, &packet(Some(320), 501, 7_000, later))
            .unwrap();
        assert_eq!((low.seq, low.time), (1, 9_000));
        // Half a second on, both layers are at the same time.
        let low = copy.rewrite(0, &packet(None, 530, 52_000, later)).unwrap();
        let top = copy.rewrite(2, &packet(None, 60, 144_000, later)).unwrap();
        assert_eq!((low.seq, low.time), (30, 54_000));
        assert_eq!((top.seq, top.time), (50, 54_000));
    }

    #[test]
    fn copies_have_the_far_tracks_codec_and_layers() {
        let video = local_track("TR_far", Codec::Vp8, &THREE);
        let rids: Vec<_> = video.layers.iter().map(|l| l.rid.clone()).collect();
        assert_eq!(rids, [Some("q".into()), Some("h".into()), Some("f".into())]);
        assert_eq!(video.layers[0].width, 320);
        let single = local_track("TR_far", Codec::Vp8, &[]);
        assert_eq!(single.layers.len(), 1);
        assert_eq!(single.layers[0].rid, None);
        let audio = local_track("TR_far", Codec::Opus, &[]);
        assert_eq!(audio.source, Source::Microphone);
    }
}
