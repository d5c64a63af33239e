//! What members publish: a track is announced (`AddTrackRequest`, checked
//! against the publisher's grant and limits), goes live when its media is
//! negotiated, may be muted, and ends.

use livekit_protocol as lk;

use super::Room;
use crate::ids::TrackSid;
use crate::limits::{count, Limit};
use crate::media::{Command, Kind, Layer, Pid, TrackSpec};

/// Longest track name or client track id, in bytes: they are repeated in
/// every participant update to everyone.
const MAX_TRACK_NAME: usize = 256;

/// Why a participant may not publish a track (`AddTrackRequest`); the
/// client is told the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    /// The participant is not (or no longer) in the room.
    #[error("not in the room")]
    NotInRoom,
    /// Its grant does not let it publish.
    #[error("this participant may not publish")]
    MayNotPublish,
    /// The track's name or client id is longer than `max` bytes.
    #[error("track names and ids are at most {max} bytes")]
    NameTooLong {
        /// The longest allowed, in bytes.
        max: usize,
    },
    /// It already publishes its most tracks.
    #[error("at most {max} tracks per participant")]
    TooManyTracks {
        /// Tracks one participant may publish at once.
        max: usize,
    },
    /// Its grant does not list the track's source (camera, screen…).
    #[error("this participant may not publish that source")]
    SourceNotAllowed,
}

impl Room {
    /// Checks an `AddTrackRequest` and announces the track to the media
    /// worker; the reply is the track's info.
    // `layers`/`simulcast` are deprecated in the protocol but still read by clients.
    #[allow(deprecated)]
    pub(super) fn add_track(
        &mut self,
        pid: Pid,
        req: lk::AddTrackRequest,
    ) -> Result<lk::TrackInfo, PublishRefusal> {
        let member = self.members.get(&pid).ok_or(PublishRefusal::NotInRoom)?;
        let permission = member.info.permission.clone().unwrap_or_default();
        if !permission.can_publish {
            return Err(PublishRefusal::MayNotPublish);
        }
        if req.name.len() > MAX_TRACK_NAME || req.cid.len() > MAX_TRACK_NAME {
            count(Limit::Ids, 1);
            return Err(PublishRefusal::NameTooLong {
                max: MAX_TRACK_NAME,
            });
        }
        if member.info.tracks.len() >= self.limits.tracks_per_participant {
            count(Limit::Tracks, 1);
            return Err(PublishRefusal::TooManyTracks {
                max: self.limits.tracks_per_participant,
            });
        }
        if !permission.can_publish_sources.is_empty()
            && !permission.can_publish_sources.contains(&req.source)
        {
            return Err(PublishRefusal::SourceNotAllowed);
        }
        let kind = if req.r#type == lk::TrackType::Video as i32 {
            Kind::Video
        } else {
            Kind::Audio
        };
        let mut layers: Vec<lk::VideoLayer> = req.layers.clone();
        layers.sort_by_key(|l| l.quality);
        let info = track_info(&req, layers.clone());
        let spec = TrackSpec {
            track_sid: TrackSid::from(info.sid.clone()),
            client_track_id: req.cid.clone(),
            codec: req
                .simulcast_codecs
                .first()
                .map(|c| c.codec.to_lowercase())
                .filter(|c| !c.is_empty()),
            kind,
            layers: layers
                .iter()
                .map(|l| Layer {
                    quality: l.quality.clamp(0, 2) as u8,
                    width: l.width,
                    height: l.height,
                    bitrate: l.bitrate,
                })
                .collect(),
        };
        self.commands.push(Command::ExpectTrack { pid, spec });
        // Others hear of it when media flows (TrackLive).
        if let Some(member) = self.members.get_mut(&pid) {
            member.info.tracks.push(info.clone());
        }
        Ok(info)
    }

    /// A track's media flows: everyone hears of it, and receives it if
    /// they may.
    pub(super) fn track_live(&mut self, pid: Pid, track_sid: &TrackSid, mid: String, mime: String) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        if !member.info.tracks.iter().any(|t| *track_sid == t.sid) {
            return;
        }
        for t in member
            .info
            .tracks
            .iter_mut()
            .filter(|t| *track_sid == t.sid)
        {
            t.mid = mid.clone();
            t.mime_type = mime.clone();
            // The codec that flows is the first the client listed.
            if let Some(codec) = t.codecs.first_mut() {
                codec.mid = mid.clone();
                codec.mime_type = mime.clone();
            }
        }
        member.info.version += 1;
        member.info.is_publisher = true;
        let info = member.info.clone();
        self.broadcast_update(&info, None);
        let subscribers: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for sub in subscribers {
            self.subscribe_one(sub, pid, track_sid);
        }
    }

    /// A track stopped: everyone hears it is gone.
    pub(super) fn track_ended(&mut self, pid: Pid, track_sid: &TrackSid) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let before = member.info.tracks.len();
        member.info.tracks.retain(|t| *track_sid != t.sid);
        if member.info.tracks.len() != before {
            member.info.version += 1;
            let info = member.info.clone();
            self.broadcast_update(&info, None);
        }
        self.forget_tracks(std::slice::from_ref(track_sid));
    }

    /// Nobody's explicit (un)subscriptions keep naming tracks that are gone.
    pub(super) fn forget_tracks(&mut self, gone: &[TrackSid]) {
        for member in self.members.values_mut() {
            member.wanted.retain(|s| !gone.contains(s));
            member.declined.retain(|s| !gone.contains(s));
        }
    }

    /// The publisher (un)muted a track; everyone hears of it.
    pub(super) fn mute(&mut self, pid: Pid, track_sid: &TrackSid, muted: bool) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let mut changed = false;
        for t in member
            .info
            .tracks
            .iter_mut()
            .filter(|t| *track_sid == t.sid && t.muted != muted)
        {
            t.muted = muted;
            changed = true;
        }
        if changed {
            member.info.version += 1;
            let info = member.info.clone();
            self.broadcast_update(&info, None);
        }
    }
}

