//! Presence: the SFU announces media connections on the bus; this records
//! them so `GET {c}/participants` and the sessions show who is connected.

use chrono::Utc;
use onair_bus::EventKind;

use crate::domain::Participant;
use crate::state::AppState;

/// Listens to the bus for participant joins and leaves until the bus closes.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut events = state.bus.subscribe();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let result = match event.kind {
                EventKind::ParticipantJoined {
                    user_id,
                    participant_sid,
                } => {
                    let p = Participant {
                        participant_sid,
                        call_cid: event.call_cid.clone(),
                        session_id: None,
                        user_id,
                        joined_at: Utc::now(),
                        left_at: None,
                    };
                    state.store.participant_joined(&p).await.map(|known| {
                        if !known {
                            tracing::debug!(call_cid = %event.call_cid, "participant of a call the API does not know");
                        }
                    })
                }
                EventKind::ParticipantLeft {
                    participant_sid, ..
                } => {
                    state
                        .store
                        .participant_left(&participant_sid, Utc::now())
                        .await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(call_cid = %event.call_cid, error = %e, "recording presence failed");
            }
        }
    })
}
