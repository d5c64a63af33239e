//! One endpoint's sending loop. It moves the endpoint's place in the event
//! log forward (queueing the events it wants, in the store), then starts a
//! lane (`attempt`) for each call whose queue head is due, up to
//! [`IN_FLIGHT`] calls at once: a call's next event goes only once the
//! previous one is delivered or parked, and a slow call, or a slow
//! endpoint, holds back nothing else. Lanes hand their outcomes to the
//! endpoint's recorder (`settle`), which writes them in batches. New events
//! wake the loop at once; it also looks every [`POLL`] (retries come due,
//! another node redelivered parked events).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{Id, JoinError, JoinSet};

use super::attempt;
use super::settle::{self, Settle};
use crate::domain::event::StoredEvent;
use crate::domain::webhook::StoredEndpoint;
use crate::state::AppState;
use crate::store::EventFilter;

/// Calls one endpoint may have an event in flight for (so at most this
/// many requests to it at once).
pub const IN_FLIGHT: usize = 32;
/// The longest the loop sleeps without looking at the store.
pub const POLL: Duration = Duration::from_secs(1);
/// Events read from the log at once.
const FILL_BATCH: i64 = 500;
/// Batches queued before sending again (so a backlog does not hold up sending).
const FILL_ROUNDS: usize = 4;

/// The endpoint was removed or changed under this loop: it stops.
struct Gone;

/// One endpoint's queue as this node drives it.
struct Queue {
    state: AppState,
    client: reqwest::Client,
    endpoint: Arc<StoredEndpoint>,
    /// Events up to here are queued in the store.
    through: i64,
    /// The call each running attempt is for.
    in_flight: HashMap<Id, String>,
    sends: JoinSet<()>,
    /// Where lanes hand their outcomes.
    recorder: mpsc::Sender<Settle>,
    /// The recorder's task (aborted with the loop).
    _recording: JoinSet<()>,
}

/// Delivers to `endpoint` until it is gone (or the task is aborted, which
/// aborts its attempts too).
pub async fn run(state: AppState, client: reqwest::Client, endpoint: StoredEndpoint) {
    let mut events = Some(state.events.subscribe());
    let (recorder, outcomes) = mpsc::channel(IN_FLIGHT * 2);
    let mut recording = JoinSet::new();
    recording.spawn(settle::run(state.clone(), endpoint.id.clone(), outcomes));
    let mut queue = Queue {
        recorder,
        _recording: recording,
        through: endpoint.queued_through,
        endpoint: Arc::new(endpoint),
        state,
        client,
        in_flight: HashMap::new(),
        sends: JoinSet::new(),
    };
    let id = &queue.endpoint.id;
    if let Err(e) = queue.state.store.heal_webhook_queues(id, Utc::now()).await {
        tracing::warn!(error = %e, "checking webhook queues failed");
    }
    // Whether the log may hold events not queued yet.
    let mut more = true;
    loop {
        let (wait, left) = match queue.step(more).await {
            Ok(step) => step,
            Err(Gone) => return,
        };
        // A long backlog: queue the rest at once (sending goes on meanwhile).
        let wait = if left { Duration::ZERO } else { wait };
        more = left
            | tokio::select! {
                () = next_event(&mut events) => true,
                Some(done) = queue.sends.join_next_with_id(), if !queue.sends.is_empty() => {
                    queue.finished(done);
                    false
                }
                () = tokio::time::sleep(wait) => true,
            };
        while let Some(done) = queue.sends.try_join_next_with_id() {
            queue.finished(done);
        }
    }
}

/// Waits for the next stored event (forever once the hub is gone), then
/// skips the others already waiting: one look at the store covers them.
async fn next_event(events: &mut Option<broadcast::Receiver<Arc<StoredEvent>>>) {
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    if let Err(broadcast::error::RecvError::Closed) = rx.recv().await {
        *events = None;
        return;
    }
    while !matches!(
        rx.try_recv(),
        Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
    ) {}
}

impl Queue {
    /// Queues new events (if there may be some) and starts what may go:
    /// how long to wait at most, and whether events may be left to queue.
    async fn step(&mut self, more: bool) -> Result<(Duration, bool), Gone> {
        let left = more && self.fill().await?;
        Ok((self.dispatch().await, left))
    }

    /// Queues the events after `through` that the endpoint wants; whether
    /// some are left (a long backlog).
    async fn fill(&mut self) -> Result<bool, Gone> {
        for _ in 0..FILL_ROUNDS {
            let store = &self.state.store;
            let batch = match store
                .events_after(self.through, &EventFilter::All, FILL_BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "reading events for webhooks failed");
                    return Ok(false); // the next poll tries again
                }
            };
            let Some(last) = batch.last().map(|e| e.id) else {
                return Ok(false);
            };
            let wanted: Vec<(i64, String)> = batch
                .iter()
                .filter(|e| self.endpoint.endpoint.wants(&e.event_type))
                .map(|e| (e.id, e.call_cid.clone()))
                .collect();
            let id = &self.endpoint.id;
            match store
                .queue_webhook_events(id, self.through, last, &wanted, Utc::now())
                .await
            {
                Ok(true) => self.through = last,
                Ok(false) => return Err(Gone),
                Err(e) => {
                    tracing::warn!(error = %e, "queueing webhook events failed");
                    return Ok(false);
                }
            }
            if (batch.len() as i64) < FILL_BATCH {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts the due head of each call not in flight, while there is
    /// room; the time until the next one comes due (at most [`POLL`]).
    async fn dispatch(&mut self) -> Duration {
        if self.in_flight.len() >= IN_FLIGHT {
            return POLL;
        }
        let limit = (IN_FLIGHT * 2) as i64;
        let heads = match self
            .state
            .store
            .webhook_heads(&self.endpoint.id, limit)
            .await
        {
            Ok(heads) => heads,
            Err(e) => {
                tracing::warn!(error = %e, "reading webhook queues failed");
                return POLL;
            }
        };
        let now = Utc::now();
        for delivery in heads {
            if self.in_flight.len() >= IN_FLIGHT {
                break;
            }
            let cid = &delivery.event.call_cid;
            if self.in_flight.values().any(|c| c == cid) {
                continue;
            }
            if delivery.next_attempt_at > now {
                // Heads come soonest due first: the rest are later still.
                let wait = (delivery.next_attempt_at - now)
                    .to_std()
                    .unwrap_or_default();
                return wait.min(POLL);
            }
            let cid = cid.clone();
            let run = attempt::run(
                self.state.clone(),
                self.client.clone(),
                self.endpoint.clone(),
                delivery,
                self.recorder.clone(),
            );
            let handle = self.sends.spawn(run);
            self.in_flight.insert(handle.id(), cid);
        }
        POLL
    }

    /// An attempt ended (its result is in the store): its call may go on.
    fn finished(&mut self, done: Result<(Id, ()), JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => e.id(),
        };
        self.in_flight.remove(&id);
    }
}
