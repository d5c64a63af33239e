//! WHIP (RFC 9725): a browser or OBS publishes into a call over WebRTC.
//!
//! `POST /whip/{type}:{id}` with the peer's SDP offer and a user token as
//! bearer answers `201 Created` with the SFU's SDP answer, the session's URL
//! in `Location` and the ICE servers in `Link` headers; `DELETE` on that URL
//! with the same bearer ends the session. The offer is handed to the SFU as the publisher offer of
//! participant `{user}:ingest` (see [`Bridge`]), so media goes straight from
//! the peer to the SFU. Trickle ICE (`PATCH`) is not offered: the SFU's
//! answer carries its candidates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::Router;
use onair_client::bridge::{offered_tracks, Bridge};
use tower_http::cors::{Any, CorsLayer};

use crate::{authorize, IngestConfig, Target};

/// Offers larger than this are refused.
const MAX_OFFER: usize = 64 * 1024;

struct Whip {
    config: Arc<IngestConfig>,
    /// Running sessions and the token that started each.
    sessions: Mutex<HashMap<String, (Bridge, String, crate::Live)>>,
}

/// The WHIP routes, to mount on the HTTP server.
pub fn router(config: Arc<IngestConfig>) -> Router {
    let whip = Arc::new(Whip {
        config,
        sessions: Mutex::new(HashMap::new()),
    });
    // Web pages on other origins may publish: let them read the answer's headers.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::DELETE, Method::PATCH])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::LOCATION, header::LINK, header::ETAG]);
    Router::new()
        .route("/whip/{cid}", post(publish))
        .route("/whip/{cid}/{session}", delete(end).patch(trickle))
        .layer(cors)
        .with_state(whip)
}

/// An error in the API's shape: `{code, message}`.
fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({ "code": code, "message": message });
    (status, axum::Json(body)).into_response()
}

async fn publish(
    State(whip): State<Arc<Whip>>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (token, offer) = match read_offer(&headers, &body) {
        Ok(request) => request,
        Err(bad) => return bad.response(),
    };
    let tracks = offered_tracks(offer);
    if tracks.is_empty() {
        return error(
            400,
            "bad_offer",
            "the offer sends no audio or video track with an a=msid",
        );
    }
    if !cid
        .split_once(':')
        .is_some_and(|(t, i)| !t.is_empty() && !i.is_empty())
    {
        return error(404, "not_found", "WHIP URLs are /whip/<type>:<id>");
    }
    let target = Target {
        cid: cid.clone(),
        token: token.to_owned(),
    };
    let admitted = match authorize(&whip.config, &target).await {
        Ok(a) => a,
        Err(refused) => {
            tracing::warn!(call_cid = %cid, error = %refused, "WHIP publish refused");
            return error(refused.status(), "refused", &refused.to_string());
        }
    };
    let (bridge, answer) =
        match Bridge::publish(&admitted.url, &admitted.token, offer, &tracks).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(call_cid = %cid, error = %e, "WHIP offer not taken");
                return error(400, "offer_refused", &e.to_string());
            }
        };
    let session = format!("WH_{}", uuid::Uuid::new_v4().simple());
    {
        let mut sessions = whip.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // Sessions the SFU ended (replaced, kicked) are forgotten.
        sessions.retain(|_, (b, ..)| b.closed().is_none());
        let live = crate::Live::new("whip");
        sessions.insert(session.clone(), (bridge, token.to_owned(), live));
    }
    tracing::info!(call_cid = %cid, %session, tracks = tracks.len(), "WHIP session publishing");
    created(&cid, &session, answer, &admitted.ice_servers)
}

/// Why a publish request was refused before its offer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadRequest {
    MissingToken,
    NotSdp,
    TooLarge,
    NotText,
}

impl BadRequest {
    fn response(self) -> Response {
        match self {
            BadRequest::MissingToken => error(
                401,
                "missing_token",
                "send a user token as `Authorization: Bearer …`",
            ),
            BadRequest::NotSdp => error(415, "not_sdp", "the offer must be `application/sdp`"),
            BadRequest::TooLarge => error(413, "offer_too_large", "the SDP offer is too large"),
            BadRequest::NotText => error(400, "bad_offer", "the SDP offer is not text"),
        }
    }
}

/// The bearer token and the SDP offer of a publish request, or why not.
fn read_offer<'r>(
    headers: &'r HeaderMap,
    body: &'r [u8],
) -> Result<(&'r str, &'r str), BadRequest> {
    let token = bearer(headers).ok_or(BadRequest::MissingToken)?;
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/sdp"));
    if !sdp_type {
        return Err(BadRequest::NotSdp);
    }
    if body.len() > MAX_OFFER {
        return Err(BadRequest::TooLarge);
    }
    let offer = std::str::from_utf8(body).map_err(|_| BadRequest::NotText)?;
    Ok((token, offer))
}

/// `201 Created` with the SDP answer, the session's URL and the ICE
/// servers as `Link` headers (RFC 9725 §4.6).
fn created(
    cid: &str,
    session: &str,
    answer: String,
    ice_servers: &[onair_client::api::IceServer],
) -> Response {
    let mut response = (StatusCode::CREATED, answer).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/whip/{cid}/{session}")) {
        h.insert(header::LOCATION, location);
    }
    for server in ice_servers {
        for url in &server.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(user), Some(pass)) = (&server.username, &server.password) {
                link += &format!(
                    "; username=\"{user}\"; credential=\"{pass}\"; credential-type=\"password\""
                );
            }
            if let Ok(v) = HeaderValue::from_str(&link) {
                h.append(header::LINK, v);
            }
        }
    }
    response
}

async fn end(
    State(whip): State<Arc<Whip>>,
    Path((cid, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return error(
            401,
            "missing_token",
            "send the session's token as `Authorization: Bearer …`",
        );
    };
    let bridge = {
        let mut sessions = whip.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(&session) {
            None => return error(404, "not_found", "no such WHIP session"),
            Some((_, owner, _)) if !same_secret(owner, token) => {
                return error(
                    403,
                    "not_yours",
                    "this session was started with another token",
                )
            }
            Some(_) => sessions.remove(&session).map(|(b, ..)| b),
        }
    };
    if let Some(bridge) = bridge {
        bridge.close().await;
        tracing::info!(call_cid = %cid, %session, "WHIP session ended");
    }
    StatusCode::OK.into_response()
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn trickle() -> Response {
    error(
        405,
        "no_trickle",
        "trickle ICE is not supported: the answer has the candidates",
    )
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
