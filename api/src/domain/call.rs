//! Calls, their members and their sessions, as stored.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ids::CallCid;

/// A call: `(type, id)` with its state.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Type and id.
    pub cid: CallCid,
    /// The user who created it (`None` when created with a server token).
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it is scheduled to start.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it was ended; joins are refused afterwards.
    pub ended_at: Option<DateTime<Utc>>,
    /// In backstage (only meaningful when the settings enable backstage).
    pub backstage: bool,
    /// App-defined data (a JSON object).
    pub custom: Value,
    /// Partial settings merged on top of the call type's.
    pub settings_override: Value,
    /// The current or last session.
    pub current_session_id: Option<String>,
}

#[cfg(test)]
impl Call {
    /// A call `type:id` made at `at`, out of backstage, for unit tests.
    pub(crate) fn fixture(call_type: &str, id: &str, at: DateTime<Utc>) -> Call {
        Call {
            cid: CallCid::new(call_type, id).expect("a valid cid"),
            created_by: None,
            created_at: at,
            updated_at: at,
            starts_at: None,
            ended_at: None,
            backstage: false,
            custom: serde_json::json!({}),
            settings_override: serde_json::json!({}),
            current_session_id: None,
        }
    }
}

/// A user's membership of a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The call.
    pub call_cid: String,
    /// The member.
    pub user_id: String,
    /// Their role in this call.
    pub role: String,
    /// App-defined data (a JSON object).
    pub custom: Value,
    /// Added.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One live occurrence of a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// The call.
    pub call_cid: String,
    /// First join.
    pub started_at: DateTime<Utc>,
    /// Call ended (or last participant left).
    pub ended_at: Option<DateTime<Utc>>,
    /// Last `go_live` during the session.
    pub live_started_at: Option<DateTime<Utc>>,
    /// Last `stop_live` during the session.
    pub live_ended_at: Option<DateTime<Utc>>,
}

/// A media connection to a call, as reported by the SFU.
#[derive(Clone, Debug, PartialEq)]
pub struct Participant {
    /// The SFU's id for this connection (`PA_…`).
    pub participant_sid: String,
    /// The call.
    pub call_cid: String,
    /// The session it joined, if one was open.
    pub session_id: Option<String>,
    /// The user.
    pub user_id: String,
    /// Connected.
    pub joined_at: DateTime<Utc>,
    /// Disconnected.
    pub left_at: Option<DateTime<Utc>>,
}
