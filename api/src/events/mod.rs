//! Events as a product: every change to a call is stored with the events
//! it causes ([`commit`], one transaction), then told to the SFU and egress
//! over the bus and to apps and backends through the [`crate::hub`] (sockets,
//! webhooks, `GET /v1/events`). A crash between the change and its events
//! cannot lose them: they are one write.

pub mod egress;
pub mod participants;
pub mod public;
pub mod push;
pub mod reader;
pub mod socket;

use onair_bus::{Event, EventKind};

use crate::domain::event::{NewEvent, StoredEvent};
use crate::domain::CallCid;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::Write;

/// What one change announces: bus events (for the SFU and egress, each
/// also stored as its public event when it has one) and events only apps
/// and backends hear.
#[derive(Default)]
pub struct Announce {
    /// Bus events.
    pub bus: Vec<EventKind>,
    /// Public events with no bus counterpart.
    pub public: Vec<NewEvent>,
}

impl Announce {
    /// Announces the bus events `kinds`.
    pub fn bus(kinds: impl IntoIterator<Item = EventKind>) -> Self {
        Self {
            bus: kinds.into_iter().collect(),
            public: Vec::new(),
        }
    }

    /// Announces the public event `event` too.
    pub fn and(mut self, event: NewEvent) -> Self {
        self.public.push(event);
        self
    }
}

/// Applies `writes` and stores what `announce` says in one transaction,
/// then announces it. `false` (and nothing stored or announced) when a
/// conditional write did not apply.
pub async fn commit(
    state: &AppState,
    cid: &CallCid,
    writes: Vec<Write>,
    announce: Announce,
) -> ApiResult<bool> {
    let cid = cid.to_string();
    let now = onair_auth::clock::unix_ms();
    let bus: Vec<Event> = announce
        .bus
        .into_iter()
        .map(|kind| Event::new(cid.clone(), now, kind))
        .collect();
    // The change's own events first (`call.member_added` before the
    // `call.member_updated` of the same member), then those of its bus events.
    let mut public = announce.public;
    public.extend(bus.iter().filter_map(public::of));
    let Some(stored) = state.store.commit(&writes, &public).await? else {
        return Ok(false);
    };
    for event in bus {
        if let Err(e) = state.bus.publish(event).await {
            tracing::warn!(call_cid = %cid, error = %e, "bus publish failed");
        }
    }
    state.events.stored(&stored);
    Ok(true)
}

/// Stores events that change nothing else (a custom event, a reaction, a
/// request for permissions) and announces them.
pub async fn record(state: &AppState, cid: &CallCid, announce: Announce) -> ApiResult<()> {
    commit(state, cid, Vec::new(), announce).await.map(drop)
}

/// Applies `writes` and stores `events` (no bus: what another node
/// reported, or what only apps hear) in one transaction. `false` when a
/// conditional write did not apply.
pub async fn store(
    state: &AppState,
    writes: Vec<Write>,
    events: Vec<NewEvent>,
) -> crate::store::StoreResult<bool> {
    let Some(stored) = state.store.commit(&writes, &events).await? else {
        return Ok(false);
    };
    state.events.stored(&stored);
    Ok(true)
}

/// The events as they go out, in order.
pub fn to_json(events: &[StoredEvent]) -> Vec<serde_json::Value> {
    events.iter().map(StoredEvent::to_json).collect()
}
