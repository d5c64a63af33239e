//! Bad input gets a 4xx with `{code, message}`; health and the OpenAPI document.

use super::*;

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let expect = |got: (StatusCode, Value), status: StatusCode, code: &str| {
        assert_eq!(got.0, status, "{}", got.1);
        assert_eq!(got.1["code"], code, "{}", got.1);
        assert!(got.1["message"].is_string());
    };
    let long = "x".repeat(65);
    expect(
        app.post(&format!("/v1/calls/default/{long}"), &server, json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_id",
    );
    expect(
        app.post("/v1/calls/default/a%20b", &server, json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_id",
    );
    expect(
        app.post("/v1/calls/def.ault/a", &server, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_id",
    );
    expect(
        app.post("/v1/calls/default/a", &server, json!({"dta": {}}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    expect(
        app.post(
            "/v1/calls/default/a",
            &server,
            json!({"data": {"custom": [1]}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_custom",
    );
    expect(
        app.post(
            "/v1/calls/default/a",
            &server,
            json!({"data": {"settings_override": {"video": {"hdr": true}}}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_settings",
    );
    expect(
        app.post(
            "/v1/calls/default/a",
            &server,
            json!({"data": {"members": [{"user_id": "has space"}]}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_id",
    );
    expect(
        app.post(
            "/v1/calls/default/a",
            &server,
            json!({"data": {"starts_at": "tomorrow"}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let raw = |body: &'static str, ctype: &str| {
        Request::post("/v1/calls/default/a")
            .header("authorization", format!("Bearer {server}"))
            .header("content-type", ctype)
            .body(Body::from(body))
            .unwrap()
    };
    expect(
        app.raw(raw("{not json", "application/json")).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    expect(
        app.raw(raw("{}", "text/plain")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let big = Request::post("/v1/calls/default/a")
        .header("authorization", format!("Bearer {server}"))
        .header("content-type", "application/json")
        .body(Body::from(format!(
            "{{\"data\": {{\"custom\": {{\"x\": \"{}\"}}}}}}",
            "y".repeat(2 << 20)
        )))
        .unwrap();
    expect(
        app.raw(big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    expect(
        app.get("/v1/nowhere", &server).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect(
        app.call(Method::PUT, "/v1/calls/default/a/end", Some(&server), None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    expect(
        app.get("/v1/calls/default/missing", &server).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // A spray of odd inputs never produces a 5xx.
    let junk = [
        "",
        "null",
        "[]",
        "1e999",
        "\"\u{0}\"",
        "{\"data\": null}",
        "{\"data\": {\"members\": {}}}",
        "{\"create\": \"yes\"}",
        "{\"users\": [{}]}",
        "{\"grants\": {\"\": []}}",
        "{\"update_members\": [null]}",
    ];
    let paths = [
        "/v1/users",
        "/v1/call-types/x",
        "/v1/calls/default/j",
        "/v1/calls/default/j/join",
        "/v1/calls/default/j/members",
        "/v1/calls/default/j/go_live",
        "/v1/calls/default/j/block_users",
        "/v1/calls/default/j/unblock_users",
        "/v1/calls/default/j/kick_user",
        "/v1/calls/%FF/%00",
    ];
    for path in paths {
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::GET,
            Method::DELETE,
        ] {
            for body in junk {
                for token in [server.clone(), user_token("z")] {
                    let req = Request::builder()
                        .method(method.clone())
                        .uri(path)
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap();
                    let (status, resp) = app.raw(req).await;
                    assert!(
                        status.as_u16() < 500,
                        "{method} {path} {body}: {status} {resp}"
                    );
                    if !status.is_success() {
                        assert!(resp["code"].is_string(), "{method} {path} {body}: {resp}");
                    }
                }
            }
        }
    }
}

async fn health_and_openapi(backend: Backend) {
    let app = App::new(backend).await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.0,
        StatusCode::OK
    );
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let c = "/v1/calls/{type}/{id}";
    let routes = [
        ("/v1/users", "put"),
        ("/v1/call-types", "get"),
        ("/v1/call-types/{name}", "get"),
        ("/v1/call-types/{name}", "put"),
        (c, "post"),
        (c, "get"),
        (c, "patch"),
        (c, "delete"),
        (&format!("{c}/go_live"), "post"),
        (&format!("{c}/stop_live"), "post"),
        (&format!("{c}/end"), "post"),
        (&format!("{c}/join"), "post"),
        (&format!("{c}/members"), "post"),
        (&format!("{c}/members"), "get"),
        (&format!("{c}/sessions"), "get"),
        (&format!("{c}/participants"), "get"),
        (&format!("{c}/participants/{{identity}}"), "patch"),
        (&format!("{c}/request_permission"), "post"),
        (&format!("{c}/user_permissions"), "post"),
        (&format!("{c}/kick_user"), "post"),
        (&format!("{c}/mute_users"), "post"),
        (&format!("{c}/block_users"), "post"),
        (&format!("{c}/unblock_users"), "post"),
        (&format!("{c}/recordings/start"), "post"),
        (&format!("{c}/recordings/stop"), "post"),
        (&format!("{c}/recordings"), "get"),
        (&format!("{c}/hls/start"), "post"),
        (&format!("{c}/hls/stop"), "post"),
        (&format!("{c}/rtmp_broadcasts"), "post"),
        (&format!("{c}/rtmp_broadcasts/{{name}}"), "delete"),
        ("/v1/egress/{id}", "get"),
        ("/v1/egress/{id}/target", "get"),
        ("/v1/events", "get"),
        ("/v1/connect", "get"),
        ("/v1/devices", "post"),
        ("/v1/devices", "get"),
        ("/v1/devices", "delete"),
        (&format!("{c}/ring"), "post"),
        (&format!("{c}/accept"), "post"),
        (&format!("{c}/reject"), "post"),
        (&format!("{c}/event"), "post"),
        (&format!("{c}/reaction"), "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks", "put"),
        ("/v1/webhooks/failed", "get"),
        ("/v1/webhooks/failed/redeliver", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    let mut documented = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        documented += methods.as_object().unwrap().len();
        for (method, op) in methods.as_object().unwrap() {
            assert!(
                routes.contains(&(path.as_str(), method.as_str())),
                "undocumented? {method} {path}"
            );
            assert!(!op["responses"].as_object().unwrap().is_empty());
        }
    }
    assert_eq!(documented, routes.len());
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from openapi.json"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["schemas"]["JoinResponse"].is_object());
    let (status, page) = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.as_str().unwrap_or_default().contains("swagger"),
        "{page}"
    );
}

on_both_backends!(bad_input_gets_clear_errors, health_and_openapi,);
