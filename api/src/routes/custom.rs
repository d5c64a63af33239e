//! Custom events and reactions (`{c}/event`, `{c}/reaction`): an app's own
//! messages to a call. They are stored as events (`custom`,
//! `call.reaction_new`) for the members' sockets and webhooks, and sent as
//! data packets (topics `onair.custom`, `onair.reaction`) to everyone in
//! the call's media.

use axum::extract::State;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::context;
use crate::domain::event::NewEvent;
use crate::domain::CallCid;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json};
use crate::routes::live::Done;
use crate::state::AppState;

/// Largest custom event (its JSON), as Stream allows.
pub const MAX_CUSTOM: usize = 5 * 1024;
/// Largest reaction type or emoji code.
const MAX_REACTION_NAME: usize = 64;
/// Largest reaction `custom` data.
const MAX_REACTION_CUSTOM: usize = 1024;

/// `POST {c}/event` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomEventRequest {
    /// The app's data (an object, at most 5 KiB as JSON).
    #[schema(value_type = Object)]
    pub custom: Value,
}

/// `POST {c}/reaction` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    /// What kind of reaction (`like`, `raised-hand`…).
    #[serde(rename = "type")]
    pub reaction_type: String,
    /// An emoji code (`:fireworks:`).
    pub emoji_code: Option<String>,
    /// The app's data (at most 1 KiB as JSON).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Value>,
}

/// Send a custom event to the call (needs `send-event`).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/event", tag = "events", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = CustomEventRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many events from this user")))]
pub async fn event(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<CustomEventRequest>,
) -> ApiResult<axum::Json<Done>> {
    let sender = sender(&state, &caller, &cid, Capability::SendEvent).await?;
    if !req.custom.is_object() || req.custom.to_string().len() > MAX_CUSTOM {
        let message = "custom is an object of at most 5 KiB";
        return Err(ApiError::invalid("invalid_custom", message));
    }
    let fields = json!({"user_id": sender, "custom": req.custom});
    send(&state, &cid, &sender, "custom", "onair.custom", fields).await
}

/// Send a reaction to the call (needs `create-reaction`).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/reaction", tag = "events", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = ReactionRequest,
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many reactions from this user")))]
pub async fn reaction(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<ReactionRequest>,
) -> ApiResult<axum::Json<Done>> {
    let sender = sender(&state, &caller, &cid, Capability::CreateReaction).await?;
    let name_ok = |s: &str| !s.is_empty() && s.len() <= MAX_REACTION_NAME;
    let custom_ok = req
        .custom
        .as_ref()
        .is_none_or(|c| c.is_object() && c.to_string().len() <= MAX_REACTION_CUSTOM);
    if !name_ok(&req.reaction_type) || !req.emoji_code.as_deref().is_none_or(name_ok) || !custom_ok
    {
        let message = "type and emoji_code are 1 to 64 bytes; custom an object of at most 1 KiB";
        return Err(ApiError::invalid("invalid_reaction", message));
    }
    let reaction = json!({"type": req.reaction_type, "emoji_code": req.emoji_code,
        "custom": req.custom, "user_id": sender});
    let fields = json!({"user_id": sender, "reaction": reaction});
    send(
        &state,
        &cid,
        &sender,
        "call.reaction_new",
        "onair.reaction",
        fields,
    )
    .await
}

/// Who sends, once allowed `cap` and under the rate.
async fn sender(
    state: &AppState,
    caller: &Caller,
    cid: &CallCid,
    cap: Capability,
) -> ApiResult<String> {
    let ctx = context::load(state, caller, cid).await?;
    ctx.require(cap)?;
    let sender = caller
        .user()
        .map_or("server", |u| u.sub.as_str())
        .to_owned();
    if !state.events.send_rate.allow(&format!("{sender}@{cid}")) {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many events from this user in this call; slow down",
        ));
    }
    Ok(sender)
}

/// Stores the event and sends its data packet to the call's media.
async fn send(
    state: &AppState,
    cid: &CallCid,
    sender: &str,
    event_type: &str,
    topic: &str,
    fields: Value,
) -> ApiResult<axum::Json<Done>> {
    let data = EventKind::Data {
        user_id: sender.to_owned(),
        topic: topic.to_owned(),
        payload: fields.to_string(),
    };
    let event = NewEvent::new(&cid.to_string(), event_type, fields);
    events::record(state, cid, Announce::bus([data]).and(event)).await?;
    Ok(axum::Json(Done { ok: true }))
}
