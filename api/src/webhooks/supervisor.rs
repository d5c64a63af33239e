//! Which node delivers, and the endpoint loops it runs. Nodes sharing a
//! store take turns through a lease row: the holder renews it every
//! [`RENEW`]; a node that dies stops renewing and another takes over once
//! it expires ([`LEASE_TTL`]); a node that shuts down gives it up at once.
//! The holder runs one [`delivery`] loop per endpoint and follows the
//! endpoint list in the store (changed by `PUT /v1/webhooks` on any node).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinHandle;

use super::{delivery, send};
use crate::domain::webhook::StoredEndpoint;
use crate::state::AppState;

/// How long a lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it (and others try to take it).
pub const RENEW: Duration = Duration::from_secs(2);
/// How often the holder reads the endpoint list again.
const RELOAD: Duration = Duration::from_secs(1);

/// Takes the lease whenever it is free and delivers while holding it,
/// until the node drains.
pub async fn run(state: AppState) {
    let holder = uuid::Uuid::new_v4().to_string();
    let client = send::client();
    while !state.draining.load(Ordering::Relaxed) {
        match state
            .store
            .take_webhook_lease(&holder, Utc::now(), LEASE_TTL)
            .await
        {
            Ok(true) => {
                tracing::info!("this node delivers webhooks");
                lead(&state, &holder, &client).await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "taking the webhook lease failed"),
        }
        tokio::time::sleep(RENEW).await;
    }
}

/// Runs the endpoint loops while the lease holds.
async fn lead(state: &AppState, holder: &str, client: &reqwest::Client) {
    let mut loops = Loops::default();
    let mut renewed = Instant::now();
    loop {
        if state.draining.load(Ordering::Relaxed) {
            loops.stop();
            if let Err(e) = state.store.release_webhook_lease(holder).await {
                tracing::warn!(error = %e, "giving up the webhook lease failed");
            }
            return;
        }
        if renewed.elapsed() >= RENEW {
            match state
                .store
                .take_webhook_lease(holder, Utc::now(), LEASE_TTL)
                .await
            {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::warn!("another node took over webhook delivery");
                    return;
                }
                // Stop well before the lease may have run out.
                Err(e) if renewed.elapsed() >= LEASE_TTL / 2 => {
                    tracing::warn!(error = %e, "cannot renew the webhook lease; stopping");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the webhook lease failed"),
            }
        }
        match state.store.webhook_endpoints().await {
            Ok(endpoints) => loops.follow(state, client, endpoints),
            Err(e) => tracing::warn!(error = %e, "reading webhook endpoints failed"),
        }
        tokio::time::sleep(RELOAD).await;
    }
}

/// The running endpoint loops, by endpoint id; aborted when dropped.
#[derive(Default)]
struct Loops(HashMap<String, (StoredEndpoint, JoinHandle<()>)>);

impl Loops {
    /// Runs a loop for each of `endpoints` (restarting one whose endpoint
    /// changed or whose loop ended) and stops the others.
    fn follow(
        &mut self,
        state: &AppState,
        client: &reqwest::Client,
        endpoints: Vec<StoredEndpoint>,
    ) {
        self.0.retain(|id, (running, handle)| {
            let same = endpoints
                .iter()
                .any(|e| &e.id == id && e.endpoint == running.endpoint);
            let keep = same && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for endpoint in endpoints {
            if self.0.contains_key(&endpoint.id) {
                continue;
            }
            let run = delivery::run(state.clone(), client.clone(), endpoint.clone());
            self.0
                .insert(endpoint.id.clone(), (endpoint, tokio::spawn(run)));
        }
    }

    /// Stops every loop (and their attempts).
    fn stop(&mut self) {
        for (_, (_, handle)) in self.0.drain() {
            handle.abort();
        }
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        self.stop();
    }
}
