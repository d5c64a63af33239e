//! What a join grant (LiveKit's video grant, from the token or from the
//! API when a member's role changes) lets a participant do, in the terms
//! of LiveKit's protocol. Below both the rooms and the signal sessions.

use livekit_protocol as lk;
use onair_auth::VideoGrant;

/// The participant permission a grant gives.
#[allow(deprecated)] // `recorder` is how LiveKit grants mark egress participants
pub fn permission(g: &VideoGrant) -> lk::ParticipantPermission {
    let sources = g
        .can_publish_sources
        .iter()
        .filter_map(|s| match s.as_str() {
            "camera" => Some(lk::TrackSource::Camera as i32),
            "microphone" => Some(lk::TrackSource::Microphone as i32),
            "screen_share" => Some(lk::TrackSource::ScreenShare as i32),
            "screen_share_audio" => Some(lk::TrackSource::ScreenShareAudio as i32),
            _ => None,
        })
        .collect();
    lk::ParticipantPermission {
        can_subscribe: g.may_subscribe(),
        can_publish: g.may_publish(),
        can_publish_data: g.may_publish_data(),
        can_publish_sources: sources,
        hidden: g.hidden.unwrap_or(false),
        recorder: g.recorder.unwrap_or(false),
        can_update_metadata: g.may_update_own_metadata(),
        ..Default::default()
    }
}
