//! The demo app of `onair dev` (`/`, files of `web/demo/`), the bundles it
//! loads (`@onair/client`, livekit-client, hls.js), and the dev-only token
//! route it uses. Not mounted by `onair serve`: in production, tokens come
//! from the app's backend. The files are read per request, so editing the
//! page needs no rebuild.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use onair_auth::token::mint;
use onair_auth::{ApiKey, UserClaims};
use serde::Deserialize;

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

/// Routes of the demo: `/` and `/demo/{file}` (the app), the bundles under
/// `/vendor/` (`@onair/client`, livekit-client and its end-to-end
/// encryption worker, hls.js), `POST /dev/token`.
pub fn router(key: ApiKey, web_dir: PathBuf, addr: SocketAddr) -> Router {
    Router::new()
        .route(
            "/",
            get(|demo| app_file(demo, Path("index.html".to_owned()))),
        )
        .route("/demo/{file}", get(app_file))
        .route(
            "/vendor/onair-client.umd.js",
            get(|demo| bundle(demo, "@onair/client/dist/onair-client.umd.js")),
        )
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
    serve(&path, "text/javascript").await
}

/// A file of the demo app (`web/demo/`): plain names only, no subfolders.
async fn app_file(State(demo): State<Arc<Demo>>, Path(file): Path<String>) -> Response {
    let plain = !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let kind = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        _ => "",
    };
    if !plain || kind.is_empty() {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    serve(&demo.web_dir.join("demo").join(file), kind).await
}

async fn serve(path: &std::path::Path, kind: &'static str) -> Response {
    match tokio::fs::read(path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
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
