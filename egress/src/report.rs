//! A job's reports to the API: its state changes and progress (size,
//! duration, file), published on the bus. The API applies each only if
//! the job's state machine allows it, so reports may repeat or arrive late.
//! The node's `/metrics` count its jobs by kind and state from the same
//! reports: `onair_egress_jobs` those running, `onair_egress_jobs_ended_total`
//! those done.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use onair_bus::{Bus, EgressKind, EgressState, Event, EventKind};

/// Publishes one job's state changes.
pub struct Reporter {
    bus: Arc<dyn Bus>,
    call_cid: String,
    egress_id: String,
    kind: &'static str,
    /// Where the job is, as this node last reported it.
    state: Mutex<EgressState>,
}

impl Reporter {
    /// Reports on job `egress_id` (a `kind`) of call `call_cid`, starting.
    pub fn new(bus: Arc<dyn Bus>, call_cid: &str, egress_id: &str, kind: EgressKind) -> Self {
        let kind = kind.as_str();
        running(kind, EgressState::Starting).increment(1.0);
        Reporter {
            bus,
            call_cid: call_cid.to_owned(),
            egress_id: egress_id.to_owned(),
            kind,
            state: Mutex::new(EgressState::Starting),
        }
    }

    /// The job's kind, as its metrics label it.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Moves the job's count from its last state to `state`.
    fn count(&self, state: EgressState) {
        let mut last = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *last == state || !last.is_running() {
            return;
        }
        running(self.kind, *last).decrement(1.0);
        match state.is_running() {
            true => running(self.kind, state).increment(1.0),
            false => {
                let ended = state.as_str();
                metrics::counter!("onair_egress_jobs_ended_total", "kind" => self.kind, "state" => ended)
                    .increment(1);
            }
        }
        *last = state;
    }

    async fn send(
        &self,
        state: EgressState,
        error: Option<&str>,
        file: Option<&str>,
        size: u64,
        duration: Duration,
    ) {
        self.count(state);
        let kind = EventKind::EgressUpdated {
            egress_id: self.egress_id.clone(),
            state,
            error: error.map(str::to_owned),
            file: file.map(str::to_owned),
            size,
            duration_ms: duration.as_millis() as u64,
        };
        let now = onair_auth::clock::unix_ms();
        if let Err(e) = self
            .bus
            .publish(Event::new(self.call_cid.clone(), now, kind))
            .await
        {
            tracing::warn!(egress = %self.egress_id, error = %e, "egress report not published");
        }
    }

    /// Producing output into `file` (named once a player may open it).
    pub async fn active(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Active, None, file, size, duration)
            .await;
    }

    /// Finishing (`file`, if it has one).
    pub async fn ending(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Ending, None, file, size, duration)
            .await;
    }

    /// Done (`file`, if it has one, is complete).
    pub async fn complete(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Complete, None, file, size, duration)
            .await;
    }

    /// Gave up, leaving `file` if any.
    pub async fn failed(&self, why: &str, file: Option<&str>) {
        self.send(EgressState::Failed, Some(why), file, 0, Duration::ZERO)
            .await;
    }
}

impl Drop for Reporter {
    /// A job that ends without a last report (aborted) is no longer running.
    fn drop(&mut self) {
        let last = *self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if last.is_running() {
            running(self.kind, last).decrement(1.0);
        }
    }
}

/// The gauge of `kind` jobs running in `state` on this node.
fn running(kind: &'static str, state: EgressState) -> metrics::Gauge {
    metrics::gauge!("onair_egress_jobs", "kind" => kind, "state" => state.as_str())
}
