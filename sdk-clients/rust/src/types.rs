//! What a client publishes (tracks made of layers of frames) and what it
//! reports: its errors, the stats it keeps, and the media a receiving
//! client hands on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use livekit_protocol as lk;

use crate::files::{Codec, Frame};

/// Why the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not connect or broke.
    #[error("signal: {0}")]
    Signal(String),
    /// The server refused (token, permissions) or said something unexpected.
    #[error("refused: {0}")]
    Refused(String),
    /// WebRTC negotiation or transport failed.
    #[error("media: {0}")]
    Media(String),
    /// The client task is gone.
    #[error("client closed")]
    Closed,
}

/// Where a track comes from (LiveKit's `TrackSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Camera video.
    Camera,
    /// Microphone audio.
    Microphone,
    /// Screen share video.
    ScreenShare,
}

impl Source {
    /// LiveKit's `TrackSource` value for it.
    pub(crate) fn to_protocol(self) -> i32 {
        let source = match self {
            Source::Camera => lk::TrackSource::Camera,
            Source::Microphone => lk::TrackSource::Microphone,
            Source::ScreenShare => lk::TrackSource::ScreenShare,
        };
        source as i32
    }

    /// The source a `TrackSource` value names, if one of these.
    pub(crate) fn from_protocol(source: i32) -> Option<Source> {
        [Source::Camera, Source::Microphone, Source::ScreenShare]
            .into_iter()
            .find(|s| s.to_protocol() == source)
    }
}

/// One encoding of a track: a simulcast layer, or the only one.
#[derive(Clone, Debug)]
pub struct LocalLayer {
    /// `q`, `h`, `f`; `None` without simulcast.
    pub rid: Option<String>,
    /// Pixels (0 for audio).
    pub width: u32,
    /// Pixels (0 for audio).
    pub height: u32,
    /// The frames, sent in real time and looped; none for a live track
    /// (its frames come through [`Client::send_frame`](crate::Client::send_frame)).
    pub frames: Vec<Frame>,
}

/// A track to publish from pre-encoded frames.
#[derive(Clone, Debug)]
pub struct LocalTrack {
    /// Track name.
    pub name: String,
    /// Camera, microphone or screen.
    pub source: Source,
    /// Codec of the frames.
    pub codec: Codec,
    /// Encodings, lowest first.
    pub layers: Vec<LocalLayer>,
}

/// What arrived for one remote track.
#[derive(Clone, Debug, Default)]
pub struct TrackStats {
    /// Who publishes it.
    pub identity: String,
    /// `audio` or `video`.
    pub kind: String,
    /// RTP packets received.
    pub packets: u64,
    /// Frames (audio packets / video pictures) received whole.
    pub frames: u64,
    /// Video keyframes received.
    pub keyframes: u64,
    /// The codec it arrives in.
    pub codec: Option<Codec>,
    /// Width of the last VP8 keyframe (shows the simulcast layer).
    pub width: u32,
}

/// What a participant shows of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// Free-form metadata.
    pub metadata: String,
    /// Key-value attributes.
    pub attributes: HashMap<String, String>,
}

/// Everything the client has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Our participant id.
    pub sid: String,
    /// Other participants: identity → sid.
    pub participants: HashMap<String, String>,
    /// Other participants' names, metadata and attributes, by identity.
    pub profiles: HashMap<String, Profile>,
    /// Published tracks of others: track sid → publisher identity.
    pub published: HashMap<String, String>,
    /// Which of those are video tracks.
    pub video: HashSet<String>,
    /// Where those come from, when their publisher said.
    pub sources: HashMap<String, Source>,
    /// Those sent in several simulcast layers: their sizes, lowest first.
    pub layers: HashMap<String, Vec<(u32, u32)>>,
    /// Received media by track sid.
    pub tracks: HashMap<String, TrackStats>,
    /// Participant sids currently speaking.
    pub speakers: Vec<String>,
    /// Data packets received: (sender identity, payload).
    pub data: Vec<(String, Vec<u8>)>,
    /// Remote track sids that their publisher has muted.
    pub muted: HashSet<String>,
    /// Why the server ended the session, once it did.
    pub closed: Option<String>,
    /// Both peer connections are up.
    pub connected: bool,
    /// Keyframe requests (PLI/FIR) received for our published video.
    pub keyframe_requests: u64,
    /// Our simulcast tracks' layers (0 low, 1 medium, 2 high) that
    /// someone receives, as the SFU last said (dynacast): the others may
    /// be paused.
    pub wanted_layers: HashMap<String, Vec<u8>>,
}

