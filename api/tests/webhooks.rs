//! `/v1/webhooks` on SQLite and Postgres: who may manage endpoints, what is
//! refused, and delivery to a local receiver (signed, in order per call,
//! retried, parked, redelivered).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use common::{server_token, user_token, App, Backend, KEY, SECRET};
use onair_api::domain::webhook::{Endpoint, WebhookSettings};
use onair_api::webhooks::sign::signature;
use onair_api::{ApiConfig, AppState};
use serde_json::{json, Value};

fn expect(got: (StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

async fn put(app: &App, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, "/v1/webhooks", Some(token), Some(body))
        .await
}

/// The app's state with these config endpoints and retry time.
fn with_webhooks(app: &App, endpoints: Vec<Endpoint>, retry_for: Duration) -> AppState {
    let mut state = app.state.clone();
    state.config = Arc::new(ApiConfig {
        webhooks: WebhookSettings {
            endpoints,
            retry_for,
        },
        ..(*app.state.config).clone()
    });
    state
}

async fn server_tokens_manage_endpoints(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let config = vec![Endpoint {
        url: "http://config.example/in".into(),
        events: None,
    }];
    let state = with_webhooks(&app, config, Duration::from_secs(60));
    onair_api::webhooks::store_config_endpoints(&state)
        .await
        .unwrap();

    let (status, body) = app.get("/v1/webhooks", &server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"webhooks": [{"url": "http://config.example/in", "source": "config"}]})
    );
    let set = json!({"webhooks": [
        {"url": "https://backend.example/hook?token=abc", "events": ["call.*"]},
        {"url": "http://127.0.0.1:9/all"},
    ]});
    let (status, body) = put(&app, &server, set).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["webhooks"],
        json!([
            {"url": "http://config.example/in", "source": "config"},
            {"url": "https://backend.example/hook?token=abc", "events": ["call.*"], "source": "api"},
            {"url": "http://127.0.0.1:9/all", "source": "api"},
        ])
    );
    assert_eq!(app.get("/v1/webhooks", &server).await.1, body);
    // Replacing leaves the config's endpoints alone.
    let (status, body) = put(&app, &server, json!({"webhooks": []})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["webhooks"].as_array().unwrap().len(), 1);

    let (status, body) = app.get("/v1/webhooks/failed", &server).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"failed": [], "next": null}))
    );
    let (status, body) = app
        .post("/v1/webhooks/failed/redeliver", &server, json!({}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"redelivered": 0})));
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhooks/failed/redeliver",
            Some(&server),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"redelivered": 0})),
        "no body: all"
    );

    let user = user_token("alice");
    let forbidden = StatusCode::FORBIDDEN;
    expect(
        app.get("/v1/webhooks", &user).await,
        forbidden,
        "server_token_required",
    );
    expect(
        put(&app, &user, json!({"webhooks": []})).await,
        forbidden,
        "server_token_required",
    );
    expect(
        app.get("/v1/webhooks/failed", &user).await,
        forbidden,
        "server_token_required",
    );
    let redeliver = app
        .post("/v1/webhooks/failed/redeliver", &user, json!({}))
        .await;
    expect(redeliver, forbidden, "server_token_required");
    let anonymous = app.call(Method::GET, "/v1/webhooks", None, None).await;
    expect(anonymous, StatusCode::UNAUTHORIZED, "missing_token");
}

