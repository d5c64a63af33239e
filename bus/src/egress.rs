//! Egress jobs as the bus carries them: what a job produces and where it is
//! in its life. The API (which stores jobs) and egress workers (which run
//! them and report) share these, so a state is parsed in one place and a
//! late or repeated report cannot move a finished job back.

use serde::{Deserialize, Serialize};

/// What a job produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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

    #[test]
    fn the_wire_names_are_the_stored_names() {
        for kind in [
            EgressKind::Recording,
            EgressKind::Hls,
            EgressKind::Rtmp,
            EgressKind::TrackRecording,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(EgressKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            serde_json::to_value(EgressState::Complete).unwrap(),
            "complete"
        );
        assert!(serde_json::from_value::<EgressState>("done".into()).is_err());
    }
}
