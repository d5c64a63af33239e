//! An endpoint's recorder: its lanes hand it their attempts' outcomes and
//! it writes them to the store in batches (what came in while the last
//! batch was being written goes in one transaction), answering each lane
//! with its call's next head. Under load one write settles many attempts;
//! alone, an outcome is written at once.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::domain::webhook::{Delivery, FailedAttempt};
use crate::state::AppState;

/// Most outcomes written at once.
const MAX_BATCH: usize = 256;
/// How long to wait before writing again when the store failed (the
/// calls stay held back meanwhile).
const STORE_RETRY: Duration = Duration::from_secs(1);

/// One attempt's outcome, and where its call's next head goes.
pub struct Settle {
    /// The event attempted.
    pub event_id: i64,
    /// Its call.
    pub call_cid: String,
    /// How it failed; `None`: delivered.
    pub failed: Option<FailedAttempt>,
    /// The call's next head, if it has one due now.
    pub reply: oneshot::Sender<Option<Delivery>>,
}

/// Records outcomes for endpoint `endpoint_id` until every lane is gone.
pub async fn run(state: AppState, endpoint_id: String, mut outcomes: mpsc::Receiver<Settle>) {
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match outcomes.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let heads = write(&state, &endpoint_id, &batch).await;
        answer(batch, &heads);
    }
}

/// Writes `batch` until the store takes it (a call's next event must not
/// go before the store knows the previous one is settled): the new heads.
async fn write(state: &AppState, endpoint_id: &str, batch: &[Settle]) -> Vec<Delivery> {
    let delivered: Vec<(i64, String)> = batch
        .iter()
        .filter(|s| s.failed.is_none())
        .map(|s| (s.event_id, s.call_cid.clone()))
        .collect();
    let failed: Vec<FailedAttempt> = batch.iter().filter_map(|s| s.failed.clone()).collect();
    loop {
        let now = Utc::now();
        let store = &state.store;
        match store
            .settle_webhooks(endpoint_id, &delivered, &failed, now)
            .await
        {
            Ok(heads) => return heads,
            Err(e) => tracing::warn!(error = %e, "recording webhook attempts failed; retrying"),
        }
        tokio::time::sleep(STORE_RETRY).await;
    }
}

/// Hands each lane its call's next head (none after a failure retried later).
fn answer(batch: Vec<Settle>, heads: &[Delivery]) {
    for s in batch {
        let retried = s.failed.as_ref().is_some_and(|f| f.retry_at.is_some());
        let next = heads
            .iter()
            .find(|h| h.event.call_cid == s.call_cid && !retried)
            .cloned();
        // A lane that is gone (its loop stopped) needs no answer.
        let _ = s.reply.send(next);
    }
}
