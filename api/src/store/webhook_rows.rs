//! The webhook tables' rows as the database holds them, and their
//! conversion to domain types (for `webhooks.rs`).

use super::rows::{json, opt_time, time};
use super::{StoreError, StoreResult};
use crate::domain::event::StoredEvent;
use crate::domain::webhook::{Delivery, Endpoint, Parked, Source, StoredEndpoint};

#[derive(sqlx::FromRow)]
pub(super) struct EndpointRow {
    id: String,
    source: String,
    url: String,
    events: Option<String>,
    queued_through: i64,
}

impl TryFrom<EndpointRow> for StoredEndpoint {
    type Error = StoreError;
    fn try_from(r: EndpointRow) -> Result<Self, StoreError> {
        let source = Source::parse(&r.source)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook source {}", r.source)))?;
        let events = r
            .events
            .map(|e| json::<Vec<String>>(&e, "webhook_endpoints.events"))
            .transpose()?;
        Ok(StoredEndpoint {
            id: r.id,
            source,
            endpoint: Endpoint { url: r.url, events },
            queued_through: r.queued_through,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct HeadRow {
    endpoint_id: String,
    event_id: i64,
    attempts: i64,
    first_attempt_at: Option<i64>,
    next_attempt_at: Option<i64>,
    #[sqlx(rename = "type")]
    event_type: String,
    call_cid: String,
    created_at: i64,
    payload: String,
}

impl TryFrom<HeadRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: HeadRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            endpoint_id: r.endpoint_id,
            event: StoredEvent {
                id: r.event_id,
                event_type: r.event_type,
                call_cid: r.call_cid,
                created_at: time(r.created_at)?,
                payload: json(&r.payload, "events.payload")?,
            },
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            first_attempt_at: opt_time(r.first_attempt_at)?,
            next_attempt_at: time(r.next_attempt_at.unwrap_or(0))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ParkedRow {
    endpoint_id: String,
    url: String,
    event_id: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    call_cid: String,
    attempts: i64,
    last_error: Option<String>,
    last_attempt_at: Option<i64>,
}

impl TryFrom<ParkedRow> for Parked {
    type Error = StoreError;
    fn try_from(r: ParkedRow) -> Result<Self, StoreError> {
        Ok(Parked {
            endpoint_id: r.endpoint_id,
            url: r.url,
            event_id: r.event_id,
            event_type: r.event_type,
            call_cid: r.call_cid,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            last_error: r.last_error,
            last_attempt_at: opt_time(r.last_attempt_at)?,
        })
    }
}

pub(super) fn rows<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}
