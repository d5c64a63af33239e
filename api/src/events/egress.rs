//! What apps and backends hear of egress jobs, as Stream names it: a
//! recording starts, stops, is ready (with its link, length and size) or
//! fails (with why); likewise HLS and RTMP broadcasts. Made from the job's
//! move from one state to the next, stored with that move. An HLS
//! broadcast starts, for its listeners, once it has a playlist to play:
//! `call.hls_broadcasting_started` always carries `playlist_url` (players
//! such as the Flutter SDK's `LivestreamPlayer` take it from there).

use serde_json::{json, Value};

use crate::domain::event::NewEvent;
use crate::domain::{Egress, EgressKind, EgressState};
use crate::state::AppState;

/// The events of `job` moving from `previous` (when it had a file, or
/// not: `had_file`) to its state and file now.
pub async fn of(
    state: &AppState,
    job: &Egress,
    previous: EgressState,
    had_file: bool,
) -> Vec<NewEvent> {
    if !starts(job, previous, had_file) && previous == job.state {
        return Vec::new();
    }
    let prefix = match job.kind {
        EgressKind::Recording | EgressKind::TrackRecording => "call.recording",
        EgressKind::Hls => "call.hls_broadcasting",
        EgressKind::Rtmp => "call.rtmp_broadcast",
    };
    let mut fields = json!({"egress_id": job.id, "kind": job.kind.as_str()});
    if let Some(name) = &job.name {
        fields["name"] = name.clone().into();
    }
    let event = |suffix: &str, fields: Value| {
        NewEvent::new(&job.call_cid, &format!("{prefix}_{suffix}"), fields)
    };
    match job.state {
        EgressState::Active if starts(job, previous, had_file) => {
            if job.kind == EgressKind::Hls {
                fields["playlist_url"] = link(state, job, true).await;
            }
            vec![event("started", fields)]
        }
        EgressState::Active => Vec::new(),
        EgressState::Complete => {
            let mut out = vec![event("stopped", fields.clone())];
            if matches!(job.kind, EgressKind::Recording | EgressKind::TrackRecording) {
                fields["url"] = link(state, job, false).await;
                fields["filename"] = job.file.clone().into();
                fields["duration_ms"] = job.duration_ms.into();
                fields["size"] = job.size.into();
                out.push(event("ready", fields));
            }
            out
        }
        EgressState::Failed => {
            fields["error"] = job.error.clone().into();
            vec![event("failed", fields)]
        }
        _ => Vec::new(),
    }
}

/// Whether `job` starts now, for its listeners: a job going active; an
/// HLS broadcast once it is active with a playlist (its first active
/// report may come before the first segment is written).
fn starts(job: &Egress, previous: EgressState, had_file: bool) -> bool {
    if job.state != EgressState::Active {
        return false;
    }
    if job.kind == EgressKind::Hls {
        let has_file = job.file.is_some();
        return has_file && (previous == EgressState::Starting || !had_file);
    }
    previous == EgressState::Starting
}

/// A signed link to the job's file (`dir`: one that also reaches its
/// siblings, for a playlist), or null while it has none.
async fn link(state: &AppState, job: &Egress, dir: bool) -> Value {
    match (&job.file, dir) {
        (Some(f), true) => state.files.dir_url(f).await.into(),
        (Some(f), false) => state.files.url(f).await.into(),
        (None, _) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn job(kind: EgressKind, state: EgressState, file: Option<&str>) -> Egress {
        let call = crate::domain::Call::fixture("livestream", "x", Utc::now());
        let mut job =
            Egress::requested("EG_1".into(), &call, kind, None, "360p".into(), Utc::now());
        job.state = state;
        job.file = file.map(str::to_owned);
        job
    }

    #[test]
    fn hls_starts_when_its_playlist_exists() {
        use EgressState::{Active, Starting};
        // Active without a playlist yet: not started; the report that
        // brings the playlist starts it, once.
        assert!(!starts(
            &job(EgressKind::Hls, Active, None),
            Starting,
            false
        ));
        assert!(starts(
            &job(EgressKind::Hls, Active, Some("hls/x")),
            Active,
            false
        ));
        assert!(!starts(
            &job(EgressKind::Hls, Active, Some("hls/x")),
            Active,
            true
        ));
        assert!(starts(
            &job(EgressKind::Hls, Active, Some("hls/x")),
            Starting,
            false
        ));
        // Recordings start when they go active, file or not.
        assert!(starts(
            &job(EgressKind::Recording, Active, None),
            Starting,
            false
        ));
        assert!(!starts(
            &job(EgressKind::Recording, Active, Some("r.mp4")),
            Active,
            false
        ));
    }
}
