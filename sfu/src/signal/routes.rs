//! The HTTP side of `/rtc` and `/rtc/v1`: the routes, the join token check
//! (the token's signature, then the [`CallGate`](crate::gate::CallGate)'s word on the call), and
//! the hand-off of the upgraded socket to a new [`Session`] or to the
//! session a client resumes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::WebSocket;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use livekit_protocol as lk;
use onair_auth::token::verify_join;
use onair_auth::{AuthError, JoinClaims};
use tracing::Instrument;

use super::join_request;
use super::session::{Connection, Session};
use super::writer;
use super::Signal;
use crate::gate::{CallStatus, Entry, Refusal};
use crate::room::{leave_request, owner};

/// `/rtc`, `/rtc/v1` and their `validate`.
pub fn router(signal: Arc<Signal>) -> Router {
    Router::new()
        .route("/rtc", get(rtc))
        .route("/rtc/validate", get(validate))
        .route("/rtc/v1", get(rtc_v1))
        .route("/rtc/v1/validate", get(validate))
        .with_state(signal)
}

type Params = Query<HashMap<String, String>>;

/// The join token: `access_token` in the query (browsers cannot set
/// headers on WebSockets), else `Authorization: Bearer`.
fn token<'a>(params: &'a HashMap<String, String>, headers: &'a HeaderMap) -> Option<&'a str> {
    params.get("access_token").map(String::as_str).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
    })
}

