//! Livestreams: backstage, go-live, end, and viewers who join ahead.

use super::*;

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

on_both_backends!(
    livestream_backstage_go_live_end,
    viewers_join_ahead_and_wait,
);
