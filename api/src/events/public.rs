//! Which bus events apps and backends hear, and as what (Stream's names
//! and fields). Internal ones (egress requests, participant updates for the
//! SFU) have no public form; a few public events carry more than their bus
//! event and are made where that is known (a participant's time in the
//! call, a recording's link).

use chrono::DateTime;
use onair_bus::{Event, EventKind};
use serde_json::{json, Value};

use crate::domain::event::NewEvent;

/// The public event of `event`, if it has one; it keeps the bus event's id
/// as its origin, so every node that stores it stores it once.
pub fn of(event: &Event) -> Option<NewEvent> {
    let (event_type, payload) = describe(&event.kind)?;
    let origin_id = if event.id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        event.id.clone()
    };
    Some(NewEvent {
        origin_id,
        event_type: event_type.to_owned(),
        call_cid: event.call_cid.clone(),
        created_at: DateTime::from_timestamp_millis(event.created_at_ms)
            .unwrap_or_else(chrono::Utc::now),
        payload,
    })
}

/// The public type and fields of `kind`.
fn describe(kind: &EventKind) -> Option<(&'static str, Value)> {
    Some(match kind {
        EventKind::LiveStarted => ("call.live_started", json!({})),
        EventKind::LiveStopped => ("call.live_stopped", json!({})),
        EventKind::CallEnded { reason } => ("call.ended", json!({ "reason": reason })),
        EventKind::CallDeleted => ("call.deleted", json!({})),
        EventKind::SessionStarted { session_id } => {
            ("call.session_started", json!({ "session_id": session_id }))
        }
        EventKind::SessionEnded { session_id } => {
            ("call.session_ended", json!({ "session_id": session_id }))
        }
        EventKind::MemberUpdated { user_id, role } => (
            "call.member_updated",
            json!({ "user_id": user_id, "role": role }),
        ),
        EventKind::MemberRemoved { user_id } => {
            ("call.member_removed", json!({ "user_id": user_id }))
        }
        EventKind::ParticipantJoined {
            user_id,
            participant_sid,
        } => (
            "call.session_participant_joined",
            json!({ "user_id": user_id, "participant_sid": participant_sid }),
        ),
        EventKind::UserKicked { user_id } => ("call.kicked_user", json!({ "user_id": user_id })),
        EventKind::UserBlocked { user_id } => ("call.blocked_user", json!({ "user_id": user_id })),
        EventKind::UserUnblocked { user_id } => {
            ("call.unblocked_user", json!({ "user_id": user_id }))
        }
        EventKind::PermissionRequested {
            user_id,
            permissions,
        } => (
            "call.permission_request",
            json!({ "user_id": user_id, "permissions": permissions }),
        ),
        EventKind::UsersMuted {
            user_ids,
            all,
            audio,
            video,
            screenshare,
        } => (
            "call.user_muted",
            json!({ "user_ids": user_ids, "all": all, "audio": audio, "video": video,
                    "screenshare": screenshare }),
        ),
        // Made where their fields are known: the call and its members
        // (routes), the time in the call (`presence`).
        EventKind::CallCreated | EventKind::CallUpdated | EventKind::ParticipantLeft { .. } => {
            return None
        }
        EventKind::ParticipantUpdated { .. }
        | EventKind::Data { .. }
        | EventKind::EgressRequested { .. }
        | EventKind::EgressStopRequested { .. }
        | EventKind::EgressUpdated { .. } => return None,
    })
}
