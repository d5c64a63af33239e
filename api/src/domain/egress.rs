//! Egress jobs (recordings, HLS, RTMP pushes) as the API stores them. Their
//! kind and state machine are `onair-bus`'s, shared with egress workers.

use chrono::{DateTime, Utc};
pub use onair_bus::{EgressKind, EgressState};
use serde::{Deserialize, Serialize};

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
    /// The file it writes or wrote (storage key); the last part.
    pub file: Option<String>,
    /// Bytes written to `file`.
    pub size: i64,
    /// Media duration of `file` in milliseconds.
    pub duration_ms: i64,
    /// The parts before `file`, oldest first: files left by workers that
    /// died while running the job.
    pub parts: Vec<EgressPart>,
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
            parts: Vec::new(),
            created_at: now,
            started_at: None,
            ended_at: None,
            updated_at: now,
        }
    }
}

/// A file a job's earlier worker left when it died.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EgressPart {
    /// Its storage key.
    pub file: String,
    /// Bytes.
    pub size: i64,
    /// Media duration in milliseconds.
    pub duration_ms: i64,
    /// At most this long went unrecorded between it and the next part:
    /// from its worker's last report to the next worker's first.
    pub gap_after_ms: i64,
}

impl Egress {
    /// Applies a worker's report of `file`, `size` and `duration_ms` at
    /// `now`: a file other than the job's is a new part (another worker
    /// took the job over), and the job's file so far becomes a part.
    pub fn reported(
        &mut self,
        file: Option<String>,
        size: u64,
        duration_ms: u64,
        now: DateTime<Utc>,
    ) {
        match (self.file.take(), file) {
            (Some(old), Some(new)) if old != new => {
                self.parts.push(EgressPart {
                    file: old,
                    size: self.size,
                    duration_ms: self.duration_ms,
                    gap_after_ms: (now - self.updated_at).num_milliseconds().max(0),
                });
                self.file = Some(new);
                self.size = size as i64;
                self.duration_ms = duration_ms as i64;
            }
            (old, new) => {
                self.file = new.or(old);
                self.size = size.max(self.size as u64) as i64;
                self.duration_ms = duration_ms.max(self.duration_ms as u64) as i64;
            }
        }
    }
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
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn a_report_of_another_file_starts_a_new_part() {
        let call = Call::fixture("default", "x", at(0));
        let mut job = Egress::requested(
            "EG_1".into(),
            &call,
            EgressKind::Recording,
            None,
            "720p".into(),
            at(0),
        );
        let first = Some("recordings/EG_1.mp4".to_owned());
        job.reported(first.clone(), 100, 1_000, at(1));
        job.updated_at = at(1);
        // Progress of the same file: it grows; a report without a file keeps it.
        job.reported(first.clone(), 500, 4_000, at(4));
        job.reported(None, 0, 0, at(5));
        job.updated_at = at(5);
        assert_eq!(
            (job.file.clone(), job.size, job.duration_ms),
            (first, 500, 4_000)
        );
        assert!(job.parts.is_empty());
        // Its worker died at 5 s; another reports its own file at 12 s.
        let second = Some("recordings/EG_1.part2.mp4".to_owned());
        job.reported(second.clone(), 10, 200, at(12));
        assert_eq!(
            (job.file.clone(), job.size, job.duration_ms),
            (second, 10, 200)
        );
        assert_eq!(
            job.parts,
            [EgressPart {
                file: "recordings/EG_1.mp4".into(),
                size: 500,
                duration_ms: 4_000,
                gap_after_ms: 7_000,
            }]
        );
    }
}
