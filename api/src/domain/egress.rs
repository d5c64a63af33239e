//! Egress jobs (recordings, HLS, RTMP pushes): what a job is and the state
//! machine it moves through. Egress workers report states on the bus; the
//! API applies a report only if the transition is allowed, so late or
//! repeated reports cannot move a finished job back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a job produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EgressKind {
    /// A composite recording of the call (fragmented MP4).
    Recording,
    /// An HLS broadcast.
    Hls,
    /// An RTMP push to one target.
    Rtmp,
    /// One track into a file, not transcoded.
    TrackRecording,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EgressState {
    /// Requested; a worker is joining the call.
    Starting,
    /// Producing output.
    Active,
    /// Asked to stop; finishing its output.
    Ending,
    /// Done; its output is complete.
    Complete,
    /// Gave up; `error` says why.
    Failed,
}

impl EgressState {
    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressState::Starting => "starting",
            EgressState::Active => "active",
            EgressState::Ending => "ending",
            EgressState::Complete => "complete",
            EgressState::Failed => "failed",
        }
    }

    /// Parses a stored or reported state.
    pub fn parse(s: &str) -> Option<EgressState> {
        Some(match s {
            "starting" => EgressState::Starting,
            "active" => EgressState::Active,
            "ending" => EgressState::Ending,
            "complete" => EgressState::Complete,
            "failed" => EgressState::Failed,
            _ => return None,
        })
    }

    /// Still running (counts against "one recording at a time").
    pub fn is_running(self) -> bool {
        matches!(
            self,
            EgressState::Starting | EgressState::Active | EgressState::Ending
        )
    }

    /// May a job in this state move to `next`?
    pub fn may_become(self, next: EgressState) -> bool {
        use EgressState::*;
        match (self, next) {
            (Starting, Active | Ending | Failed | Complete) => true,
            (Active, Ending | Complete | Failed) => true,
            (Ending, Complete | Failed) => true,
            // Progress reports (size, duration) repeat the current state.
            (a, b) if a == b => a.is_running(),
            _ => false,
        }
    }
}

impl EgressKind {
    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressKind::Recording => "recording",
            EgressKind::Hls => "hls",
            EgressKind::Rtmp => "rtmp",
            EgressKind::TrackRecording => "track_recording",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<EgressKind> {
        Some(match s {
            "recording" => EgressKind::Recording,
            "hls" => EgressKind::Hls,
            "rtmp" => EgressKind::Rtmp,
            "track_recording" => EgressKind::TrackRecording,
            _ => return None,
        })
    }
}

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

/// Output presets of composite recordings: name → (width, height, fps).
pub const PRESETS: [(&str, u32, u32, u32); 3] = [
    ("360p", 640, 360, 30),
    ("720p", 1280, 720, 30),
    ("1080p", 1920, 1080, 30),
];

#[cfg(test)]
mod tests {
    use super::*;
    use EgressState::*;

    #[test]
    fn states_only_move_forward() {
        assert!(Starting.may_become(Active));
        assert!(Active.may_become(Ending));
        assert!(Ending.may_become(Complete));
        assert!(Active.may_become(Failed));
        assert!(Active.may_become(Active), "progress report");
        assert!(!Complete.may_become(Active), "late report after the end");
        assert!(!Failed.may_become(Complete));
        assert!(!Complete.may_become(Complete));
        assert!(!Ending.may_become(Active));
        for s in [Starting, Active, Ending, Complete, Failed] {
            assert_eq!(EgressState::parse(s.as_str()), Some(s));
        }
        assert_eq!(EgressState::parse("bogus"), None);
    }
}
