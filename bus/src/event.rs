//! Event types carried by the bus. Names follow Stream Video's `call.*` events.

use serde::{Deserialize, Serialize};

use crate::{EgressKind, EgressState};

/// Something that happened to a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event: a receiver that stores it (maybe on several
    /// nodes) stores it once.
    #[serde(default)]
    pub id: String,
    /// The call, `type:id`.
    pub call_cid: String,
    /// When it happened, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened, tagged on the wire by `type` (`call.ended`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// The call was created.
    #[serde(rename = "call.created")]
    CallCreated,
    /// The call's data or settings changed.
    #[serde(rename = "call.updated")]
    CallUpdated,
    /// The call left backstage: everyone may now receive the hosts' media.
    #[serde(rename = "call.live_started")]
    LiveStarted,
    /// The call went back to backstage: only backstage holders publish and are seen.
    #[serde(rename = "call.live_stopped")]
    LiveStopped,
    /// The call ended: disconnect everyone.
    #[serde(rename = "call.ended")]
    CallEnded {
        /// Why, when it ended by itself (`max_duration`); none when ended
        /// through the API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The call was deleted.
    #[serde(rename = "call.deleted")]
    CallDeleted,
    /// A session (live occurrence) began.
    #[serde(rename = "call.session_started")]
    SessionStarted {
        /// The new session.
        session_id: String,
    },
    /// A session ended.
    #[serde(rename = "call.session_ended")]
    SessionEnded {
        /// The ended session.
        session_id: String,
    },
    /// A member was added or their role changed.
    #[serde(rename = "call.member_updated")]
    MemberUpdated {
        /// The member.
        user_id: String,
        /// Their role in the call now.
        role: String,
    },
    /// A member was removed from the call.
    #[serde(rename = "call.member_removed")]
    MemberRemoved {
        /// The former member.
        user_id: String,
    },
    /// Someone connected to the call's media (SFU → API).
    #[serde(rename = "call.session_participant_joined")]
    ParticipantJoined {
        /// The user.
        user_id: String,
        /// Their participant id on the SFU (`PA_…`), one per connection.
        participant_sid: String,
    },
    /// Someone's media connection ended (SFU → API).
    #[serde(rename = "call.session_participant_left")]
    ParticipantLeft {
        /// The user.
        user_id: String,
        /// Their participant id on the SFU.
        participant_sid: String,
        /// Why: `left` (the client left), `timeout` (not heard from),
        /// `removed` (kicked, blocked, the call ended, replaced by a new
        /// connection), `media_closed`, `flooded`, `not_reading`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A moderator removed a user from the call (API → SFU).
    #[serde(rename = "call.user_kicked")]
    UserKicked {
        /// The removed user.
        user_id: String,
    },
    /// A user was blocked from the call: disconnected now and refused until
    /// unblocked (API → SFU).
    #[serde(rename = "call.blocked_user")]
    UserBlocked {
        /// The blocked user.
        user_id: String,
    },
    /// A user's block was lifted.
    #[serde(rename = "call.unblocked_user")]
    UserUnblocked {
        /// The user.
        user_id: String,
    },
    /// A connected participant's name, metadata, attributes or media
    /// permissions change (API → SFU): `PATCH …/participants/{identity}`,
    /// or a member's new role. Absent fields stay as they are.
    #[serde(rename = "call.participant_updated")]
    ParticipantUpdated {
        /// The participant's identity (a user id, or `{user}:ingest`).
        identity: String,
        /// A new display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New metadata.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<String>,
        /// Attributes to set (an empty value removes one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<std::collections::HashMap<String, String>>,
        /// What it may do in the call's media now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant: Option<onair_auth::VideoGrant>,
    },
    /// A user asks the call's hosts for capabilities (`send-audio`,
    /// `send-video`, `screenshare`): Stream's "raise hand".
    #[serde(rename = "call.permission_request")]
    PermissionRequested {
        /// Who asks.
        user_id: String,
        /// What they ask for (capability names).
        permissions: Vec<String>,
    },
    /// Data for everyone connected to the call's media, as if `user_id`
    /// had sent it (a custom event, a reaction) (API → SFU).
    #[serde(rename = "call.data")]
    Data {
        /// On whose behalf.
        user_id: String,
        /// The data packet's topic (`onair.custom`, `onair.reaction`).
        topic: String,
        /// The payload (JSON text).
        payload: String,
    },
    /// A moderator muted users (API → SFU).
    #[serde(rename = "call.users_muted")]
    UsersMuted {
        /// Whom; empty with `all` means everyone.
        user_ids: Vec<String>,
        /// Everyone (but the moderator's own tracks are muted too).
        all: bool,
        /// Microphone.
        audio: bool,
        /// Camera.
        video: bool,
        /// Screen share.
        screenshare: bool,
    },
    /// An egress job (recording, HLS, RTMP push) should start (API → egress).
    #[serde(rename = "call.egress_requested")]
    EgressRequested {
        /// The job.
        egress_id: String,
        /// What it produces.
        kind: EgressKind,
        /// Output preset (`360p`, `720p`, `1080p`).
        preset: String,
        /// The call is in backstage (the recorder's join must say so).
        backstage: bool,
        /// The track a track recording records (its sid). An RTMP push's
        /// target holds a stream key, so it never travels on the bus: the
        /// worker fetches it from the API. (`target` is its former name,
        /// still read from nodes not yet upgraded.)
        #[serde(default, alias = "target")]
        track_sid: Option<String>,
    },
    /// An egress job should stop (API → egress).
    #[serde(rename = "call.egress_stop_requested")]
    EgressStopRequested {
        /// The job.
        egress_id: String,
    },
    /// An egress job changed state (egress → API).
    #[serde(rename = "call.egress_updated")]
    EgressUpdated {
        /// The job.
        egress_id: String,
        /// Where it is now.
        state: EgressState,
        /// Why it failed.
        error: Option<String>,
        /// The file it wrote (storage key), once there is one.
        file: Option<String>,
        /// Bytes written so far.
        size: u64,
        /// Media duration so far, in milliseconds.
        duration_ms: u64,
    },
}

impl Event {
    /// An event about `call_cid` at `created_at_ms`.
    pub fn new(call_cid: impl Into<String>, created_at_ms: i64, kind: EventKind) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            call_cid: call_cid.into(),
            created_at_ms,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_flat_and_tagged() {
        let event = Event::new(
            "livestream:abc",
            5,
            EventKind::MemberUpdated {
                user_id: "alice".into(),
                role: "host".into(),
            },
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": event.id, "call_cid": "livestream:abc", "created_at_ms": 5,
                "type": "call.member_updated", "user_id": "alice", "role": "host"})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        let ended =
            serde_json::json!({"call_cid": "a:b", "created_at_ms": 1, "type": "call.ended"});
        assert_eq!(
            serde_json::from_value::<Event>(ended).unwrap().kind,
            EventKind::CallEnded { reason: None }
        );
    }

    #[test]
    fn a_track_recording_request_of_an_older_node_is_understood() {
        let older = serde_json::json!({"call_cid": "a:b", "created_at_ms": 1,
            "type": "call.egress_requested", "egress_id": "EG_1", "kind": "track_recording",
            "preset": "720p", "backstage": false, "target": "TR_1"});
        let EventKind::EgressRequested {
            kind, track_sid, ..
        } = serde_json::from_value::<Event>(older).unwrap().kind
        else {
            panic!("not an egress request");
        };
        assert_eq!(
            (kind, track_sid.as_deref()),
            (EgressKind::TrackRecording, Some("TR_1"))
        );
        let unknown = serde_json::json!({"call_cid": "a:b", "created_at_ms": 1,
            "type": "call.egress_updated", "egress_id": "EG_1", "state": "paused",
            "error": null, "file": null, "size": 0, "duration_ms": 0});
        assert!(
            serde_json::from_value::<Event>(unknown).is_err(),
            "an unknown state is refused"
        );
    }
}
