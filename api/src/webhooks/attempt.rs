//! One call's lane to one endpoint: an attempt at the call's head, and what
//! the store keeps of it (delivered: the delivery is gone; retried later,
//! with backoff; or parked). While the call's next event is due at once
//! (the previous one delivered or parked), the lane sends it too, without
//! a round through the endpoint's loop.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::send;
use super::settle::Settle;
use crate::domain::webhook::{retry_at, Delivery, FailedAttempt, Outcome, StoredEndpoint};
use crate::state::AppState;

/// How long a lane pauses when there is no key to sign with.
const NO_KEY_PAUSE: Duration = Duration::from_secs(1);

/// Attempts `head` (and the call's next events while they are due at
/// once) to `endpoint`, handing each outcome to the endpoint's recorder.
pub async fn run(
    state: AppState,
    client: reqwest::Client,
    endpoint: Arc<StoredEndpoint>,
    head: Delivery,
    recorder: mpsc::Sender<Settle>,
) {
    let mut next = Some(head);
    while let Some(delivery) = next {
        next = once(&state, &client, &endpoint, delivery, &recorder)
            .await
            .filter(|d| d.next_attempt_at <= Utc::now());
    }
}

/// One attempt at `delivery`, recorded: the call's next head, if any.
async fn once(
    state: &AppState,
    client: &reqwest::Client,
    endpoint: &StoredEndpoint,
    delivery: Delivery,
    recorder: &mpsc::Sender<Settle>,
) -> Option<Delivery> {
    let Some(key) = state.keys.primary().cloned() else {
        tracing::warn!("no API key to sign webhooks with");
        tokio::time::sleep(NO_KEY_PAUSE).await;
        return None;
    };
    let started = Utc::now();
    let attempt = delivery.attempts.saturating_add(1);
    let url = &endpoint.endpoint.url;
    let outcome = send::post(client, url, &key, &delivery.event, attempt).await;
    if let Outcome::Retry(error) | Outcome::Park(error) = &outcome {
        tracing::debug!(
            endpoint = %endpoint.endpoint.loggable_url(),
            event_id = delivery.event.id,
            attempt,
            %error,
            "webhook attempt failed"
        );
    }
    let (reply, next) = oneshot::channel();
    let settle = Settle {
        event_id: delivery.event.id,
        call_cid: delivery.event.call_cid.clone(),
        failed: failed_attempt(state, endpoint, &delivery, started, outcome),
        reply,
    };
    recorder.send(settle).await.ok()?;
    next.await.ok().flatten()
}

/// The failure to record, or `None` when delivered.
fn failed_attempt(
    state: &AppState,
    endpoint: &StoredEndpoint,
    delivery: &Delivery,
    started: DateTime<Utc>,
    outcome: Outcome,
) -> Option<FailedAttempt> {
    let error = match &outcome {
        Outcome::Delivered => return None,
        Outcome::Retry(error) | Outcome::Park(error) => error.clone(),
    };
    let attempts = delivery.attempts.saturating_add(1);
    let first = delivery.first_attempt_at.unwrap_or(started);
    let now = Utc::now();
    let retry_for = state.config.webhooks.retry_for;
    let jitter = rand::random::<f64>() * 0.5 + 0.75;
    let retry = retry_at(&outcome, attempts, first, now, retry_for, jitter);
    if retry.is_none() {
        tracing::warn!(
            endpoint = %endpoint.endpoint.loggable_url(),
            event_id = delivery.event.id,
            attempts,
            %error,
            "webhook delivery parked"
        );
    }
    Some(FailedAttempt {
        event_id: delivery.event.id,
        call_cid: delivery.event.call_cid.clone(),
        attempts,
        first_attempt_at: first,
        at: now,
        error,
        retry_at: retry,
    })
}
