//! `/v1/webhooks`: where events are POSTed (server token only). The
//! config's endpoints are listed but changed only in the config; `PUT`
//! replaces those set over the API. Deliveries given up on are listed
//! under `failed` and put back in their queues with `redeliver`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::webhook::{self, Endpoint, Parked, Source, StoredEndpoint};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Json, OptionalJson, Query};
use crate::state::AppState;

/// Most parked deliveries one page lists, and event ids one redeliver names.
pub const MAX_PAGE: i64 = 1000;

/// `PUT /v1/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutWebhooksRequest {
    /// Up to 20 endpoints; replaces those set over the API (`[]` removes them).
    pub webhooks: Vec<Endpoint>,
}

/// One endpoint as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Where events are POSTed.
    pub url: String,
    /// The event types it gets; absent: every event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// `config` (the config file; change it there) or `api` (`PUT /v1/webhooks`).
    pub source: Source,
}

impl From<StoredEndpoint> for WebhookView {
    fn from(e: StoredEndpoint) -> Self {
        Self {
            url: e.endpoint.url,
            events: e.endpoint.events,
            source: e.source,
        }
    }
}

/// Every endpoint: the config's, then the API's.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksResponse {
    /// The endpoints.
    pub webhooks: Vec<WebhookView>,
}

/// Every webhook endpoint (server token).
#[utoipa::path(get, path = "/v1/webhooks", tag = "events", security(("token" = [])),
    responses((status = 200, body = WebhooksResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<WebhooksResponse>> {
    caller.require_server()?;
    listed(&state).await
}

/// Replaces the endpoints set over the API (server token). An endpoint
/// whose URL stays keeps its queue; a new one gets the events stored from
/// now on; a removed one is dropped with its queue and parked deliveries.
#[utoipa::path(put, path = "/v1/webhooks", tag = "events", request_body = PutWebhooksRequest,
    security(("token" = [])),
    responses((status = 200, body = WebhooksResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<PutWebhooksRequest>,
) -> ApiResult<axum::Json<WebhooksResponse>> {
    caller.require_server()?;
    webhook::validate(&req.webhooks).map_err(|e| ApiError::invalid(e.code(), e.to_string()))?;
    let now = chrono::Utc::now();
    state
        .store
        .replace_webhook_endpoints(Source::Api, &req.webhooks, now)
        .await?;
    listed(&state).await
}

async fn listed(state: &AppState) -> ApiResult<axum::Json<WebhooksResponse>> {
    let endpoints = state.store.webhook_endpoints().await?;
    Ok(axum::Json(WebhooksResponse {
        webhooks: endpoints.into_iter().map(WebhookView::from).collect(),
    }))
}

/// Which parked deliveries to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FailedQuery {
    /// The `next` of the previous page; absent: from the start.
    pub after: Option<String>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// A delivery given up on.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedView {
    /// The event's id (`X-Webhook-Id`).
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event's call.
    pub call_cid: String,
    /// The endpoint it was for.
    pub url: String,
    /// Attempts made.
    pub attempts: u32,
    /// What went wrong last (`HTTP 500`, `timed out after 10s`, …).
    pub last_error: Option<String>,
    /// When the last attempt ended.
    pub last_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<Parked> for FailedView {
    fn from(p: Parked) -> Self {
        Self {
            event_id: p.event_id.to_string(),
            event_type: p.event_type,
            call_cid: p.call_cid,
            url: p.url,
            attempts: p.attempts,
            last_error: p.last_error,
            last_attempt_at: p.last_attempt_at,
        }
    }
}

/// A page of parked deliveries, oldest event first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedResponse {
    /// The deliveries.
    pub failed: Vec<FailedView>,
    /// The `after` of the next page; absent when this one was empty.
    pub next: Option<String>,
}

/// Deliveries given up on (server token): retried for
/// `webhook_retry_for` in vain, or refused with a 4xx other than 408/429.
#[utoipa::path(get, path = "/v1/webhooks/failed", tag = "events", security(("token" = [])),
    params(FailedQuery),
    responses((status = 200, body = FailedResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn failed(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<FailedQuery>,
) -> ApiResult<axum::Json<FailedResponse>> {
    caller.require_server()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit is 1 to 1000"));
    }
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    let after = after
        .as_ref()
        .map(|(event, endpoint)| (*event, endpoint.as_str()));
    let parked = state.store.parked_webhooks(after, limit).await?;
    Ok(axum::Json(FailedResponse {
        next: parked
            .last()
            .map(|p| format!("{}:{}", p.event_id, p.endpoint_id)),
        failed: parked.into_iter().map(FailedView::from).collect(),
    }))
}

/// A page cursor `EVENT_ID:ENDPOINT_ID`.
fn parse_cursor(text: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::invalid("invalid_after", "`after` is the `next` of a previous page");
    let (event, endpoint) = text.split_once(':').ok_or_else(bad)?;
    let event = parse_event_id(event).ok_or_else(bad)?;
    if endpoint.len() > 64 {
        return Err(bad());
    }
    Ok((event, endpoint.to_owned()))
}

fn parse_event_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| *n > 0)
}

/// `POST /v1/webhooks/failed/redeliver` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    /// The events to deliver again (up to 1000 ids); absent: every parked delivery.
    pub event_ids: Option<Vec<String>>,
}

/// How many deliveries went back in their queues.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeliverResponse {
    /// Deliveries queued again.
    pub redelivered: u64,
}

/// Puts parked deliveries back in their queues, due now (server token).
#[utoipa::path(post, path = "/v1/webhooks/failed/redeliver", tag = "events",
    request_body = RedeliverRequest, security(("token" = [])),
    responses((status = 200, body = RedeliverResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    OptionalJson(req): OptionalJson<RedeliverRequest>,
) -> ApiResult<axum::Json<RedeliverResponse>> {
    caller.require_server()?;
    let ids = match req.event_ids {
        None => None,
        Some(ids) if ids.len() > MAX_PAGE as usize => {
            return Err(ApiError::invalid(
                "too_many_ids",
                "name at most 1000 event ids",
            ));
        }
        Some(ids) => Some(
            ids.iter()
                .map(|id| parse_event_id(id))
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| {
                    ApiError::invalid("invalid_event_id", "event ids are the `id`s of events")
                })?,
        ),
    };
    let now = chrono::Utc::now();
    let redelivered = state.store.redeliver_webhooks(ids.as_deref(), now).await?;
    Ok(axum::Json(RedeliverResponse { redelivered }))
}
