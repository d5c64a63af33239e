//! Packet mode (str0m's RTP mode), for relays: a received RTP packet is
//! handed on as it arrives, and a live track is sent packet by packet, so
//! nothing waits for a whole frame to be assembled and cut up again.

use std::sync::Arc;

use str0m::format::{detect_h264_keyframe, detect_h264_nalu, detect_vp8_keyframe};
use str0m::format::{Codec as StrCodec, PayloadParams};
use str0m::media::{Mid, Pt, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};
use str0m::Rtc;

use super::events::codec_of;
use super::Worker;
use crate::files::Codec;
use crate::lock;
use crate::types::{LocalPacket, MediaEvent, RemotePacket, Stats};

impl Worker {
    /// An RTP packet of a remote track arrived: counted, and handed on
    /// (nothing allocated per packet but its payload, which str0m made).
    pub(super) fn packet_received(&mut self, packet: RtpPacket) {
        let ssrc = packet.header.ssrc;
        let Some(mid) = (self.subscriber.direct_api().stream_rx(&ssrc)).map(|s| s.mid()) else {
            return;
        };
        let params = params_of(&self.subscriber, packet.header.payload_type);
        let Some(codec) = params.and_then(|p| codec_of(p.spec().codec)) else {
            return;
        };
        let Some((track_sid, identity)) = self.packet_names(mid, codec) else {
            return;
        };
        let Some(media_events) = &self.media_events else {
            return;
        };
        let ext = &packet.header.ext_vals;
        let _ = media_events.send(MediaEvent::Packet(RemotePacket {
            track_sid,
            identity,
            codec,
            seq: *packet.seq_no,
            time: packet.time.numer(),
            marker: packet.header.marker,
            keyframe: starts_keyframe(codec, &packet.payload),
            arrival: packet.timestamp,
            audio_level: (ext.audio_level)
                .map(|level| (level, ext.voice_activity.unwrap_or(level > -127))),
            payload: packet.payload,
        }));
    }

    /// Counts a packet of `codec` on m-line `mid`: the sid of the track it
    /// carries and its publisher, as packets hand them on (made on the
    /// first packet, and again once the m-line carries another track).
    /// Known names are counted without the stats' lock
    /// ([`Worker::count_packets`] adds them up once a turn).
    fn packet_names(&mut self, mid: Mid, codec: Codec) -> Option<(Arc<str>, Arc<str>)> {
        let sid = self.remote_track_by_mid.get(&mid)?;
        let known = self.packet_names.get_mut(&mid);
        if let Some(names) = known.filter(|names| *names.sid == **sid) {
            names.uncounted += 1;
            return Some((names.sid.clone(), names.identity.clone()));
        }
        let mut s = lock(&self.stats);
        if let Some(mut names) = self.packet_names.remove(&mid) {
            names.count_in(&mut s);
        }
        let identity = s.published.get(sid).cloned().unwrap_or_default();
        let counted = s.tracks.entry(sid.clone()).or_default();
        counted.identity = identity.clone();
        counted.kind = if codec == Codec::Opus {
            "audio"
        } else {
            "video"
        }
        .into();
        counted.codec = Some(codec);
        counted.packets += 1;
        drop(s);
        let names = PacketNames {
            sid: sid.as_str().into(),
            identity: identity.into(),
            uncounted: 0,
        };
        let handed = (names.sid.clone(), names.identity.clone());
        // Until its publisher is known, the names are made again.
        if !names.identity.is_empty() {
            self.packet_names.insert(mid, names);
        }
        Some(handed)
    }

    /// Adds the packets counted since the last turn to the stats: one
    /// lock a turn, not one a packet.
    pub(super) fn count_packets(&mut self) {
        if self.packet_names.values().all(|n| n.uncounted == 0) {
            return;
        }
        let mut s = lock(&self.stats);
        for names in self.packet_names.values_mut() {
            names.count_in(&mut s);
        }
    }

    /// Sends `packet` of our live track `sid` (layer `rid`) at once.
    pub(super) fn send_packet(&mut self, sid: &str, rid: Option<&str>, packet: LocalPacket) {
        let Some(track) = (self.own_track_mids.get(sid))
            .and_then(|mid| self.sending_tracks.iter().find(|t| t.mid == *mid))
        else {
            return;
        };
        if !self.rtp_mode || !self.publisher_up || track.muted {
            return;
        }
        let (mid, codec) = (track.mid, track.codec);
        let Some(pt) = sending_pt(&self.publisher, mid, codec) else {
            return;
        };
        let ext = ExtensionValues {
            audio_level: packet.audio_level.map(|(level, _)| level),
            voice_activity: packet.audio_level.map(|(_, voice)| voice),
            ..Default::default()
        };
        let write = RtpWrite::new(
            pt,
            packet.seq.into(),
            packet.time,
            packet.wallclock,
            packet.payload,
        )
        .marker(packet.marker)
        .nackable(codec != StrCodec::Opus)
        .ext_vals(ext);
        match (self.publisher.direct_api()).stream_tx_by_mid(mid, rid.map(Rid::from)) {
            Some(tx) => {
                // Paced by its sender already; holding it back only adds delay.
                tx.set_unpaced(true);
                tx.write_rtp(write);
            }
            None => tracing::trace!(%mid, ?rid, "no send stream yet"),
        }
    }
}

/// What a subscriber m-line's packets are handed on with, and how many
/// of them the stats do not count yet.
pub(super) struct PacketNames {
    sid: Arc<str>,
    identity: Arc<str>,
    uncounted: u64,
}

impl PacketNames {
    /// Moves the packets not yet counted into `stats`.
    fn count_in(&mut self, stats: &mut Stats) {
        if let Some(track) = stats.tracks.get_mut(&*self.sid) {
            track.packets += self.uncounted;
        }
        self.uncounted = 0;
    }
}

/// The codec parameters of payload type `pt` on `rtc`.
fn params_of(rtc: &Rtc, pt: Pt) -> Option<PayloadParams> {
    rtc.codec_config()
        .params()
        .iter()
        .find(|p| p.pt() == pt)
        .copied()
}

/// Our payload type for `codec` on m-line `mid`: one the far side accepted.
fn sending_pt(rtc: &Rtc, mid: Mid, codec: StrCodec) -> Option<Pt> {
    let accepted = rtc.media(mid)?.remote_pts();
    (rtc.codec_config().params().iter())
        .find(|p| p.spec().codec == codec && accepted.contains(&p.pt()))
        .map(|p| p.pt())
}

/// Whether a video packet starts a keyframe (H.264: at its SPS, which a
/// decoder needs before the IDR, or an IDR without one).
fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    match codec {
        Codec::Vp8 => detect_vp8_keyframe(payload),
        Codec::H264 => detect_h264_nalu(payload, SPS) || detect_h264_keyframe(payload),
        Codec::Opus => false,
    }
}
