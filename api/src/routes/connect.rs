//! `GET /v1/connect`: the app's events socket (a WebSocket). The token
//! comes in the `Authorization` header or as the first message
//! `{"token": …}` (browsers cannot set headers on a WebSocket); `after`
//! replays what the app missed. See [`crate::events::socket`].

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::CallCid;
use crate::error::ApiResult;
use crate::extract::{bearer, Caller, Query};
use crate::state::AppState;

/// Largest message a client may send on the socket.
const MAX_MESSAGE: usize = 16 * 1024;

/// Where to resume.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConnectQuery {
    /// Replay the events after this id (the last one received) before live ones.
    pub after: Option<String>,
    /// Calls to watch from the start (comma-separated `type:id`, at most
    /// 100): what a client watched before it dropped, so the replay covers
    /// them too. Calls the user may not read are left out.
    pub watch: Option<String>,
}

/// Calls one `watch` may name.
const MAX_WATCH_ON_CONNECT: usize = 100;

/// A token in the header, verified; none when there is no header (the
/// first message will carry it).
pub struct HeaderCaller(Option<Caller>);

impl FromRequestParts<AppState> for HeaderCaller {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts) {
            Some(token) => Ok(HeaderCaller(Some(crate::extract::verify(state, token)?))),
            None => Ok(HeaderCaller(None)),
        }
    }
}

/// Open the events socket: `connection.ok` first, then the events of the
/// caller's calls as they happen, `health.check` every 25 s.
#[utoipa::path(get, path = "/v1/connect", tag = "events", params(ConnectQuery),
    responses((status = 101, description = "the socket"),
        (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    HeaderCaller(caller): HeaderCaller,
    Query(q): Query<ConnectQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws =
        ws.map_err(|r| crate::error::ApiError::bad_request("websocket_required", r.body_text()))?;
    let after = match q.after.as_deref() {
        Some(a) => Some(super::events::parse_id(Some(a))?),
        None => None,
    };
    let mut watch = Vec::new();
    for cid in q
        .watch
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|c| !c.is_empty())
    {
        if watch.len() == MAX_WATCH_ON_CONNECT {
            let message = format!("watch at most {MAX_WATCH_ON_CONNECT} calls on connect");
            return Err(crate::error::ApiError::invalid("too_many_watches", message));
        }
        let (call_type, id) = cid.split_once(':').unwrap_or((cid, ""));
        watch.push(CallCid::new(call_type, id)?);
    }
    let resume = crate::events::socket::Resume { after, watch };
    let ws = ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    Ok(ws.on_upgrade(move |socket| crate::events::socket::serve(state, socket, caller, resume)))
}
