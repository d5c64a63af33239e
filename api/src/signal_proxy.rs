//! Signalling through an API node (`signal_proxy = true`). LiveKit's
//! clients reconnect to the URL they were given: handed an SFU node's own
//! URL, a plain `livekit-client` (or Flutter, Swift, Android) app whose
//! node died can only fail. Here a join hands out this node's URL with the
//! chosen SFU node in its path (`…/sfu/{node}`), and the client's `/rtc`
//! socket is piped to that node, or, once it is gone or draining, to the
//! node placement chooses now. So the client's own full reconnect after a
//! node dies lands on a live node; its media still goes to the SFU node
//! directly (the ICE candidates are that node's).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{self, WebSocket};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::{self as tws, client::IntoClientRequest};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use onair_bus::SfuNode;

use crate::domain::placement::choose;
use crate::state::AppState;

/// Sockets piped at once; past it, clients are told to come back (503).
const MAX_SOCKETS: usize = 10_000;
/// Nodes tried for one connect before the client is told none answers.
const MAX_TRIES: usize = 3;
/// How long one node may take to accept a socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A client's message at most (the SFU's own limit).
const MAX_UP: usize = 1 << 20;
/// A message toward the client at most (a large room's participant list).
const MAX_DOWN: usize = 16 << 20;

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Proxy {
    state: AppState,
    sockets: Arc<Semaphore>,
    /// Asks SFU nodes' `validate` (one pool for all requests).
    http: reqwest::Client,
}

/// `…/sfu/{node}/rtc`, `/rtc/v1` and their `validate`.
pub fn router(state: AppState) -> Router {
    let proxy = Arc::new(Proxy {
        state,
        sockets: Arc::new(Semaphore::new(MAX_SOCKETS)),
        http: reqwest::Client::new(),
    });
    Router::new()
        .route("/sfu/{node}/rtc", get(socket))
        .route("/sfu/{node}/rtc/v1", get(socket))
        .route("/sfu/{node}/rtc/validate", get(validate))
        .route("/sfu/{node}/rtc/v1/validate", get(validate))
        .with_state(proxy)
}

/// The URL a join hands out for SFU node `node`: this node's signal URL
/// with the SFU node in its path.
pub fn url_for(signal_url: &str, node: &str) -> String {
    format!("{}/sfu/{node}", signal_url.trim_end_matches('/'))
}

/// A plain-text refusal, as the SFU's own (`code: why`), readable by pages.
fn refuse(status: StatusCode, text: &str) -> Response {
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    (status, cors, text.to_owned()).into_response()
}

/// The call the join token in `params` is for, if it verifies here; else
/// why not, as the SFU would say it.
fn call_of(state: &AppState, params: &HashMap<String, String>) -> Result<String, String> {
    let Some(token) = params.get("access_token") else {
        return Err("missing_token: pass access_token".into());
    };
    let now = onair_auth::clock::unix_secs();
    match onair_auth::token::verify_join(token, &state.keys, now) {
        Ok(claims) => Ok(claims.video.room),
        Err(e) => {
            tracing::info!(reason = e.code(), "proxied join token refused");
            Err(format!("{}: {e}", e.code()))
        }
    }
}

/// The SFU node of `nodes` to try: `wanted` while it is announced and
/// not draining (full or not: the client was placed there), else the one
/// placement chooses.
fn next_node<'a>(nodes: &'a [SfuNode], cid: &str, wanted: &str) -> Option<&'a SfuNode> {
    match nodes.iter().find(|n| n.id == wanted && !n.draining) {
        Some(node) => Some(node),
        None => choose(nodes, cid, None),
    }
}

/// What the rest of the request's path and its query are on the SFU node:
/// `/rtc/v1?access_token=…` of `/sfu/{node}/rtc/v1?access_token=…`.
fn tail(uri: &Uri, node: &str) -> String {
    let prefix = format!("/sfu/{node}");
    let path = uri.path().strip_prefix(&prefix).unwrap_or(uri.path());
    match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

async fn socket(
    State(proxy): State<Arc<Proxy>>,
    Path(node): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let cid = match call_of(&proxy.state, &params) {
        Ok(cid) => cid,
        Err(why) => return refuse(StatusCode::UNAUTHORIZED, &why),
    };
    let Ok(permit) = proxy.sockets.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: too many connections",
        );
    };
    let tail = tail(&uri, &node);
    // Read once; a node that did not take the socket is left out of it.
    let mut nodes = proxy.state.bus.sfu_nodes().await.unwrap_or_default();
    for _ in 0..MAX_TRIES {
        let Some(next) = next_node(&nodes, &cid, &node) else {
            break;
        };
        let (id, url) = (next.id.clone(), next.url.clone());
        match connect(&format!("{url}{}", tail)).await {
            Ok(upstream) => {
                tracing::debug!(call_cid = %cid, sfu = %url, "signal piped");
                return ws
                    .max_message_size(MAX_UP)
                    .on_upgrade(move |client| async move {
                        pipe(client, upstream).await;
                        drop(permit);
                    });
            }
            // The node answered and refused this client (token, call): final.
            Err(ConnectError::Refused(status, body))
                if status != StatusCode::SERVICE_UNAVAILABLE =>
            {
                return refuse(status, &body);
            }
            Err(why) => {
                tracing::info!(call_cid = %cid, sfu = %url, error = %why, "SFU node did not take the socket; trying another");
                nodes.retain(|n| n.id != id);
            }
        }
    }
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable: no SFU node answers",
    )
}

