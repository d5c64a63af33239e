//! CORS grants, and joins placed on SFU nodes.

use super::*;

/// Pages of a configured origin may call the API (preflight and answer);
/// other origins get no CORS grant.
async fn other_origins_pages_need_cors_grants(backend: Backend) {
    let app = App::new(backend).await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/calls/default/c")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let resp = onair_api::router(app.state.clone())
        .oneshot(preflight("https://app.example"))
        .await
        .unwrap();
    let allowed = resp.headers().get("access-control-allow-origin").cloned();
    assert_eq!(
        allowed.as_ref().and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let methods = resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let resp = onair_api::router(app.state.clone())
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let get = Request::builder()
        .uri("/healthz")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let resp = onair_api::router(app.state.clone())
        .oneshot(get)
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}

/// An SFU node's registry entry, announced now.
fn sfu(id: &str, region: &str, participants: u32, rooms: &[&str]) -> onair_bus::SfuNode {
    onair_bus::SfuNode {
        id: id.into(),
        url: format!("wss://{id}.example"),
        region: Some(region.into()),
        participants,
        rooms: rooms
            .iter()
            .map(|r| onair_bus::HostedRoom {
                cid: r.to_string(),
                participants: 1,
                ..Default::default()
            })
            .collect(),
        seen_ms: onair_auth::clock::unix_ms(),
        ..Default::default()
    }
}

async fn joins_are_placed_on_sfu_nodes(backend: Backend) {
    let app = App::new(backend).await;
    let join = |call: &str, body: Value| {
        let app = &app;
        let path = format!("/v1/calls/default/{call}/join");
        async move {
            let (status, body) = app.post(&path, &user_token("alice"), body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["credentials"]["url"].as_str().unwrap().to_owned()
        }
    };
    // No node announced: the configured signal URL.
    assert_eq!(
        join("one", json!({"create": true})).await,
        "ws://127.0.0.1:7880"
    );
    app.bus
        .announce(&sfu("a", "eu", 40, &["default:busy"]))
        .await
        .unwrap();
    app.bus.announce(&sfu("b", "us", 10, &[])).await.unwrap();
    app.bus.announce(&sfu("c", "eu", 20, &[])).await.unwrap();
    // The room's node; else the participant's region; else the least loaded.
    assert_eq!(
        join("busy", json!({"create": true})).await,
        "wss://a.example"
    );
    assert_eq!(
        join("new", json!({"create": true})).await,
        "wss://b.example"
    );
    // A new room stays where it was first placed (before its node announces it).
    assert_eq!(
        join("new", json!({"location": "eu"})).await,
        "wss://b.example"
    );
    assert_eq!(
        join("other", json!({"create": true, "location": "eu"})).await,
        "wss://c.example"
    );
    // A node that went silent gets no one.
    let mut gone = sfu("b", "us", 0, &[]);
    gone.seen_ms -= 60_000;
    app.bus.announce(&gone).await.unwrap();
    assert_eq!(
        join("third", json!({"create": true})).await,
        "wss://c.example"
    );
    // Abuse: an overlong location.
    let long = "x".repeat(65);
    let (status, body) = app
        .post(
            "/v1/calls/default/one/join",
            &user_token("alice"),
            json!({"location": long}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_location"))
    );
}

on_both_backends!(
    other_origins_pages_need_cors_grants,
    joins_are_placed_on_sfu_nodes,
);
