//! The demo page of `onair dev` (`/`), the livekit-client and hls.js
//! bundles it loads, and the dev-only token route the page uses. Not mounted by `onair serve`:
//! in production, tokens come from the app's backend.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use onair_auth::token::mint;
use onair_auth::{ApiKey, UserClaims};
use serde::Deserialize;

const PAGE: &str = include_str!("../web/demo.html");

struct Demo {
    key: ApiKey,
    web_dir: PathBuf,
    /// The address the server listens on: the only `Host` the token route answers.
    addr: SocketAddr,
}

#[derive(Deserialize)]
struct TokenRequest {
    user_id: String,
}

/// Routes of the demo: `/`, `/vendor/livekit-client.umd.js` (and its
/// end-to-end encryption worker), `/vendor/hls.min.js`, `POST /dev/token`.
pub fn router(key: ApiKey, web_dir: PathBuf, addr: SocketAddr) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/vendor/livekit-client.umd.js",
            get(|demo| bundle(demo, "livekit-client/dist/livekit-client.umd.js")),
        )
        .route(
            "/vendor/livekit-client.e2ee.worker.js",
            get(|demo| bundle(demo, "livekit-client/dist/livekit-client.e2ee.worker.js")),
        )
        .route(
            "/vendor/hls.min.js",
            get(|demo| bundle(demo, "hls.js/dist/hls.min.js")),
        )
        .route("/dev/token", post(token))
        .with_state(Arc::new(Demo { key, web_dir, addr }))
}

/// A file of `web/node_modules`.
async fn bundle(State(demo): State<Arc<Demo>>, file: &str) -> Response {
    let path = demo.web_dir.join("node_modules").join(file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/javascript")], bytes).into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            format!(
                "{} is missing: run `make dev` (it installs web/node_modules)",
                path.display()
            ),
        )
            .into_response(),
    }
}

/// Whether `host` names this server by its own address (or `localhost`):
/// a page on another name that resolves to loopback (DNS rebinding) must
/// not get tokens.
fn own_host(host: &str, addr: SocketAddr) -> bool {
    let port = addr.port();
    host == addr.to_string()
        || host == format!("localhost:{port}")
        || (addr.ip().is_loopback() && host == format!("127.0.0.1:{port}"))
}

/// A one-hour user token for the demo page (dev only; the server binds to loopback).
async fn token(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Json(req): Json<TokenRequest>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !own_host(host, demo.addr) {
        tracing::warn!(host, "dev token refused: foreign Host header");
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"code": "wrong_host", "message": "the dev token route answers only on the server's own address"})),
        )
            .into_response();
    }
    let id = req.user_id.trim();
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({"code": "invalid_id", "message": "user_id: 1-64 letters, digits, - or _"}))).into_response();
    }
    let now = onair_auth::clock::unix_secs();
    let claims = UserClaims {
        iss: demo.key.key.clone(),
        sub: id.to_owned(),
        exp: now + 3600,
        iat: Some(now),
        name: Some(id.to_owned()),
        image: None,
        role: None,
        call_cids: None,
    };
    Json(serde_json::json!({ "token": mint(&demo.key, &claims) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::own_host;

    #[test]
    fn only_the_own_address_gets_tokens() {
        let addr = "127.0.0.1:7880".parse().unwrap();
        assert!(own_host("127.0.0.1:7880", addr));
        assert!(own_host("localhost:7880", addr));
        assert!(!own_host("evil.example:7880", addr));
        assert!(!own_host("127.0.0.1:7881", addr));
        assert!(!own_host("", addr));
    }
}
