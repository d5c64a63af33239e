//! Stored users, roles, members and call types.

use super::*;

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

on_both_backends!(
    stored_user_role_and_members,
    users_create_and_host_default_calls,
    call_types_are_managed,
);
