//! Egress jobs (recordings, HLS, RTMP pushes) as the API stores them. Their
//! kind and state machine are `onair-bus`'s, shared with egress workers.

use chrono::{DateTime, Utc};
pub use onair_bus::{EgressKind, EgressState};

use super::call::Call;

/// One egress job.
#[derive(Clone, Debug, PartialEq)]
pub struct Egress {
    /// Its id (`EG_…`).
    pub id: String,
    /// The call.
    pub call_cid: String,
    /// The session open when it started.
    pub session_id: Option<String>,
    /// What it produces.
    pub kind: EgressKind,
    /// An RTMP push's target name, or a track recording's track sid.
    pub name: Option<String>,
    /// Output preset (`360p`, `720p`, `1080p`).
    pub preset: String,
    /// Where it is.
    pub state: EgressState,
    /// Why it failed.
    pub error: Option<String>,
    /// The file it wrote (storage key).
    pub file: Option<String>,
    /// Bytes written.
    pub size: i64,
    /// Media duration in milliseconds.
    pub duration_ms: i64,
    /// Requested.
    pub created_at: DateTime<Utc>,
    /// Became active.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed or failed.
    pub ended_at: Option<DateTime<Utc>>,
    /// Last change or worker report.
    pub updated_at: DateTime<Utc>,
}

impl Egress {
    /// Job `id` of `kind` for `call` (named `name`, if the call may run
    /// several of the kind), just requested at `now`: `starting`, in the
    /// call's current session.
    pub fn requested(
        id: String,
        call: &Call,
        kind: EgressKind,
        name: Option<String>,
        preset: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            call_cid: call.cid.to_string(),
            session_id: call.current_session_id.clone(),
            kind,
            name,
            preset,
            state: EgressState::Starting,
            error: None,
            file: None,
            size: 0,
            duration_ms: 0,
            created_at: now,
            started_at: None,
            ended_at: None,
            updated_at: now,
        }
    }
}

/// Output presets of composite recordings: name → (width, height, fps).
pub const PRESETS: [(&str, u32, u32, u32); 3] = [
    ("360p", 640, 360, 30),
    ("720p", 1280, 720, 30),
    ("1080p", 1920, 1080, 30),
];