/// Why a node did not take a socket.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("refused with {0}")]
    Refused(StatusCode, String),
    #[error("{0}")]
    Failed(String),
}

async fn connect(url: &str) -> Result<Upstream, ConnectError> {
    let request = (url.into_client_request()).map_err(|e| ConnectError::Failed(e.to_string()))?;
    let config = tws::protocol::WebSocketConfig::default().max_message_size(Some(MAX_DOWN));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((upstream, _))) => Ok(upstream),
        Ok(Err(tws::Error::Http(response))) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = response.body().as_deref().unwrap_or_default();
            let body = String::from_utf8_lossy(body).into_owned();
            Err(ConnectError::Refused(status, body))
        }
        Ok(Err(e)) => Err(ConnectError::Failed(e.to_string())),
        Err(_) => Err(ConnectError::Failed("timed out".into())),
    }
}

/// Copies messages both ways until either side closes; then closes both,
/// so a client whose node died sees its socket end and reconnects.
async fn pipe(client: WebSocket, upstream: Upstream) {
    let (mut to_client, mut from_client) = client.split();
    let (mut to_node, mut from_node) = upstream.split();
    let up = async {
        while let Some(Ok(message)) = from_client.next().await {
            let message = match message {
                ws::Message::Binary(data) => tws::Message::Binary(data),
                ws::Message::Text(text) => tws::Message::text(text.as_str()),
                ws::Message::Close(_) => break,
                ws::Message::Ping(_) | ws::Message::Pong(_) => continue,
            };
            if to_node.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_node.close().await;
    };
    let down = async {
        while let Some(Ok(message)) = from_node.next().await {
            let message = match message {
                tws::Message::Binary(data) => ws::Message::Binary(data),
                tws::Message::Text(text) => ws::Message::Text(text.as_str().into()),
                tws::Message::Close(_) => break,
                _ => continue,
            };
            if to_client.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// `/rtc/validate`: asked of the node the socket would go to (livekit-client
/// asks it after a failed connect, to show why).
async fn validate(
    State(proxy): State<Arc<Proxy>>,
    Path(node): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let cid = match call_of(&proxy.state, &params) {
        Ok(cid) => cid,
        Err(why) => return refuse(StatusCode::UNAUTHORIZED, &why),
    };
    let nodes = proxy.state.bus.sfu_nodes().await.unwrap_or_default();
    let Some(next) = next_node(&nodes, &cid, &node) else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable: no SFU node");
    };
    let http = next.url.replacen("ws", "http", 1);
    let asked = (proxy.http)
        .get(format!("{http}{}", tail(&uri, &node)))
        .timeout(CONNECT_TIMEOUT)
        .send()
        .await;
    match asked {
        Ok(answer) => {
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            refuse(status, &answer.text().await.unwrap_or_default())
        }
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable: the SFU node did not answer",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_goes_back_to_its_node_while_that_one_lives() {
        let node = |id: &str, participants, capacity| SfuNode {
            id: id.into(),
            participants,
            capacity,
            ..Default::default()
        };
        let mut nodes = vec![node("a", 5, Some(5)), node("b", 1, None)];
        let id = |n: Option<&SfuNode>| n.map(|n| n.id.clone());
        assert_eq!(
            id(next_node(&nodes, "default:c", "a")),
            Some("a".into()),
            "full but its own"
        );
        assert_eq!(id(next_node(&nodes, "default:c", "gone")), Some("b".into()));
        nodes[0].draining = true;
        assert_eq!(
            id(next_node(&nodes, "default:c", "a")),
            Some("b".into()),
            "draining"
        );
        nodes.retain(|n| n.id != "b");
        assert_eq!(id(next_node(&nodes, "default:c", "a")), None, "none left");
    }

    #[test]
    fn the_node_is_cut_from_the_path_and_the_query_kept() {
        let uri: Uri = "/sfu/sfu-1a/rtc/v1?access_token=t&auto_subscribe=1"
            .parse()
            .unwrap();
        assert_eq!(
            tail(&uri, "sfu-1a"),
            "/rtc/v1?access_token=t&auto_subscribe=1"
        );
        assert_eq!(
            url_for("ws://api:7880/", "sfu-1a"),
            "ws://api:7880/sfu/sfu-1a"
        );
    }
}
