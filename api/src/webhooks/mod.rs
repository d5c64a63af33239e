//! Webhooks: every stored event POSTed to the backends that asked for it,
//! signed as Stream signs them (`sign`), at least once and in order per
//! call.
//!
//! Why the delivery state is in the store and not in memory: LiveKit keeps
//! its webhook queue in the process and drops what is older than 30 s, so
//! a restart or a slow endpoint loses events. Here the event log
//! (`events`, written in the same transaction as the change) is the
//! outbox; each endpoint has its place in that log, and each event still
//! to deliver is a row (`webhook_deliveries`) with its attempts and next
//! attempt time. A restart or a SIGKILL resumes from those rows: an event
//! whose answer was lost in the crash goes out again (receivers dedupe by
//! `X-Webhook-Id`), none is skipped. One node delivers at a time (a lease
//! in the store, `supervisor`), whichever node stored the event.
//!
//! Order and isolation: a call's events go to an endpoint one after
//! another (the next once the previous is delivered or parked), several
//! calls at once (`delivery::IN_FLIGHT`), each endpoint in its own loop, so
//! a failing endpoint or call holds back only itself. Failures are retried
//! with backoff for `webhook_retry_for`, then parked for
//! `POST /v1/webhooks/failed/redeliver` (`crate::routes::webhooks`).

mod attempt;
mod delivery;
pub mod send;
mod settle;
pub mod sign;
mod supervisor;

use std::time::Duration;

use chrono::Utc;

use crate::domain::webhook::Source;
use crate::state::AppState;
use crate::store::StoreResult;

/// Stores the config's endpoints, then delivers whenever this node holds
/// the lease, until it drains. Every API node runs it; one delivers.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Err(e) = store_config_endpoints(&state).await {
            tracing::warn!(error = %e, "storing the config's webhook endpoints failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        supervisor::run(state).await;
    })
}

/// Makes the store's config endpoints those of this node's config (every
/// node of a cluster should list the same ones).
pub async fn store_config_endpoints(state: &AppState) -> StoreResult<()> {
    let endpoints = &state.config.webhooks.endpoints;
    state
        .store
        .replace_webhook_endpoints(Source::Config, endpoints, Utc::now())
        .await
}
