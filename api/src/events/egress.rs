//! What apps and backends hear of egress jobs, as Stream names it: a
//! recording starts, stops, is ready (with its link, length and size) or
//! fails (with why); likewise HLS and RTMP broadcasts. Made from the job's
//! move from one state to the next, stored with that move.

use serde_json::{json, Value};

use crate::domain::event::NewEvent;
use crate::domain::{Egress, EgressKind, EgressState};
use crate::state::AppState;

/// The events of `job` moving from `previous` to its state now.
pub async fn of(state: &AppState, job: &Egress, previous: EgressState) -> Vec<NewEvent> {
    if previous == job.state {
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
        EgressState::Active if previous == EgressState::Starting => {
            if job.kind == EgressKind::Hls {
                fields["playlist_url"] = link(state, job, true).await;
            }
            vec![event("started", fields)]
        }
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

/// A signed link to the job's file (`dir`: one that also reaches its
/// siblings, for a playlist), or null while it has none.
async fn link(state: &AppState, job: &Egress, dir: bool) -> Value {
    match (&job.file, dir) {
        (Some(f), true) => state.files.dir_url(f).await.into(),
        (Some(f), false) => state.files.url(f).await.into(),
        (None, _) => Value::Null,
    }
}
