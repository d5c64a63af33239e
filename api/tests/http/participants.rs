//! Participants: live updates, permission requests, presence, kick and mute.

use super::*;

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

on_both_backends!(
    connected_participants_are_updated,
    users_ask_for_and_are_granted_permissions,
    presence_kick_and_mute,
);
