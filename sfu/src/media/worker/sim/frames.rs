//! What the simulated publishers send and subscribers get: frames whose
//! first bytes say their kind, simulcast layer and number, so tests check
//! exactly what arrived, in which order.

use super::*;

/// The size of a video frame on each simulcast layer: 72, 288 and 960
/// kbit/s at 30 frames a second (the top layer's frames take 4 packets).
pub(super) const LAYER_BYTES: [usize; 3] = [300, 1200, 4000];

/// What [`Sim::send_frame`] writes in an audio frame's layer byte.
const AUDIO: u8 = 0xAA;

/// A frame as a subscriber received it (what [`Sim::send_frame`] wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub audio: bool,
    /// Its simulcast layer (video).
    pub layer: u8,
    /// Its number.
    pub n: u32,
    pub key: bool,
    /// Its RTP time at the subscriber.
    pub time: u64,
}

impl Sim {
    /// Writes one VP8 frame (or Opus packet) on a publisher's m-line;
    /// its first bytes say whether it is a keyframe, its layer and `n`.
    pub fn send_frame(&mut self, m: Member, mid: Mid, rid: Option<&str>, key: bool, n: u32) {
        let rtc = &mut self.clients[m.publisher].rtc;
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        let params = writer.payload_params().next().cloned();
        let Some(params) = params else {
            return;
        };
        let layer = rid.map_or(0, |r| crate::media::layer_of_rid(Some(r)));
        let (clock, size) = if params.spec().codec == str0m::format::Codec::Opus {
            (48_000, 80)
        } else {
            (90_000, LAYER_BYTES[usize::from(layer).min(2)])
        };
        let mut frame = vec![0u8; size];
        frame[0] = if key { 0x10 } else { 0x11 }; // VP8: P bit 0 = keyframe
        frame[1] = if clock == 48_000 { AUDIO } else { layer };
        frame[2..6].copy_from_slice(&n.to_be_bytes());
        let time = MediaTime::from_90khz(u64::from(n) * 3000);
        let time = if clock == 48_000 {
            MediaTime::new(u64::from(n) * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ)
        } else {
            time
        };
        let writer = match rid {
            Some(r) => writer.rid(r.into()),
            None => writer,
        };
        // Audio carries its level (dBov): loud from those who speak.
        let writer = match (clock, self.speaking.contains(&m.pid)) {
            (48_000, true) => writer.audio_level(-20, true),
            (48_000, false) => writer.audio_level(-120, false),
            _ => writer,
        };
        let _ = writer.write(params.pt(), self.now, time, frame);
        self.pump();
    }

    /// The frames a member's subscriber connection received.
    pub fn frames(&self, m: Member) -> Vec<Frame> {
        let events = &self.clients[m.subscriber].events;
        let media = events.iter().filter_map(|e| match e {
            Event::MediaData(d) if d.data.len() >= 6 => Some(d),
            _ => None,
        });
        media
            .map(|d| Frame {
                audio: d.data[1] == AUDIO,
                layer: d.data[1],
                n: u32::from_be_bytes([d.data[2], d.data[3], d.data[4], d.data[5]]),
                key: d.data[0] & 1 == 0,
                time: d.time.numer(),
            })
            .collect()
    }

    /// The video frame numbers a member received, in order.
    pub fn video_frames(&self, m: Member) -> Vec<u32> {
        let frames = self.frames(m).into_iter().filter(|f| !f.audio);
        frames.map(|f| f.n).collect()
    }
}

/// Three simulcast layers, announced at the bitrates [`Sim::send_frame`]
/// sends them.
pub(crate) fn three_layers() -> Vec<Layer> {
    let sizes = [(320, 180), (640, 360), (1280, 720)];
    let layers = sizes.iter().zip(LAYER_BYTES).enumerate();
    layers
        .map(|(q, (&(width, height), bytes))| Layer {
            quality: q as u8,
            width,
            height,
            bitrate: bytes as u32 * 8 * 30,
        })
        .collect()
}
