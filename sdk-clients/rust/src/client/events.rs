//! What the worker does with the peer connections' events: the
//! connections coming up, keyframe requests for what we publish, and, on
//! the subscriber, whole frames (counted in the stats, and handed on by a
//! receiving client) and data packets.

use livekit_protocol as lk;
use prost::Message as _;
use str0m::channel::ChannelData;
use str0m::format::Codec as StrCodec;
use str0m::media::MediaData;
use str0m::Event;

use super::{Peer, Worker};
use crate::files::{vp8_size, Codec};
use crate::lock;
use crate::types::{MediaEvent, RemoteFrame, TrackStats};

impl Worker {
    /// Handles one event of peer connection `peer`.
    pub(super) fn on_event(&mut self, peer: Peer, event: Event) {
        match event {
            Event::Connected => self.connected(peer),
            Event::KeyframeRequest(_) if peer == Peer::Publisher => {
                lock(&self.stats).keyframe_requests += 1
            }
            Event::MediaData(data) if peer == Peer::Subscriber => self.frame_received(data),
            Event::RtpPacket(packet) if peer == Peer::Subscriber => self.packet_received(packet),
            Event::ChannelData(data) if peer == Peer::Subscriber => self.data_received(&data),
            _ => {}
        }
    }

    /// A connection is up. The client counts as connected once the
    /// subscriber is, and the publisher too if we send anything.
    fn connected(&mut self, peer: Peer) {
        match peer {
            Peer::Publisher => self.publisher_up = true,
            Peer::Subscriber => self.subscriber_up = true,
        }
        lock(&self.stats).connected =
            self.subscriber_up && (self.publisher_up || self.sending_tracks.is_empty());
    }

    /// A whole frame of a remote track arrived.
    fn frame_received(&mut self, data: MediaData) {
        let Some(track_sid) = self.remote_track_by_mid.get(&data.mid).cloned() else {
            return;
        };
        let mut s = lock(&self.stats);
        let identity = s.published.get(&track_sid).cloned().unwrap_or_default();
        let codec = codec_of(data.params.spec().codec);
        if let (Some(media_events), Some(codec)) = (&self.media_events, codec) {
            let _ = media_events.send(MediaEvent::Frame(RemoteFrame {
                track_sid: track_sid.clone(),
                identity: identity.clone(),
                codec,
                keyframe: data.is_keyframe(),
                media_time: data.time.as_seconds(),
                arrival: data.network_time,
                data: data.data.clone(),
                audio_level: data
                    .ext_vals
                    .audio_level
                    .map(|level| (level, data.ext_vals.voice_activity.unwrap_or(level > -127))),
            }));
        }
        count_frame(
            s.tracks.entry(track_sid).or_default(),
            identity,
            codec,
            &data,
        );
    }

    /// A data packet arrived; user packets are kept with their sender.
    fn data_received(&mut self, data: &ChannelData) {
        let Ok(packet) = lk::DataPacket::decode(data.data.as_slice()) else {
            return;
        };
        if let Some(lk::data_packet::Value::User(user)) = packet.value {
            lock(&self.stats)
                .data
                .push((packet.participant_identity, user.payload));
        }
    }
}

/// Our codec for str0m's, if it is one OnAir publishes.
pub(super) fn codec_of(codec: StrCodec) -> Option<Codec> {
    match codec {
        StrCodec::Opus => Some(Codec::Opus),
        StrCodec::Vp8 => Some(Codec::Vp8),
        StrCodec::H264 => Some(Codec::H264),
        _ => None,
    }
}

/// Counts frame `data` of a track from `identity` in its stats.
fn count_frame(t: &mut TrackStats, identity: String, codec: Option<Codec>, data: &MediaData) {
    t.identity = identity;
    t.kind = if codec == Some(Codec::Opus) {
        "audio".into()
    } else {
        "video".into()
    };
    t.codec = codec;
    t.frames += 1;
    t.packets += (**data.seq_range.end()).saturating_sub(**data.seq_range.start()) + 1;
    if data.is_keyframe() {
        t.keyframes += 1;
        if let Some((width, _)) = vp8_size(&data.data).filter(|_| codec == Some(Codec::Vp8)) {
            t.width = width;
        }
    }
}
