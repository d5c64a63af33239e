//! The REST API end to end (router, auth, store, bus), on SQLite and Postgres.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{server_token, user_claims, user_token, App, Backend, KEY, SECRET};
use onair_auth::token::{mint, verify_join};
use onair_auth::{ApiKey, KeySet};
use onair_bus::{Bus, EventKind};
use serde_json::{json, Value};
use tower::ServiceExt;

const LIVE: &str = "/v1/calls/livestream/show";

fn caps(body: &Value) -> Vec<String> {
    body["own_capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn join_grant(body: &Value) -> onair_auth::VideoGrant {
    let keys = KeySet::new([ApiKey::new(KEY, SECRET)]);
    let token = body["credentials"]["token"].as_str().unwrap();
    verify_join(token, &keys, common::now()).unwrap().video
}

async fn create_livestream(app: &App, extra: Value) -> Value {
    let mut data = json!({"members": [{"user_id": "alice", "role": "host"}]});
    onair_api::domain::settings::merge(&mut data, &extra);
    let (status, body) = app.post(LIVE, &server_token(), json!({"data": data})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn livestream_backstage_go_live_end(backend: Backend) {
    let app = App::new(backend).await;
    let mut events = app.bus.subscribe();
    let host = user_token("alice");
    let viewer = user_token("bob");

    let created = create_livestream(&app, json!({})).await;
    assert_eq!(created["created"], true);
    assert_eq!(created["call"]["backstage"], true);
    assert_eq!(created["call"]["cid"], "livestream:show");
    assert_eq!(created["members"][0]["user_id"], "alice");
    assert_eq!(created["members"][0]["role"], "host");
    // Asking again returns the same call.
    let (status, again) = app.post(LIVE, &server_token(), json!({})).await;
    assert_eq!((status, &again["created"]), (StatusCode::OK, &json!(false)));

    // The host joins in backstage and may publish.
    let (status, joined) = app.post(&format!("{LIVE}/join"), &host, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "host");
    assert_eq!(joined["waiting"], false);
    assert_eq!(joined["credentials"]["url"], "ws://127.0.0.1:7880");
    assert_eq!(
        joined["credentials"]["ice_servers"][0]["urls"][0],
        "stun:127.0.0.1:3478"
    );
    // The embedded TURN server's credentials: `{expiry}:{user}`, signed.
    let turn = &joined["credentials"]["ice_servers"][1];
    assert_eq!(turn["urls"][0], "turn:127.0.0.1:3478?transport=udp");
    let username = turn["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, "alice");
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        expiry >= onair_auth::clock::unix_secs() + 3500,
        "{username}"
    );
    let (_, password) = onair_turn::credentials(b"turn-secret", "alice", expiry);
    assert_eq!(turn["password"], password.as_str());
    let grant = join_grant(&joined);
    assert_eq!(grant.room, "livestream:show");
    assert!(grant.room_join && grant.may_publish() && grant.may_subscribe());
    assert!(caps(&joined).contains(&"join-backstage".to_owned()));
    let session_id = joined["call"]["session"]["id"].as_str().unwrap().to_owned();
    assert!(joined["call"]["session"]["live_started_at"].is_null());

    // A viewer is refused while in backstage, and cannot go live himself.
    let (status, refused) = app.post(&format!("{LIVE}/join"), &viewer, json!({})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("backstage")),
        "{refused}"
    );
    let (status, refused) = app
        .post(&format!("{LIVE}/go_live"), &viewer, json!({}))
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("missing_capability"))
    );
    assert_eq!(refused["details"]["capability"], "update-call");

    // Go live: the viewer joins, may watch but not publish.
    let (status, live) = app.post(&format!("{LIVE}/go_live"), &host, json!({})).await;
    assert_eq!(
        (status, &live["call"]["backstage"]),
        (StatusCode::OK, &json!(false)),
        "{live}"
    );
    assert!(live["call"]["session"]["live_started_at"].is_string());
    let (status, joined) = app.post(&format!("{LIVE}/join"), &viewer, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(
        (joined["role"].as_str(), &joined["waiting"]),
        (Some("user"), &json!(false))
    );
    assert!(!join_grant(&joined).may_publish());
    assert_eq!(
        joined["call"]["session"]["id"],
        session_id.as_str(),
        "same session"
    );

    // Back to backstage and live again.
    let (status, back) = app
        .post(&format!("{LIVE}/stop_live"), &host, json!({}))
        .await;
    assert_eq!(
        (status, &back["call"]["backstage"]),
        (StatusCode::OK, &json!(true))
    );
    let (status, _) = app.post(&format!("{LIVE}/join"), &viewer, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.post(&format!("{LIVE}/go_live"), &host, json!({})).await;

    // End: later joins are refused, also for the host; ending twice conflicts.
    let (status, ended) = app.post(&format!("{LIVE}/end"), &host, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert!(ended["call"]["ended_at"].is_string());
    assert!(ended["call"]["session"]["ended_at"].is_string());
    for token in [&viewer, &host] {
        let (status, refused) = app.post(&format!("{LIVE}/join"), token, json!({})).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::CONFLICT, Some("call_ended"))
        );
    }
    let (status, _) = app.post(&format!("{LIVE}/end"), &host, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.post(&format!("{LIVE}/go_live"), &host, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, sessions) = app.get(&format!("{LIVE}/sessions"), &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    assert!(sessions["sessions"][0]["ended_at"].is_string());

    // What the SFU and egress will hear, in order.
    let mut kinds = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(std::time::Duration::from_millis(50), events.recv()).await
    {
        assert_eq!(e.call_cid, "livestream:show");
        kinds.push(e.kind);
    }
    assert_eq!(
        kinds,
        vec![
            EventKind::CallCreated,
            EventKind::SessionStarted {
                session_id: session_id.clone()
            },
            EventKind::LiveStarted,
            EventKind::LiveStopped,
            EventKind::LiveStarted,
            EventKind::CallEnded { reason: None },
            EventKind::SessionEnded { session_id },
        ]
    );
}

async fn viewers_join_ahead_and_wait(backend: Backend) {
    let app = App::new(backend).await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(100);
    create_livestream(
        &app,
        json!({"starts_at": soon.to_rfc3339(), "settings_override": {"backstage": {"join_ahead_time_seconds": 300}}}),
    )
    .await;
    let (status, joined) = app
        .post(&format!("{LIVE}/join"), &user_token("bob"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["waiting"], true);
    assert!(!join_grant(&joined).may_publish());

    // Too early: refused, with the time from which joining works.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (status, _) = app
        .call(
            Method::PATCH,
            LIVE,
            Some(&server_token()),
            Some(json!({"starts_at": later.to_rfc3339()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = app
        .post(&format!("{LIVE}/join"), &user_token("bob"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused["details"]["join_from"].is_string(), "{refused}");
}

async fn tokens_are_verified(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let get = |token: Option<String>| {
        let app = &app;
        async move { app.call(Method::GET, LIVE, token.as_deref(), None).await }
    };
    let key = ApiKey::new(KEY, SECRET);
    let reason =
        |r: (StatusCode, Value)| (r.0, r.1["code"].as_str().unwrap_or_default().to_owned());

    assert_eq!(
        reason(get(None).await),
        (StatusCode::UNAUTHORIZED, "missing_token".into())
    );
    let expired = onair_auth::UserClaims {
        exp: common::now() - 1,
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&key, &expired))).await),
        (StatusCode::UNAUTHORIZED, "expired".into())
    );
    let forged = mint(&ApiKey::new(KEY, "guessed"), &user_claims("bob"));
    assert_eq!(
        reason(get(Some(forged)).await),
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    let other = onair_auth::UserClaims {
        iss: "APIother".into(),
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&ApiKey::new("APIother", SECRET), &other))).await),
        (StatusCode::UNAUTHORIZED, "unknown_key".into())
    );
    let token = user_token("bob");
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    parts[2] = "";
    assert_eq!(
        reason(get(Some(parts.join("."))).await),
        (StatusCode::UNAUTHORIZED, "bad_algorithm".into())
    );
    assert_eq!(
        reason(get(Some("garbage".into())).await),
        (StatusCode::UNAUTHORIZED, "malformed_token".into())
    );

    // Scoped tokens work for their call only.
    let scoped = onair_auth::UserClaims {
        call_cids: Some(vec!["livestream:other".into()]),
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&key, &scoped))).await),
        (StatusCode::UNAUTHORIZED, "wrong_call".into())
    );
    let scoped = onair_auth::UserClaims {
        call_cids: Some(vec!["livestream:show".into()]),
        ..user_claims("bob")
    };
    assert_eq!(get(Some(mint(&key, &scoped))).await.0, StatusCode::OK);

    // A token in the query is not read (URLs end up in logs); a bare
    // Authorization value (Stream SDKs) is.
    let (status, body) = app
        .call(
            Method::GET,
            &format!("{LIVE}?token={}", user_token("bob")),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_token"))
    );
    let req = Request::get(LIVE)
        .header("authorization", user_token("bob"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(req).await.0, StatusCode::OK);
}