/// A new track's info as LiveKit's server fills it in from the client's
/// request: what the client said of the track (encryption, stream, audio
/// and packet-trailer features, per-codec layers) is kept for everyone who
/// receives it; the codec is named once media flows (`track_live`).
#[allow(deprecated)]
fn track_info(req: &lk::AddTrackRequest, layers: Vec<lk::VideoLayer>) -> lk::TrackInfo {
    let stream = match (req.stream.is_empty(), req.source) {
        (false, _) => req.stream.clone(),
        (true, s) if s == lk::TrackSource::ScreenShare as i32 => "screen".into(),
        (true, _) => "camera".into(),
    };
    let video = req.r#type == lk::TrackType::Video as i32;
    // LiveKit's spelling: `video/VP8`, `video/H264`, `audio/opus`.
    let mime = |codec: &str| match video {
        true => format!("video/{}", codec.to_uppercase()),
        false => format!("audio/{}", codec.to_lowercase()),
    };
    let codecs = req
        .simulcast_codecs
        .iter()
        .filter(|c| !c.codec.is_empty())
        .map(|c| lk::SimulcastCodecInfo {
            mime_type: mime(&c.codec),
            cid: c.cid.clone(),
            layers: c.layers.clone(),
            video_layer_mode: c.video_layer_mode,
            ..Default::default()
        })
        .collect();
    lk::TrackInfo {
        sid: TrackSid::random().into_string(),
        r#type: req.r#type,
        name: req.name.clone(),
        muted: req.muted,
        width: req.width,
        height: req.height,
        simulcast: layers.len() > 1,
        disable_dtx: req.disable_dtx,
        source: req.source,
        layers,
        codecs,
        stereo: req.stereo,
        disable_red: req.disable_red,
        encryption: req.encryption,
        stream,
        version: Some(lk::TimedVersion {
            unix_micro: onair_auth::clock::unix_ms() * 1000,
            ticks: 0,
        }),
        audio_features: req.audio_features.clone(),
        backup_codec_policy: req.backup_codec_policy,
        packet_trailer_features: req.packet_trailer_features.clone(),
        ..Default::default()
    }
}
