//! What the media side reports on the bus, recorded: the SFU's participant
//! joins and leaves (so `GET {c}/participants` and the sessions show who is
//! connected), and egress workers' job states (so recordings list their
//! state and files). A running job whose worker falls silent (killed,
//! crashed, or no worker took it) is marked failed, never left `active`.

use std::time::Duration;

use chrono::Utc;
use onair_bus::EventKind;

use crate::domain::EgressState;
use crate::state::AppState;
use crate::store::{StoreResult, Write};

/// Ends every call whose session has lasted its `max_duration_seconds`
/// (a call that cannot be looked at now is tried at the next sweep).
async fn end_overdue_calls(state: &AppState) -> StoreResult<()> {
    let now = Utc::now();
    for session in state.store.open_sessions().await? {
        if let Err(e) = end_if_overdue(state, &session.call_cid, session.started_at, now).await {
            tracing::warn!(call_cid = %session.call_cid, error = %e.body.message, "ending an overdue call failed");
        }
    }
    Ok(())
}

async fn end_if_overdue(
    state: &AppState,
    cid: &str,
    started: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
) -> Result<(), crate::error::ApiError> {
    let Some(call) = state.store.get_call(cid).await? else {
        return Ok(());
    };
    if call.ended_at.is_some() {
        return Ok(());
    }
    let call_type = crate::context::call_type(state, &call.cid.call_type).await?;
    let settings = crate::context::effective_settings(&call_type, &call);
    let Some(max) = settings.limits.max_duration_seconds else {
        return Ok(());
    };
    if now - started >= chrono::Duration::seconds(max.into()) {
        tracing::info!(call_cid = %call.cid, max, "the call reached its max_duration_seconds");
        crate::lifecycle::end_call(state, &call, Some("max_duration")).await?;
    }
    Ok(())
}

/// A running egress job whose worker has not reported for this long has
/// failed (workers report every few seconds, and before finishing a file).
pub const EGRESS_SILENCE: Duration = Duration::from_secs(15);

/// Listens to the bus for participant and egress reports until the bus
/// closes, and fails silent egress jobs.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut events = state.bus.subscribe();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(Duration::from_secs(2));
        loop {
            let event = tokio::select! {
                event = events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
                _ = sweep.tick() => {
                    if let Err(e) = fail_silent_egress(&state).await {
                        tracing::warn!(error = %e, "sweeping silent egress jobs failed");
                    }
                    if let Err(e) = end_overdue_calls(&state).await {
                        tracing::warn!(error = %e, "sweeping overdue calls failed");
                    }
                    continue;
                }
            };
            let result = match &event.kind {
                EventKind::ParticipantJoined { .. } | EventKind::ParticipantLeft { .. } => {
                    participant_event(&state, &event).await
                }
                EventKind::EgressUpdated {
                    egress_id,
                    state: reported,
                    error,
                    file,
                    size,
                    duration_ms,
                } => {
                    let report = Report {
                        state: *reported,
                        error: error.clone(),
                        file: file.clone(),
                        size: *size,
                        duration_ms: *duration_ms,
                    };
                    egress_report(&state, egress_id, report).await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(call_cid = %event.call_cid, error = %e, "recording a report failed");
            }
        }
    })
}

/// Records a participant's join or leave with its events: who, why they
/// left and how long they stayed, and the call's new head count.
async fn participant_event(state: &AppState, event: &onair_bus::Event) -> StoreResult<()> {
    let Some((write, told)) = crate::events::participants::of(state, event).await? else {
        return Ok(());
    };
    if crate::events::store(state, vec![write], told).await? {
        crate::events::participants::count_changed(state, &event.call_cid).await?;
    }
    Ok(())
}

/// Marks running jobs whose worker went silent as failed.
async fn fail_silent_egress(state: &AppState) -> StoreResult<()> {
    let before = Utc::now() - EGRESS_SILENCE;
    for job in state.store.silent_egress(before).await? {
        let why = if job.state == EgressState::Starting {
            "no egress worker took the job"
        } else {
            "the egress worker stopped reporting (killed or gone)"
        };
        let report = Report {
            state: EgressState::Failed,
            error: Some(why.into()),
            file: None,
            size: 0,
            duration_ms: 0,
        };
        egress_report(state, &job.id, report).await?;
    }
    Ok(())
}

struct Report {
    state: EgressState,
    error: Option<String>,
    file: Option<String>,
    size: u64,
    duration_ms: u64,
}

/// Applies a worker's report to its job, if the state machine allows it.
async fn egress_report(state: &AppState, id: &str, report: Report) -> StoreResult<()> {
    let next = report.state;
    // The API may move the job (stop) between our read and write: retry.
    for _ in 0..5 {
        let Some(mut job) = state.store.get_egress(id).await? else {
            tracing::debug!(egress = %id, "report for an unknown egress job");
            return Ok(());
        };
        let previous = job.state;
        // A stop the API already recorded is not undone by a late `active`.
        let next = if previous == EgressState::Ending && next == EgressState::Active {
            EgressState::Ending
        } else {
            next
        };
        if !previous.may_become(next) {
            tracing::debug!(egress = %id, from = previous.as_str(), to = next.as_str(), "stale egress report ignored");
            return Ok(());
        }
        let now = Utc::now();
        job.state = next;
        if next == EgressState::Active && job.started_at.is_none() {
            job.started_at = Some(now);
        }
        if matches!(next, EgressState::Complete | EgressState::Failed) {
            job.ended_at = Some(now);
        }
        job.error = report.error.clone().or(job.error);
        let had_file = job.file.is_some();
        // Before `updated_at` moves: a new part's gap runs from the last report.
        job.reported(report.file.clone(), report.size, report.duration_ms, now);
        job.updated_at = now;
        let told = crate::events::egress::of(state, &job, previous, had_file).await;
        let write = Write::UpdateEgress {
            egress: job.clone(),
            previous,
        };
        if crate::events::store(state, vec![write], told).await? {
            if previous != next {
                tracing::info!(call_cid = %job.call_cid, egress = %id, state = next.as_str(), error = ?job.error, "egress job");
            }
            return Ok(());
        }
    }
    tracing::warn!(egress = %id, "egress report lost a race five times; dropped");
    Ok(())
}
