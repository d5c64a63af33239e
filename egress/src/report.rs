//! A job's reports to the API: its state changes and progress (size,
//! duration, file), published on the bus. The API applies each only if
//! the job's state machine allows it, so reports may repeat or arrive late.

use std::sync::Arc;
use std::time::Duration;

use onair_bus::{Bus, EgressState, Event, EventKind};

/// Publishes one job's state changes.
pub struct Reporter {
    bus: Arc<dyn Bus>,
    call_cid: String,
    egress_id: String,
}

impl Reporter {
    /// Reports on job `egress_id` of call `call_cid`.
    pub fn new(bus: Arc<dyn Bus>, call_cid: &str, egress_id: &str) -> Self {
        Reporter {
            bus,
            call_cid: call_cid.to_owned(),
            egress_id: egress_id.to_owned(),
        }
    }

    async fn send(
        &self,
        state: EgressState,
        error: Option<&str>,
        file: Option<&str>,
        size: u64,
        duration: Duration,
    ) {
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
