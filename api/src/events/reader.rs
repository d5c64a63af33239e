//! The live tail of the event log: one reader per node follows the stored
//! events in id order and hands each to the listeners of the node's
//! [`Hub`](crate::hub::Hub). Reading the store (rather than passing on what
//! commits announce) makes the order everyone sees the store's, whichever
//! node or request committed first. Other nodes' commits arrive through the
//! bus (any bus event wakes the reader) or, at worst, the next poll.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;
use crate::store::EventFilter;

/// How often the reader looks for events nobody told it of.
const POLL: Duration = Duration::from_secs(1);
/// Events read from the store at once.
const BATCH: i64 = 500;

/// Runs this node's reader until the bus closes.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut bus = state.bus.subscribe();
    let mut latest = state.events.stored_watch();
    tokio::spawn(async move {
        let mut cursor = loop {
            match state.store.last_event_id().await {
                Ok(id) => break id,
                Err(e) => tracing::warn!(error = %e, "reading the event log failed; retrying"),
            }
            tokio::time::sleep(POLL).await;
        };
        loop {
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { return },
                event = bus.recv() => if event.is_none() { return },
                _ = tokio::time::sleep(POLL) => {}
            }
            cursor = forward(&state, cursor).await;
        }
    })
}

/// Hands every event after `cursor` to the listeners; the new cursor.
async fn forward(state: &AppState, mut cursor: i64) -> i64 {
    loop {
        let batch = match state
            .store
            .events_after(cursor, &EventFilter::All, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "reading new events failed");
                return cursor;
            }
        };
        let full = batch.len() as i64 == BATCH;
        for event in batch {
            cursor = event.id;
            state.events.publish(Arc::new(event));
        }
        if !full {
            return cursor;
        }
    }
}
