//! Who may do what through REST, probed as an attacker would (issue 10):
//! token kinds, blocks, self-promotion, who reads members and recordings,
//! participant limits and RTMP push targets. On SQLite and Postgres.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{server_token, user_claims, user_token, App, Backend};
use onair_api::domain::Participant;
use onair_api::EgressPolicy;
use onair_auth::token::mint;
use onair_bus::{Bus, EventKind};
use serde_json::{json, Value};

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// A `default` call created by `host` (who becomes its host).
async fn default_call(app: &App, id: &str, host: &str) -> String {
    let path = format!("/v1/calls/default/{id}");
    let (status, body) = app.post(&path, &user_token(host), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    path
}

async fn join(app: &App, path: &str, token: &str) -> (StatusCode, Value) {
    app.post(&format!("{path}/join"), token, json!({})).await
}

async fn join_tokens_are_not_api_tokens(backend: Backend) {
    let app = App::new(backend).await;
    let a = default_call(&app, "p1a", "alice").await;
    // A user token scoped to p1a…
    let scoped = mint(
        &common::key(),
        &onair_auth::UserClaims {
            call_cids: Some(vec!["default:p1a".into()]),
            ..user_claims("bob")
        },
    );
    let (status, body) = app.get("/v1/calls/default/p1b", &scoped).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "wrong_call")
    );
    // …is traded for a join token, which must not open other calls,
    // create calls, or buy another join token.
    let (status, joined) = join(&app, &a, &scoped).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let join_token = joined["credentials"]["token"].as_str().unwrap().to_owned();
    default_call(&app, "p1b", "carol").await;
    for (method, path) in [
        ("GET", "/v1/calls/default/p1b"),
        ("POST", "/v1/calls/default/p1c"),
        ("POST", "/v1/calls/default/p1a/join"),
    ] {
        let (status, body) = match method {
            "GET" => app.get(path, &join_token).await,
            _ => app.post(path, &join_token, json!({})).await,
        };
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "wrong_token_kind"),
            "{method} {path}: {body}"
        );
    }
    // Claims of no kind are refused too.
    let odd = mint(
        &common::key(),
        &json!({"iss": common::KEY, "sub": "bob", "exp": common::now() + 60, "admin": true}),
    );
    let (status, body) = app.get(&a, &odd).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "malformed_token")
    );
    // The join token names the session it was minted for.
    let keys = onair_auth::KeySet::new([common::key()]);
    let claims = onair_auth::token::verify_join(&join_token, &keys, common::now()).unwrap();
    let session = claims.onair.and_then(|o| o.session).expect("session claim");
    let (_, call) = app.get(&a, &user_token("alice")).await;
    assert_eq!(
        call["call"]["session"]["id"].as_str(),
        Some(session.as_str()),
        "{call}"
    );
}