async fn capabilities_are_enforced(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let bob = user_token("bob");
    // Users cannot manage users or call types.
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/users",
            Some(&bob),
            Some(json!({"users": [{"id": "bob"}]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("server_token_required"))
    );
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/call-types/mine",
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A livestream viewer cannot update, end, manage members or delete.
    for (method, path, body) in [
        (
            Method::PATCH,
            LIVE.to_owned(),
            Some(json!({"custom": {"x": 1}})),
        ),
        (Method::POST, format!("{LIVE}/end"), None),
        (Method::POST, format!("{LIVE}/stop_live"), None),
        (
            Method::POST,
            format!("{LIVE}/members"),
            Some(json!({"update_members": [{"user_id": "bob", "role": "host"}]})),
        ),
        (Method::DELETE, LIVE.to_owned(), None),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(&bob), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
    // A host may change settings; the settings then switch capabilities off.
    let alice = user_token("alice");
    let patch = json!({"settings_override": {"screensharing": {"enabled": false}}});
    let (status, body) = app
        .call(Method::PATCH, LIVE, Some(&alice), Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!caps(&body).contains(&"screenshare".to_owned()));
    assert_eq!(body["call"]["settings"]["screensharing"]["enabled"], false);
    // Only admins and the server delete.
    let (status, _) = app.call(Method::DELETE, LIVE, Some(&alice), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = mint(
        &common::key(),
        &onair_auth::UserClaims {
            role: Some("admin".into()),
            ..user_claims("root")
        },
    );
    let (status, _) = app.call(Method::DELETE, LIVE, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(LIVE, &server_token()).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn stored_user_role_and_members(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/users",
            Some(&server),
            Some(json!({"users": [{"id": "carol", "name": "Carol", "role": "moderator", "custom": {"a": 1}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["users"]["carol"]["name"], "Carol");
    create_livestream(&app, json!({})).await;
    // Carol's stored global role applies when her token has none.
    let (_, body) = app.get(LIVE, &user_token("carol")).await;
    assert!(caps(&body).contains(&"kick-user".to_owned()), "{body}");

    // Members: add bob as host, then remove him; role changes are announced.
    let mut events = app.bus.subscribe();
    let members = format!("{LIVE}/members");
    let (status, body) = app
        .post(
            &members,
            &user_token("alice"),
            json!({"update_members": [{"user_id": "bob", "role": "host"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    let event = events.recv().await.unwrap();
    assert_eq!(
        event.kind,
        EventKind::MemberUpdated {
            user_id: "bob".into(),
            role: "host".into()
        }
    );
    // The SFU hears what bob may do now, should he be connected.
    let (identity, _, grant) = next_participant_update(&mut events).await;
    assert_eq!(identity, "bob");
    assert!(grant.unwrap().may_publish());
    let (_, joined) = app
        .post(&format!("{LIVE}/join"), &user_token("bob"), json!({}))
        .await;
    assert_eq!(joined["role"], "host");
    assert!(join_grant(&joined).may_publish());
    assert!(matches!(
        events.recv().await.unwrap().kind,
        EventKind::SessionStarted { .. }
    ));
    let (status, body) = app
        .post(&members, &server, json!({"remove_members": ["bob"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["members"].as_array().unwrap().len(), 1);
    assert_eq!(
        events.recv().await.unwrap().kind,
        EventKind::MemberRemoved {
            user_id: "bob".into()
        }
    );
    let (identity, _, grant) = next_participant_update(&mut events).await;
    assert_eq!(identity, "bob");
    assert!(!grant.unwrap().may_publish(), "a livestream viewer again");
    let (_, listed) = app.get(&members, &user_token("bob")).await;
    assert_eq!(listed["members"][0]["user"]["id"], "alice");
}

async fn users_create_and_host_default_calls(backend: Backend) {
    let app = App::new(backend).await;
    let dave = user_token("dave");
    // join with create: the creator hosts the call.
    let (status, joined) = app
        .post(
            "/v1/calls/default/standup/join",
            &dave,
            json!({"create": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "host");
    assert_eq!(joined["call"]["created_by"], "dave");
    assert_eq!(joined["call"]["backstage"], false);
    // Without create, an unknown call is 404.
    let (status, body) = app
        .post("/v1/calls/default/nope/join", &dave, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // Another user joins as a plain participant who may publish.
    let (status, joined) = app
        .post(
            "/v1/calls/default/standup/join",
            &user_token("erin"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let grant = join_grant(&joined);
    assert!(grant.may_publish());
    assert_eq!(
        grant.can_publish_sources,
        ["camera", "microphone", "screen_share", "screen_share_audio"]
    );
    // Dave ends it; an admin (join-ended-call) may still join and opens a new session.
    let (status, _) = app
        .post("/v1/calls/default/standup/end", &dave, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = mint(
        &common::key(),
        &onair_auth::UserClaims {
            role: Some("admin".into()),
            ..user_claims("root")
        },
    );
    let (status, joined) = app
        .post("/v1/calls/default/standup/join", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert!(joined["call"]["session"]["ended_at"].is_null());
    let (_, sessions) = app.get("/v1/calls/default/standup/sessions", &dave).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    // Server tokens cannot join: joining needs a user.
    let (status, _) = app
        .post("/v1/calls/default/standup/join", &server_token(), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn call_types_are_managed(backend: Backend) {
    let app = App::new(backend).await;
    let server = server_token();
    let (status, body) = app.get("/v1/call-types", &user_token("bob")).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["call_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["audio_room", "default", "development", "livestream"]
    );

    let put = json!({"grants": {"user": ["join-call", "read-call"], "speaker": ["join-call", "send-audio"]},
                     "settings": {"backstage": {"enabled": true}, "video": {"enabled": false}}});
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/call-types/townhall",
            Some(&server),
            Some(put),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["grants"]["speaker"],
        json!(["join-call", "send-audio"])
    );
    assert_eq!(body["settings"]["backstage"]["enabled"], true);
    let (status, body) = app.get("/v1/call-types/townhall", &user_token("bob")).await;
    assert_eq!(
        (status, &body["settings"]["video"]["enabled"]),
        (StatusCode::OK, &json!(false))
    );

    // Users of the new type get exactly its grants.
    let (status, body) = app
        .post(
            "/v1/calls/townhall/q1",
            &server,
            json!({"data": {"members": [{"user_id": "sam", "role": "speaker"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = app.get("/v1/calls/townhall/q1", &user_token("sam")).await;
    assert_eq!(caps(&body), ["join-call", "read-call", "send-audio"]);

    let bad = json!({"grants": {"user": ["fly"]}});
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/call-types/townhall",
            Some(&server),
            Some(bad),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let bad = json!({"settings": {"video": {"enabled": "maybe"}}});
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/call-types/townhall",
            Some(&server),
            Some(bad),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_settings"))
    );
    assert_eq!(
        app.get("/v1/call-types/nope", &server).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = app.post("/v1/calls/nope/x", &server, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

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

/// The next `ParticipantUpdated` on `events`: (identity, attributes, grant).
async fn next_participant_update(
    events: &mut onair_bus::Subscription,
) -> (String, Option<Value>, Option<onair_auth::VideoGrant>) {
    loop {
        if let EventKind::ParticipantUpdated {
            identity,
            attributes,
            grant,
            ..
        } = events.recv().await.unwrap().kind
        {
            return (identity, attributes.map(|a| json!(a)), grant);
        }
    }
}

async fn connected_participants_are_updated(backend: Backend) {
    let app = App::new(backend).await;
    let _presence = onair_api::presence::spawn(app.state.clone());
    create_livestream(&app, json!({})).await;
    app.post(&format!("{LIVE}/join"), &user_token("alice"), json!({}))
        .await;
    let joined = onair_bus::Event::new(
        "livestream:show",
        0,
        EventKind::ParticipantJoined {
            user_id: "bob".into(),
            participant_sid: "PA_2".into(),
        },
    );
    app.bus.publish(joined).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app
        .get(&format!("{LIVE}/participants"), &server_token())
        .await
        .1
        .to_string()
        .contains("PA_2")
    {
        assert!(std::time::Instant::now() < deadline, "bob never connected");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut events = app.bus.subscribe();
    let path = format!("{LIVE}/participants/bob");
    let patch = |token: String, body: Value, path: String| {
        let app = &app;
        async move {
            app.call(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    // Abuse: a viewer, bad sizes and fields, a stranger, a bad identity.
    let refusals = [
        (
            user_token("bob"),
            json!({"name": "Bob"}),
            path.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            server_token(),
            json!({"name": "x".repeat(257)}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            server_token(),
            json!({"metadata": "x".repeat(64_001)}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            server_token(),
            json!({"permission": {"can_publish_sources": ["webcam"]}}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            server_token(),
            json!({"nickname": "b"}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            server_token(),
            json!({"name": "Carol"}),
            format!("{LIVE}/participants/carol"),
            StatusCode::NOT_FOUND,
        ),
        (
            server_token(),
            json!({"name": "?"}),
            format!("{LIVE}/participants/a%20b"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (token, body, path, want) in refusals {
        let (status, answer) = patch(token, body.clone(), path.clone()).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    // A backend puts bob on stage: the SFU hears his new grant.
    let body = json!({"attributes": {"stage": "yes"},
        "permission": {"can_publish": true, "can_publish_sources": ["camera", "microphone"]}});
    let (status, answer) = patch(server_token(), body, path.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (identity, attributes, grant) = next_participant_update(&mut events).await;
    assert_eq!(identity, "bob");
    assert_eq!(attributes, Some(json!({"stage": "yes"})));
    let grant = grant.expect("a grant");
    assert_eq!(grant.can_publish, Some(true));
    assert_eq!(grant.can_publish_sources, ["camera", "microphone"]);
    // A new role reaches the SFU as the grant it gives.
    let members = json!({"update_members": [{"user_id": "bob", "role": "host"}]});
    let (status, answer) = app
        .post(&format!("{LIVE}/members"), &user_token("alice"), members)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (identity, _, grant) = next_participant_update(&mut events).await;
    assert_eq!(identity, "bob");
    let grant = grant.expect("a grant");
    assert!(
        grant.may_publish() && grant.may_update_own_metadata(),
        "{grant:?}"
    );
}

/// What `token`'s holder may do in the livestream.
async fn own_capabilities(app: &App, token: &str) -> Vec<String> {
    let (status, body) = app.get(LIVE, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["own_capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

async fn users_ask_for_and_are_granted_permissions(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let (status, _) = app
        .post(&format!("{LIVE}/go_live"), &server_token(), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (host, bob) = (user_token("alice"), user_token("bob"));
    let mut events = app.bus.subscribe();
    // bob raises his hand; asking for what no one asks for is refused.
    let ask = format!("{LIVE}/request_permission");
    for (body, want) in [
        (
            json!({"permissions": ["end-call"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"permissions": ["fly"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"permissions": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"permissions": ["send-audio"], "why": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = app.post(&ask, &bob, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    let (status, answer) = app
        .post(
            &ask,
            &server_token(),
            json!({"permissions": ["send-audio"]}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a server asks nobody: {answer}"
    );
    let (status, _) = app
        .post(&ask, &bob, json!({"permissions": ["send-audio"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    loop {
        if let EventKind::PermissionRequested {
            user_id,
            permissions,
        } = events.recv().await.unwrap().kind
        {
            assert_eq!(
                (user_id.as_str(), permissions),
                ("bob", vec!["send-audio".to_owned()])
            );
            break;
        }
    }
    // bob may not grant himself; the host may, and it sticks to bob.
    let grant = format!("{LIVE}/user_permissions");
    let body = json!({"user_id": "bob", "grant_permissions": ["send-audio"]});
    let (status, _) = app.post(&grant, &bob, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bad = json!({"user_id": "bob", "grant_permissions": ["fly"]});
    assert_eq!(
        app.post(&grant, &host, bad).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(!own_capabilities(&app, &bob)
        .await
        .contains(&"send-audio".to_owned()));
    let (status, answer) = app.post(&grant, &host, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(own_capabilities(&app, &bob)
        .await
        .contains(&"send-audio".to_owned()));
    let (identity, _, g) = next_participant_update(&mut events).await;
    let g = g.expect("a grant");
    assert_eq!(identity, "bob");
    assert!(g.may_publish(), "{g:?}");
    assert_eq!(g.can_publish_sources, ["microphone"]);
    // A join now hands bob a token that publishes his microphone.
    let (status, joined) = app.post(&format!("{LIVE}/join"), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert!(join_grant(&joined).may_publish());
    // Revoked: gone again.
    let revoke = json!({"user_id": "bob", "revoke_permissions": ["send-audio"]});
    assert_eq!(app.post(&grant, &host, revoke).await.0, StatusCode::OK);
    assert!(!own_capabilities(&app, &bob)
        .await
        .contains(&"send-audio".to_owned()));
    let (_, _, g) = next_participant_update(&mut events).await;
    assert!(!g.expect("a grant").may_publish());
}

async fn presence_kick_and_mute(backend: Backend) {
    let app = App::new(backend).await;
    let _presence = onair_api::presence::spawn(app.state.clone());
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    app.post(&format!("{LIVE}/join"), &host, json!({})).await;
    // The SFU reports connections on the bus; the API lists them.
    let joined = |sid: &str, user: &str| {
        onair_bus::Event::new(
            "livestream:show",
            0,
            EventKind::ParticipantJoined {
                user_id: user.into(),
                participant_sid: sid.into(),
            },
        )
    };
    app.bus.publish(joined("PA_1", "alice")).await.unwrap();
    app.bus.publish(joined("PA_2", "bob")).await.unwrap();
    app.bus.publish(joined("PA_x", "ghost")).await.unwrap();
    let left = onair_bus::Event::new(
        "livestream:show",
        0,
        EventKind::ParticipantLeft {
            user_id: "bob".into(),
            participant_sid: "PA_2".into(),
            reason: Some("left".into()),
        },
    );
    app.bus.publish(left).await.unwrap();
    let path = format!("{LIVE}/participants");
    // Presence is recorded asynchronously: wait for the final picture.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let (status, body) = app.get(&path, &host).await;
        assert_eq!(status, StatusCode::OK);
        let users: Vec<&str> = body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].as_str().unwrap())
            .collect();
        if users == ["alice", "ghost"] {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "participants never became alice, ghost: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(body["participants"][0]["session_id"].is_string(), "{body}");

    // Kick and mute need their capabilities and reach the bus.
    let mut events = app.bus.subscribe();
    let (status, _) = app
        .post(
            &format!("{LIVE}/kick_user"),
            &user_token("bob"),
            json!({"user_id": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("{LIVE}/kick_user"),
            &host,
            json!({"user_id": "bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        events.recv().await.unwrap().kind,
        EventKind::UserKicked {
            user_id: "bob".into()
        }
    );
    let (status, body) = app
        .post(
            &format!("{LIVE}/mute_users"),
            &host,
            json!({"user_ids": ["bob"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
    );
    let (status, _) = app
        .post(
            &format!("{LIVE}/mute_users"),
            &host,
            json!({"mute_all_users": true, "audio": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        events.recv().await.unwrap().kind,
        EventKind::UsersMuted {
            user_ids: vec![],
            all: true,
            audio: true,
            video: false,
            screenshare: false
        }
    );
}

/// Plays an egress worker: reports `state` for job `id` on the bus.
async fn worker_reports(app: &App, id: &str, state: &str, error: Option<&str>) {
    let kind = EventKind::EgressUpdated {
        egress_id: id.into(),
        state: onair_bus::EgressState::parse(state).expect("a job state"),
        error: error.map(str::to_owned),
        file: Some(format!("recordings/livestream_show/{id}.mp4")),
        size: 1000,
        duration_ms: 2000,
    };
    let event = onair_bus::Event::new("livestream:show", 0, kind);
    app.bus.publish(event).await.unwrap();
}

/// Waits until the call's newest recording is in `state`.
async fn recording_becomes(app: &App, state: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = app
            .get(&format!("{LIVE}/recordings"), &server_token())
            .await;
        assert_eq!(status, StatusCode::OK);
        let last = body["recordings"].as_array().unwrap().last().cloned();
        if let Some(r) = last.filter(|r| r["state"] == state) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {state}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn recordings_follow_worker_reports(backend: Backend) {
    let app = App::new(backend).await;
    let _presence = onair_api::presence::spawn(app.state.clone());
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let start = format!("{LIVE}/recordings/start");
    let stop = format!("{LIVE}/recordings/stop");

    // Capability, preset and state checks.
    let (status, _) = app.post(&start, &user_token("bob"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.post(&start, &host, json!({"preset": "4k"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_preset"))
    );
    let (status, _) = app.post(&stop, &host, json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to stop");

    // Start: stored, queued on the bus, shown in the call.
    let mut events = app.bus.subscribe();
    let (status, body) = app.post(&start, &host, json!({"preset": "360p"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["recording"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        queued(&app).await,
        EventKind::EgressRequested {
            egress_id: id.clone(),
            kind: onair_bus::EgressKind::Recording,
            preset: "360p".into(),
            backstage: true,
            track_sid: None,
        }
    );
    let (status, body) = app.post(&start, &host, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("recording_running"))
    );
    let (_, call) = app.get(LIVE, &host).await;
    assert_eq!(call["call"]["egress"]["recording"]["id"], id.as_str());
    // Where OBS streams in: the ingest base and the cid.
    let cid = call["call"]["cid"].as_str().unwrap();
    assert_eq!(
        call["call"]["ingress"]["rtmp"]["address"],
        format!("rtmp://127.0.0.1:1935/live/{cid}")
    );
    assert_eq!(
        call["call"]["ingress"]["whip"]["url"],
        format!("http://127.0.0.1:7880/whip/{cid}")
    );

    // The worker reports; a stop moves it to ending; completion gives a link.
    worker_reports(&app, &id, "active", None).await;
    let r = recording_becomes(&app, "active").await;
    assert!(r["start_time"].is_string() && r["url"].is_string(), "{r}");
    let (status, body) = app.post(&stop, &host, json!(null)).await;
    assert_eq!(
        (status, body["recording"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
    // (The worker's own reports are on the bus too.)
    loop {
        if let EventKind::EgressStopRequested { egress_id } = events.recv().await.unwrap().kind {
            assert_eq!(egress_id, id);
            break;
        }
    }
    worker_reports(&app, &id, "active", None).await; // late: must not undo the stop
    worker_reports(&app, &id, "complete", None).await;
    let r = recording_becomes(&app, "complete").await;
    assert_eq!(r["filename"], format!("{id}.mp4"));
    assert_eq!(
        (r["size"].as_i64(), r["duration"].as_f64()),
        (Some(1000), Some(2.0))
    );
    assert!(r["end_time"].is_string(), "{r}");
    worker_reports(&app, &id, "failed", Some("too late")).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = recording_becomes(&app, "complete").await;
    assert!(r["error"].is_null(), "a finished job stays finished: {r}");
    let (_, call) = app.get(LIVE, &host).await;
    assert!(call["call"]["egress"]["recording"].is_null());

    // A new recording may start; a worker failure is recorded with its reason.
    let (status, body) = app.post(&start, &host, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = body["recording"]["id"].as_str().unwrap().to_owned();
    worker_reports(&app, &second, "failed", Some("pipeline broke")).await;
    let r = recording_becomes(&app, "failed").await;
    assert_eq!(r["error"], "pipeline broke");
}

/// The next job queued for egress workers, taken and finished.
async fn queued(app: &App) -> EventKind {
    let wait = std::time::Duration::from_secs(5);
    let lease = app
        .bus
        .take(onair_bus::jobs::EGRESS, "test-worker", wait, wait)
        .await
        .unwrap()
        .expect("a job queued within 5 s");
    app.bus.finish(&lease).await.unwrap();
    lease.job.kind
}

/// The next queued egress job: (kind, preset, backstage).
async fn next_request(app: &App) -> (String, String, bool) {
    match queued(app).await {
        EventKind::EgressRequested {
            kind,
            preset,
            backstage,
            ..
        } => (kind.as_str().to_owned(), preset, backstage),
        other => panic!("not an egress job: {other:?}"),
    }
}

async fn recordings_start_by_themselves(backend: Backend) {
    let app = App::new(backend).await;
    // `recording.mode: auto-on`: the first join (the session start) records.
    let auto = "/v1/calls/default/auto";
    let settings = json!({"recording": {"mode": "auto-on", "quality": "360p"}});
    let (status, body) = app
        .post(
            auto,
            &server_token(),
            json!({"data": {"settings_override": settings}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .post(&format!("{auto}/join"), &user_token("alice"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        next_request(&app).await,
        ("recording".into(), "360p".into(), false)
    );
    let (_, call) = app.get(auto, &server_token()).await;
    assert_eq!(call["call"]["egress"]["recording"]["state"], "starting");

    // `go_live {start_recording: true, start_hls: true}` starts both; the
    // call shows the HLS playlist once the worker reports it.
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let (status, _) = app
        .post(
            &format!("{LIVE}/go_live"),
            &user_token("bob"),
            json!({"start_hls": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            &format!("{LIVE}/go_live"),
            &host,
            json!({"start_recording": true, "start_hls": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["call"]["egress"]["recording"]["state"], "starting");
    assert_eq!(body["call"]["egress"]["hls"]["state"], "starting");
    assert!(body["call"]["egress"]["hls"]["playlist_url"].is_null());
    let first = next_request(&app).await;
    let second = next_request(&app).await;
    assert_eq!(first, ("recording".into(), "720p".into(), false));
    assert_eq!(second, ("hls".into(), "720p".into(), false));
    let (status, body) = app
        .post(&format!("{LIVE}/hls/start"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("hls_running"))
    );
    let (status, body) = app
        .post(&format!("{LIVE}/hls/stop"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["hls"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
    // Stopping again while it finishes is harmless.
    let (status, body) = app
        .post(&format!("{LIVE}/hls/stop"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["hls"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
}

async fn rtmp_pushes_are_named_targets(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let add = format!("{LIVE}/rtmp_broadcasts");
    let target = |name: &str| json!({"name": name, "stream_url": "rtmp://127.0.0.1:1935/live", "stream_key": "secret-key"});
    let (status, _) = app.post(&add, &user_token("bob"), target("yt")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (body, code) in [
        (
            json!({"name": "no spaces", "stream_url": "rtmp://h/live", "stream_key": "k"}),
            "invalid_id",
        ),
        (
            json!({"name": "yt", "stream_url": "rtmp://h/live", "stream_key": "has space"}),
            "invalid_stream_key",
        ),
        (
            json!({"name": "yt", "stream_url": "ftp://h/live", "stream_key": "k"}),
            "invalid_stream_url",
        ),
    ] {
        let (status, got) = app.post(&add, &host, body).await;
        assert_eq!(
            (status, got["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{got}"
        );
    }
    let (status, body) = app.post(&add, &host, target("yt")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rtmp"]["name"], "yt");
    assert!(
        !body.to_string().contains("secret-key"),
        "the key is not echoed: {body}"
    );
    let EventKind::EgressRequested {
        kind,
        track_sid: target_seen,
        egress_id: id,
        ..
    } = queued(&app).await
    else {
        panic!("not an egress job");
    };
    assert_eq!(kind, onair_bus::EgressKind::Rtmp);
    // The stream key stays off the bus: the worker asks the API for it,
    // with a server token.
    assert_eq!(target_seen, None);
    let path = format!("/v1/egress/{id}/target");
    let (status, body) = app.get(&path, &host).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("server_token_required"))
    );
    let (status, body) = app.get(&path, &server_token()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["target"], "rtmp://127.0.0.1:1935/live/secret-key");
    let (status, body) = app.get(&format!("/v1/egress/{id}"), &server_token()).await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::OK, &json!("starting"))
    );
    let (status, _) = app.get(&format!("/v1/egress/{id}"), &host).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/egress/EG_nope/target", &server_token()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.post(&add, &host, target("yt")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("rtmp_running"))
    );
    let (status, _) = app.post(&add, &host, target("twitch")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, call) = app.get(LIVE, &host).await;
    let names: Vec<&str> = call["call"]["egress"]["rtmps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["yt", "twitch"]);
    let (status, body) = app
        .call(Method::DELETE, &format!("{add}/yt"), Some(&host), None)
        .await;
    assert_eq!(
        (status, body["rtmp"]["state"].as_str()),
        (StatusCode::OK, Some("ending")),
        "{body}"
    );
    let (status, _) = app
        .call(Method::DELETE, &format!("{add}/nope"), Some(&host), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

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
    joins_are_placed_on_sfu_nodes,
    other_origins_pages_need_cors_grants,
    rtmp_pushes_are_named_targets,
    recordings_start_by_themselves,
    recordings_follow_worker_reports,
    presence_kick_and_mute,
    connected_participants_are_updated,
    users_ask_for_and_are_granted_permissions,
    livestream_backstage_go_live_end,
    viewers_join_ahead_and_wait,
    tokens_are_verified,
    capabilities_are_enforced,
    stored_user_role_and_members,
    users_create_and_host_default_calls,
    call_types_are_managed,
    bad_input_gets_clear_errors,
    health_and_openapi,
);