/// Why a client is not let in at `/rtc`; the text (`code: why`) is the
/// HTTP response's body.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// No join token in the query or the `Authorization` header.
    #[error("missing_token: pass access_token")]
    MissingToken,
    /// The join token does not verify (signature, expiry, kind…).
    #[error("{code}: {0}", code = .0.code())]
    BadToken(#[source] AuthError),
    /// The store refuses the token's holder (call ended, blocked, full…).
    #[error("{code}: {0}", code = .0.code())]
    Refused(#[source] Refusal),
}

impl EntryError {
    /// The HTTP status that says it.
    pub fn status(&self) -> StatusCode {
        match self {
            EntryError::MissingToken | EntryError::BadToken(_) => StatusCode::UNAUTHORIZED,
            EntryError::Refused(Refusal::NoCall) => StatusCode::NOT_FOUND,
            EntryError::Refused(Refusal::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            EntryError::Refused(_) => StatusCode::FORBIDDEN,
        }
    }
}

/// The verified join token and the call's state now, or why not.
async fn verify(
    signal: &Signal,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(JoinClaims, CallStatus), EntryError> {
    let Some(token) = token(params, headers) else {
        return Err(EntryError::MissingToken);
    };
    let claims = verify_join(token, &signal.keys, onair_auth::clock::unix_secs()).map_err(|e| {
        tracing::info!(reason = e.code(), "join token refused");
        EntryError::BadToken(e)
    })?;
    let onair = claims.onair.as_ref();
    let entry = Entry {
        cid: &claims.video.room,
        user: owner(&claims.sub),
        session: onair.and_then(|o| o.session.as_deref()),
        // Tokens minted elsewhere (LiveKit SDKs) say when only to the second.
        minted_at_ms: onair
            .and_then(|o| o.minted_at_ms)
            .unwrap_or(claims.nbf as i64 * 1000),
    };
    match signal.gate.admit(entry).await {
        Ok(status) => Ok((claims, status)),
        Err(refusal) => {
            tracing::info!(room = %claims.video.room, identity = %claims.sub, reason = refusal.code(), "join refused");
            Err(EntryError::Refused(refusal))
        }
    }
}

/// A refusal the browser may read (CORS).
fn refuse(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        text.to_owned(),
    )
        .into_response()
}

async fn validate(
    State(signal): State<Arc<Signal>>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    match verify(&signal, &params, &headers).await {
        Ok(_) => (
            StatusCode::OK,
            [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
            "success",
        )
            .into_response(),
        Err(why) => refuse(why.status(), &why.to_string()),
    }
}

/// What a client asks of its socket: to resume a session (its
/// participant sid), or to join with these settings.
struct Connect {
    resume: Option<String>,
    auto_subscribe: bool,
    connection: Connection,
}

/// `/rtc`: two peer connections; what to do is in the query.
async fn rtc(
    State(signal): State<Arc<Signal>>,
    Query(params): Params,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let admitted = match verify(&signal, &params, &headers).await {
        Ok(admitted) => admitted,
        Err(why) => return refuse(why.status(), &why.to_string()),
    };
    let resume = params.get("reconnect").is_some_and(|v| v == "1");
    let connect = Connect {
        resume: resume.then(|| params.get("sid").cloned().unwrap_or_default()),
        auto_subscribe: params.get("auto_subscribe").is_none_or(|v| v != "0"),
        connection: Connection::Dual,
    };
    upgrade(signal, admitted, ws, connect)
}

/// `/rtc/v1`: one peer connection; what to do is in the join request
/// (`join_request`), with the client's first offer.
async fn rtc_v1(
    State(signal): State<Arc<Signal>>,
    Query(params): Params,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let admitted = match verify(&signal, &params, &headers).await {
        Ok(admitted) => admitted,
        Err(why) => return refuse(why.status(), &why.to_string()),
    };
    let join = match params.get("join_request").map(|p| join_request::decode(p)) {
        Some(Ok(join)) => join,
        Some(Err(why)) => {
            tracing::info!(%why, "join request refused");
            return refuse(StatusCode::BAD_REQUEST, &why.to_string());
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_join_request: pass join_request",
            )
        }
    };
    let connect = Connect {
        resume: join.reconnect.then(|| join.participant_sid.clone()),
        auto_subscribe: join
            .connection_settings
            .as_ref()
            .is_none_or(|c| c.auto_subscribe),
        connection: Connection::Single {
            offer: join.publisher_offer,
        },
    };
    upgrade(signal, admitted, ws, connect)
}

/// Hands an admitted client's socket to the session it resumes, or to a
/// new one.
fn upgrade(
    signal: Arc<Signal>,
    (claims, status): (JoinClaims, CallStatus),
    ws: WebSocketUpgrade,
    connect: Connect,
) -> Response {
    let ws = ws.max_message_size(1 << 20);
    if let Some(participant_sid) = connect.resume {
        let session = signal.resumable(&participant_sid, &claims);
        if session.is_none() {
            tracing::info!(sid = %participant_sid, identity = %claims.sub, "resume of an unknown session: the client must rejoin");
        }
        return ws.on_upgrade(move |socket| async move {
            match session {
                Some(session) => {
                    if let Err(e) = session.send(socket) {
                        refuse_resume(e.0).await;
                    }
                }
                None => refuse_resume(socket).await,
            }
        });
    }
    if signal.draining.load(std::sync::atomic::Ordering::Relaxed) {
        let why = "this node is draining: join again to be placed on another";
        return refuse(StatusCode::SERVICE_UNAVAILABLE, why);
    }
    ws.on_upgrade(move |socket| async move {
        let pid = signal.media.new_pid(&claims.video.room);
        let span = tracing::info_span!("participant", call_cid = %claims.video.room, identity = %claims.sub, pid = %pid);
        let connections = metrics::gauge!("onair_sfu_signal_connections");
        connections.increment(1.0);
        let (auto_subscribe, connection) = (connect.auto_subscribe, connect.connection);
        Session::run(signal, socket, claims, status, pid, auto_subscribe, connection)
            .instrument(span)
            .await;
        connections.decrement(1.0);
    })
}

/// Tells a client whose session is gone to join again from scratch.
async fn refuse_resume(socket: WebSocket) {
    let (mut tx, _rx) = socket.split();
    let leave = leave_request(
        lk::DisconnectReason::StateMismatch,
        lk::leave_request::Action::Reconnect,
    );
    writer::send_now(&mut tx, leave).await;
    let _ = futures::SinkExt::close(&mut tx).await;
}