async fn blocked_users_cannot_join(backend: Backend) {
    let app = App::new(backend).await;
    let mut events = app.bus.subscribe();
    let path = default_call(&app, "blk", "alice").await;
    let (alice, bob) = (user_token("alice"), user_token("bob"));
    assert_eq!(join(&app, &path, &bob).await.0, StatusCode::OK);

    // Only block-users holders block; bad bodies are 422.
    let (status, body) = app
        .post(
            &format!("{path}/block_users"),
            &bob,
            json!({"user_ids": ["alice"]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "missing_capability")
    );
    for bad in [
        json!({"user_ids": []}),
        json!({"user_ids": ["a b"]}),
        json!({"ids": ["x"]}),
    ] {
        let (status, body) = app.post(&format!("{path}/block_users"), &alice, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let (status, _) = app
        .post(
            &format!("{path}/block_users"),
            &alice,
            json!({"user_ids": many}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = app
        .post(
            &format!("{path}/block_users"),
            &alice,
            json!({"user_ids": ["bob"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["blocked_user_ids"], json!(["bob"]));
    assert!(
        next_blocked(&mut events).await,
        "the SFU hears of the block"
    );
    let (status, body) = join(&app, &path, &bob).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "blocked"));

    let (status, body) = app
        .post(
            &format!("{path}/unblock_users"),
            &alice,
            json!({"user_ids": ["bob"]}),
        )
        .await;
    assert_eq!(
        (status, &body["blocked_user_ids"]),
        (StatusCode::OK, &json!([]))
    );
    assert_eq!(join(&app, &path, &bob).await.0, StatusCode::OK);

    // A kick alone lets the user back in; a kick with block does not.
    let kick = |block: bool| json!({"user_id": "bob", "block": block});
    let (status, _) = app
        .post(&format!("{path}/kick_user"), &alice, kick(false))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(join(&app, &path, &bob).await.0, StatusCode::OK);
    let (status, _) = app
        .post(&format!("{path}/kick_user"), &alice, kick(true))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(join(&app, &path, &bob).await.0, StatusCode::FORBIDDEN);
}

async fn next_blocked(events: &mut onair_bus::Subscription) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if matches!(e.kind, EventKind::UserBlocked { ref user_id } if user_id == "bob") {
            return true;
        }
    }
    false
}

async fn nobody_grants_more_than_they_hold(backend: Backend) {
    let app = App::new(backend).await;
    let path = default_call(&app, "roles", "alice").await;
    let members = format!("{path}/members");
    let set = |user: &str, role: &str| json!({"update_members": [{"user_id": user, "role": role}]});
    // The host makes mo a moderator (host holds all a moderator has).
    let (status, body) = app
        .post(&members, &user_token("alice"), set("mo", "moderator"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mo = user_token("mo");
    // The moderator cannot raise itself or anyone to admin, nor touch the host.
    for (body, what) in [
        (set("mo", "admin"), "itself to admin"),
        (set("carol", "admin"), "carol to admin"),
        (set("alice", "call_member"), "the host down"),
        (json!({"remove_members": ["alice"]}), "the host out"),
    ] {
        let (status, got) = app.post(&members, &mo, body).await;
        assert_eq!(
            (status, code(&got)),
            (StatusCode::FORBIDDEN, "role_exceeds_own_capabilities"),
            "moderator moved {what}: {got}"
        );
    }
    // Its own role, even to a lesser one, needs update-call-permissions.
    let (status, got) = app.post(&members, &mo, set("mo", "call_member")).await;
    assert_eq!(
        (status, code(&got)),
        (StatusCode::FORBIDDEN, "missing_capability")
    );
    // What it holds, it may give.
    let (status, got) = app.post(&members, &mo, set("dave", "call_member")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    // A creator cannot name itself admin of its new call.
    let (status, got) = app
        .post(
            "/v1/calls/default/mine",
            &user_token("eve"),
            json!({"data": {"members": [{"user_id": "eve", "role": "admin"}]}}),
        )
        .await;
    assert_eq!(
        (status, code(&got)),
        (StatusCode::FORBIDDEN, "role_exceeds_own_capabilities")
    );
    // Server tokens may do anything.
    let (status, _) = app
        .post(&members, &server_token(), set("mo", "admin"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn members_and_recordings_are_not_for_strangers(backend: Backend) {
    let app = App::new(backend).await;
    let path = default_call(&app, "priv", "alice").await;
    let stranger = user_token("mallory");
    for what in ["members", "recordings", "participants", "sessions"] {
        let (status, body) = app.get(&format!("{path}/{what}"), &stranger).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    }
    // Reading the call shows no members to a stranger either.
    let (status, body) = app.get(&path, &stranger).await;
    assert_eq!((status, &body["members"]), (StatusCode::OK, &json!([])));
    // Members see members; recordings need list-recordings (the host has it).
    app.post(
        &format!("{path}/members"),
        &user_token("alice"),
        json!({"update_members": [{"user_id": "bob"}]}),
    )
    .await;
    assert_eq!(
        app.get(&format!("{path}/members"), &user_token("bob"))
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app
        .get(&format!("{path}/recordings"), &user_token("bob"))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "missing_capability")
    );
    let (status, _) = app
        .get(&format!("{path}/recordings"), &user_token("alice"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{path}/recordings"), &server_token())
            .await
            .0,
        StatusCode::OK
    );
    // A livestream is public: its members are for anyone who may read it.
    let (status, _) = app
        .post("/v1/calls/livestream/pub", &server_token(), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.get("/v1/calls/livestream/pub/members", &stranger).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get("/v1/calls/livestream/pub/recordings", &stranger)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn max_participants_is_enforced_at_join(backend: Backend) {
    let app = App::new(backend).await;
    let (status, body) = app
        .post(
            "/v1/calls/default/small",
            &user_token("alice"),
            json!({"data": {"settings_override": {"limits": {"max_participants": 1}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = "/v1/calls/default/small";
    assert_eq!(
        join(&app, path, &user_token("alice")).await.0,
        StatusCode::OK
    );
    // alice is connected (as the SFU reports it).
    let p = Participant {
        participant_sid: "PA_alice".into(),
        call_cid: "default:small".into(),
        session_id: None,
        user_id: "alice".into(),
        joined_at: Utc::now(),
        left_at: None,
    };
    app.state.store.participant_joined(&p).await.unwrap();
    for user in ["bob", "carol"] {
        let (status, body) = join(&app, path, &user_token(user)).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "call_full"),
            "{user}"
        );
    }
    // alice herself may join again (another device, a rejoin).
    assert_eq!(
        join(&app, path, &user_token("alice")).await.0,
        StatusCode::OK
    );
    app.state
        .store
        .participant_left("PA_alice", Utc::now())
        .await
        .unwrap();
    assert_eq!(join(&app, path, &user_token("bob")).await.0, StatusCode::OK);
}

async fn rtmp_targets_must_be_public_and_few(backend: Backend) {
    let app = App::with_policy(backend, EgressPolicy::default()).await;
    let path = default_call(&app, "ssrf", "alice").await;
    let alice = user_token("alice");
    let push = |url: &str, name: &str| json!({"name": name, "stream_url": url, "stream_key": "k"});
    for url in [
        "rtmp://127.0.0.1:19352/live",
        "rtmp://localhost/live",
        "rtmp://[::1]:1935/live",
        "rtmp://10.1.2.3/live",
        "rtmp://169.254.169.254/live",
        "rtmp://u:p@192.168.0.1/live",
    ] {
        let (status, body) = app
            .post(&format!("{path}/rtmp_broadcasts"), &alice, push(url, "x"))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "forbidden_target"),
            "{url}: {body}"
        );
    }
    let (status, body) = app
        .post(
            &format!("{path}/rtmp_broadcasts"),
            &alice,
            push("rtmp://no-such-host.invalid/live", "x"),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unresolvable_target")
    );

    // With private targets allowed (tests), at most 5 pushes run per call.
    let app = App::new(backend).await;
    let path = default_call(&app, "many", "alice").await;
    for i in 0..5 {
        let (status, body) = app
            .post(
                &format!("{path}/rtmp_broadcasts"),
                &alice,
                push("rtmp://127.0.0.1:19352/live", &format!("t{i}")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .post(
            &format!("{path}/rtmp_broadcasts"),
            &alice,
            push("rtmp://127.0.0.1:19352/live", "t5"),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "egress_limit")
    );
}

on_both_backends!(
    join_tokens_are_not_api_tokens,
    blocked_users_cannot_join,
    nobody_grants_more_than_they_hold,
    members_and_recordings_are_not_for_strangers,
    max_participants_is_enforced_at_join,
    rtmp_targets_must_be_public_and_few,
);
