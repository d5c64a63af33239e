//! `GET /v1/events`: the event log, paged by id. A backend catches up with
//! it after downtime; an app reads what happened in its calls. The same
//! events reach sockets and webhooks as they happen.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::context;
use crate::domain::CallCid;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Query};
use crate::state::AppState;
use crate::store::EventFilter;

/// Most events one page holds.
pub const MAX_PAGE: i64 = 1000;

/// Which events to read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events with ids above this one (the last one read); 0 or absent: from the start.
    pub after: Option<String>,
    /// Only this call's events (`type:id`).
    pub call_cid: Option<String>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// A page of events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    /// `{id, type, created_at, call_cid, …}` each.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// The `after` of the next page (the last id here), absent when the page was empty.
    pub next: Option<String>,
}

/// Events after an id: all of them for a server token; for a user token,
/// those of the calls it is a member of (or of `call_cid`, if it may read
/// that call).
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("token" = [])),
    params(EventsQuery),
    responses((status = 200, body = EventsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EventsQuery>,
) -> ApiResult<axum::Json<EventsResponse>> {
    let after = parse_id(q.after.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit is 1 to 1000"));
    }
    let filter = filter(&state, &caller, q.call_cid.as_deref()).await?;
    let events = state.store.events_after(after, &filter, limit).await?;
    Ok(axum::Json(EventsResponse {
        next: events.last().map(|e| e.id.to_string()),
        events: crate::events::to_json(&events),
    }))
}

/// An event id as clients send it back (a decimal string); 422 otherwise.
pub fn parse_id(id: Option<&str>) -> ApiResult<i64> {
    match id {
        None | Some("") => Ok(0),
        Some(id) => id
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid("invalid_after", "`after` is an event id")),
    }
}

/// What `caller` may read, narrowed to `call_cid` if given.
pub async fn filter(
    state: &AppState,
    caller: &Caller,
    call_cid: Option<&str>,
) -> ApiResult<EventFilter> {
    let Some(cid) = call_cid else {
        return Ok(match caller.user() {
            Some(user) => EventFilter::MemberOf(user.sub.clone(), Vec::new()),
            None => EventFilter::All,
        });
    };
    let cid = CallCid::parse(cid)?;
    if caller.user().is_some() {
        let ctx = context::load(state, caller, &cid).await?;
        ctx.require(onair_auth::Capability::ReadCall)?;
    }
    Ok(EventFilter::Call(cid.to_string()))
}