async fn bad_endpoints_are_refused(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let one = |hook: Value| json!({"webhooks": [hook]});
    let long_url = format!("http://x.example/{}", "a".repeat(2048));
    for (body, code) in [
        (
            one(json!({"url": "ftp://x.example/"})),
            "invalid_webhook_url",
        ),
        (one(json!({"url": "not a url"})), "invalid_webhook_url"),
        (one(json!({"url": "http://"})), "invalid_webhook_url"),
        (
            one(json!({"url": "https://exa mple.com/"})),
            "invalid_webhook_url",
        ),
        (one(json!({"url": long_url})), "invalid_webhook_url"),
        (
            one(json!({"url": "http://x.example/", "events": []})),
            "invalid_webhook_events",
        ),
        (
            one(json!({"url": "http://x.example/", "events": ["call ended"]})),
            "invalid_event_pattern",
        ),
        (
            one(json!({"url": "http://x.example/", "events": ["*call"]})),
            "invalid_event_pattern",
        ),
        (
            one(json!({"url": "http://x.example/", "events": ["x".repeat(129)]})),
            "invalid_event_pattern",
        ),
        (
            one(json!({"url": "http://x.example/", "secret": "s"})),
            "invalid_body",
        ),
        (one(json!({"url": 5})), "invalid_body"),
        (json!({"hooks": []}), "invalid_body"),
        (json!({}), "invalid_body"),
    ] {
        expect(put(&app, &server, body.clone()).await, invalid, code);
    }
    let patterns: Vec<String> = (0..51).map(|i| format!("call.t{i}")).collect();
    let many = one(json!({"url": "http://x.example/", "events": patterns}));
    expect(
        put(&app, &server, many).await,
        invalid,
        "invalid_webhook_events",
    );
    let hooks: Vec<Value> = (0..21)
        .map(|i| json!({"url": format!("http://x.example/{i}")}))
        .collect();
    expect(
        put(&app, &server, json!({"webhooks": hooks})).await,
        invalid,
        "too_many_webhooks",
    );
    let twice = json!({"webhooks": [{"url": "http://x.example/"}, {"url": "http://x.example/"}]});
    expect(
        put(&app, &server, twice).await,
        invalid,
        "duplicate_webhook_url",
    );
    // 20 endpoints of 50 patterns each are fine.
    let patterns: Vec<String> = (0..50).map(|i| format!("call.t{i}")).collect();
    let hooks: Vec<Value> = (0..20)
        .map(|i| json!({"url": format!("http://x.example/{i}"), "events": patterns}))
        .collect();
    assert_eq!(
        put(&app, &server, json!({"webhooks": hooks})).await.0,
        StatusCode::OK
    );
    let huge = json!({"webhooks": [{"url": "http://x.example/", "events": ["x".repeat(2 << 20)]}]});
    expect(
        put(&app, &server, huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );

    for query in ["limit=0", "limit=1001", "after=nope", "after=0:x", "page=2"] {
        let got = app
            .get(&format!("/v1/webhooks/failed?{query}"), &server)
            .await;
        assert_eq!(got.0, invalid, "{query}: {}", got.1);
    }
    let redeliver = |body| app.post("/v1/webhooks/failed/redeliver", &server, body);
    expect(
        redeliver(json!({"event_ids": ["x"]})).await,
        invalid,
        "invalid_event_id",
    );
    expect(
        redeliver(json!({"event_ids": [1]})).await,
        invalid,
        "invalid_body",
    );
    expect(redeliver(json!({"ids": []})).await, invalid, "invalid_body");
    let ids: Vec<String> = (1..=1001).map(|i| i.to_string()).collect();
    expect(
        redeliver(json!({"event_ids": ids})).await,
        invalid,
        "too_many_ids",
    );
}

/// What the receiver got: (path, headers, body), in arrival order.
type Got = Arc<Mutex<Vec<(String, HeaderMap, Vec<u8>)>>>;

/// A local endpoint: `/ok` answers 204, `/flaky` 500 to every first
/// attempt, `/bad` 400 until `fixed`, `/down` 503.
async fn receiver(got: Got, fixed: Arc<AtomicBool>) -> String {
    let app = axum::Router::new().route(
        "/{path}",
        axum::routing::post(
            move |axum::extract::Path(path): axum::extract::Path<String>,
                  headers: HeaderMap,
                  body: axum::body::Bytes| {
                let got = got.clone();
                let fixed = fixed.clone();
                async move {
                    let first = headers["x-webhook-attempt"] == "1";
                    got.lock()
                        .unwrap()
                        .push((path.clone(), headers, body.to_vec()));
                    match path.as_str() {
                        "flaky" if first => StatusCode::INTERNAL_SERVER_ERROR,
                        "bad" if !fixed.load(Ordering::SeqCst) => StatusCode::BAD_REQUEST,
                        "down" => StatusCode::SERVICE_UNAVAILABLE,
                        _ => StatusCode::NO_CONTENT,
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Waits until `done` holds for what arrived.
async fn until(got: &Got, what: &str, done: impl Fn(&[(String, HeaderMap, Vec<u8>)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&got.lock().unwrap()) {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events delivered to `path` with a 2xx: id → attempt, in arrival order.
fn delivered(got: &[(String, HeaderMap, Vec<u8>)], path: &str) -> Vec<(Value, u32)> {
    got.iter()
        .filter(|(p, h, _)| p == path && (path != "flaky" || h["x-webhook-attempt"] != "1"))
        .map(|(_, h, body)| {
            let attempt = h["x-webhook-attempt"].to_str().unwrap().parse().unwrap();
            (serde_json::from_slice(body).unwrap(), attempt)
        })
        .collect()
}

async fn stored_events(app: &App) -> Vec<Value> {
    let (status, body) = app.get("/v1/events?limit=1000", &server_token()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// Drives three calls through the API: created, members, live, ended.
async fn drive_calls(app: &App) {
    let server = server_token();
    for step in 0..3 {
        for call in ["one", "two", "three"] {
            let path = format!("/v1/calls/livestream/{call}");
            let (status, body) = match step {
                0 => {
                    app.post(
                        &path,
                        &server,
                        json!({"data": {"members": [{"user_id": "alice", "role": "host"}]}}),
                    )
                    .await
                }
                1 => {
                    app.post(&format!("{path}/go_live"), &server, json!({}))
                        .await
                }
                _ => app.post(&format!("{path}/end"), &server, json!({})).await,
            };
            assert!(status.is_success(), "{path} step {step}: {status} {body}");
        }
    }
}

async fn events_reach_endpoints_signed_and_in_order(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let got = Got::default();
    let fixed = Arc::new(AtomicBool::new(false));
    let base = receiver(got.clone(), fixed.clone()).await;
    let state = with_webhooks(&app, Vec::new(), Duration::from_secs(1));
    onair_api::webhooks::spawn(state);
    let hooks: Vec<Value> = ["ok", "flaky", "bad", "down"]
        .iter()
        .map(|p| json!({"url": format!("{base}/{p}")}))
        .collect();
    let mut hooks = hooks;
    hooks.push(json!({"url": format!("{base}/ended"), "events": ["call.ended"]}));
    assert_eq!(
        put(&app, &server, json!({"webhooks": hooks})).await.0,
        StatusCode::OK
    );
    drive_calls(&app).await;
    let stored = stored_events(&app).await;
    assert!(stored.len() >= 9, "{stored:?}");

    until(&got, "every event at /ok and /flaky", |g| {
        delivered(g, "ok").len() >= stored.len() && delivered(g, "flaky").len() >= stored.len()
    })
    .await;
    for path in ["ok", "flaky"] {
        let events = delivered(&got.lock().unwrap(), path);
        let bodies: Vec<&Value> = events.iter().map(|(e, _)| e).collect();
        assert_eq!(bodies.len(), stored.len(), "{path}: each once");
        in_order_per_call(&bodies);
        let mut sorted = bodies.clone();
        sorted.sort_by_key(|e| e["id"].as_str().unwrap().parse::<i64>().unwrap());
        assert_eq!(
            sorted,
            stored.iter().collect::<Vec<_>>(),
            "{path}: the stored events"
        );
        let attempts = if path == "ok" { 1 } else { 2 };
        assert!(
            events.iter().all(|(_, a)| *a == attempts),
            "{path}: {events:?}"
        );
    }
    for (_, headers, body) in got.lock().unwrap().iter() {
        assert_eq!(headers["x-signature"], signature(SECRET, body));
        assert_eq!(headers["x-api-key"], KEY);
        assert_eq!(headers["content-type"], "application/json");
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(headers["x-webhook-id"], event["id"].as_str().unwrap());
    }
    let ended = delivered(&got.lock().unwrap(), "ended");
    assert!(
        ended.iter().all(|(e, _)| e["type"] == "call.ended"),
        "{ended:?}"
    );

    parked_then_redelivered(&app, &got, &fixed, &base, stored.len()).await;
}

fn in_order_per_call(events: &[&Value]) {
    let mut last: HashMap<&str, i64> = HashMap::new();
    for e in events {
        let id: i64 = e["id"].as_str().unwrap().parse().unwrap();
        let before = last.insert(e["call_cid"].as_str().unwrap(), id);
        assert!(before.is_none_or(|b| b < id), "out of order: {e}");
    }
}

/// `/bad` parked everything at its first attempt, `/down` after
/// `webhook_retry_for`; once `/bad` is fixed, redelivering brings them.
async fn parked_then_redelivered(app: &App, got: &Got, fixed: &AtomicBool, base: &str, n: usize) {
    let server = server_token();
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let (status, body) = app.get("/v1/webhooks/failed?limit=1000", &server).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let failed = body["failed"].as_array().unwrap().clone();
        if failed.len() == 2 * n {
            break failed;
        }
        assert!(Instant::now() < deadline, "parked: {failed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let at = |url: String| failed.iter().filter(move |f| f["url"] == url.as_str());
    assert!(at(format!("{base}/bad")).all(|f| f["attempts"] == 1 && f["last_error"] == "HTTP 400"));
    assert!(at(format!("{base}/down"))
        .all(|f| f["attempts"].as_u64() >= Some(2) && f["last_error"] == "HTTP 503"));
    let attempts_at_bad = delivered(&got.lock().unwrap(), "bad").len();
    assert_eq!(attempts_at_bad, n, "a 400 is not retried");

    // A page at a time covers them all.
    let (_, page) = app.get("/v1/webhooks/failed?limit=3", &server).await;
    let next = page["next"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/v1/webhooks/failed?limit=1000&after={next}"),
            &server,
        )
        .await;
    assert_eq!(rest["failed"].as_array().unwrap().len(), 2 * n - 3);

    fixed.store(true, Ordering::SeqCst);
    let ids: Vec<&str> = at(format!("{base}/bad"))
        .map(|f| f["event_id"].as_str().unwrap())
        .collect();
    let (status, body) = app
        .post(
            "/v1/webhooks/failed/redeliver",
            &server,
            json!({"event_ids": ids}),
        )
        .await;
    assert_eq!(
        (status, body["redelivered"].as_u64()),
        (StatusCode::OK, Some(2 * n as u64)),
        "{body}"
    );
    until(got, "redelivered to /bad", |g| {
        delivered(g, "bad").len() == 2 * n
    })
    .await;
    let again = delivered(&got.lock().unwrap(), "bad");
    assert!(again[n..].iter().all(|(_, attempt)| *attempt == 2));
    in_order_per_call(&again[n..].iter().map(|(e, _)| e).collect::<Vec<_>>());
}

on_both_backends!(
    server_tokens_manage_endpoints,
    bad_endpoints_are_refused,
    events_reach_endpoints_signed_and_in_order,
);