/// What a receiving client ([`Client::connect_receiving`](crate::Client::connect_receiving)) hands on.
#[derive(Debug)]
pub enum MediaEvent {
    /// A whole frame of a remote track.
    Frame(RemoteFrame),
    /// One RTP packet of a remote track (a client receiving packets,
    /// [`crate::Client::connect_receiving_packets`]).
    Packet(RemotePacket),
    /// A remote track is gone (unpublished, or its publisher left).
    TrackGone {
        /// Its sid.
        track_sid: String,
    },
    /// A remote track is end-to-end encrypted: its frames cannot be decoded
    /// without the participants' key (said before its first frame).
    Encrypted {
        /// Its sid.
        track_sid: String,
    },
    /// The loudest active speaker changed (none: nobody speaks).
    Speaker {
        /// Their identity.
        identity: Option<String>,
    },
    /// A remote participant's name, metadata or attributes changed (also
    /// said when first seen).
    Profile {
        /// Their identity.
        identity: String,
        /// What they show now.
        profile: Profile,
    },
    /// A remote track was muted or unmuted (also said of a track first
    /// seen muted).
    Muted {
        /// Its sid.
        track_sid: String,
        /// Muted now.
        muted: bool,
    },
}

/// A whole frame (video picture or audio packet) of a remote track.
#[derive(Debug)]
pub struct RemoteFrame {
    /// The track.
    pub track_sid: String,
    /// Who publishes it.
    pub identity: String,
    /// Its codec.
    pub codec: Codec,
    /// A video keyframe.
    pub keyframe: bool,
    /// Media time of the frame (RTP timestamp), in seconds on the track's clock.
    pub media_time: f64,
    /// When its last packet arrived.
    pub arrival: Instant,
    /// The payload (VP8 frame, H.264 access unit in Annex-B, Opus packet).
    pub data: Arc<[u8]>,
    /// Audio: the level its sender announced (RFC 6464: -dBov, 0 loudest,
    /// -127 silence) and whether it is voice.
    pub audio_level: Option<(i8, bool)>,
}

impl RemoteFrame {
    /// Whether a decoder (or a file) can start from it: a video keyframe,
    /// or any audio frame.
    pub fn starts_decoding(&self) -> bool {
        self.keyframe || self.codec == Codec::Opus
    }
}

/// One RTP packet of a remote track, as it arrived (retransmissions
/// included, so possibly out of order).
#[derive(Debug)]
pub struct RemotePacket {
    /// The track.
    pub track_sid: Arc<str>,
    /// Who publishes it.
    pub identity: Arc<str>,
    /// Its codec.
    pub codec: Codec,
    /// Its sequence number, extended past 16 bits.
    pub seq: u64,
    /// Its RTP time, extended past 32 bits, on the codec's clock.
    pub time: u64,
    /// The last packet of a frame.
    pub marker: bool,
    /// Video: it starts a keyframe (for H.264, at its SPS).
    pub keyframe: bool,
    /// When it arrived.
    pub arrival: Instant,
    /// The RTP payload (with VP8's payload descriptor).
    pub payload: Arc<[u8]>,
    /// Audio: the level its sender announced and whether it is voice.
    pub audio_level: Option<(i8, bool)>,
}

/// One RTP packet to send on a live track (a client sending packets,
/// [`crate::Client::connect_sending_packets`]).
#[derive(Debug)]
pub struct LocalPacket {
    /// Its sequence number in its layer, extended past 16 bits.
    pub seq: u64,
    /// Its RTP timestamp on the codec's clock.
    pub time: u32,
    /// The moment it stands for (for sender reports).
    pub wallclock: Instant,
    /// The last packet of a frame.
    pub marker: bool,
    /// The RTP payload.
    pub payload: Arc<[u8]>,
    /// Audio: the level to announce and whether it is voice.
    pub audio_level: Option<(i8, bool)>,
}
