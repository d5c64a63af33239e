//! Kicks, blocks, ends, full calls and missed bus events: the SFU follows the store, not the token.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_blocks_and_ends_hold_at_the_sfu() {
    let call = Call::start();
    let cid = "default:held";
    let alice = call.join("alice", cid).await;

    // Kicked: the join token in hand no longer admits; a new REST join does.
    let bob = call.credentials("bob", cid).await;
    let (mut ws, first) = signal::join(&bob.url, &bob.token).await.joined();
    assert!(matches!(first, Some(Out::Join(_))), "{first:?}");
    api(
        &call,
        Method::POST,
        "/calls/default/held/kick_user",
        json!({"user_id": "bob"}),
    )
    .await;
    assert!(ws
        .find(WAIT, |m| is_leave(&Some(m.clone())).then_some(()))
        .await
        .is_some());
    let (status, body) = signal::join(&bob.url, &bob.token).await.refused();
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("kicked"), "{body}");
    let again = call.credentials("bob", cid).await;
    let (_ws, first) = signal::join(&again.url, &again.token).await.joined();
    assert!(
        matches!(first, Some(Out::Join(_))),
        "kicked users may come back: {first:?}"
    );

    // Blocked: refused at REST and at the SFU, whatever token they hold.
    api(
        &call,
        Method::POST,
        "/calls/default/held/kick_user",
        json!({"user_id": "bob", "block": true}),
    )
    .await;
    let (status, body) = signal::join(&again.url, &again.token).await.refused();
    assert_eq!(
        (status, body.split(':').next()),
        (403, Some("blocked")),
        "{body}"
    );
    let user = call.token(&["user", "--user", "bob"]);
    let refused = api::join(&call.onair.url, &user, cid, false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A user token is no join token.
    let (status, body) = signal::join(&again.url, &user).await.refused();
    assert_eq!(status, 401, "{body}");
    assert!(body.starts_with("wrong_token_kind"), "{body}");

    // Ended: a token minted before the end no longer admits.
    let carol = call.credentials("carol", cid).await;
    api(&call, Method::POST, "/calls/default/held/end", json!({})).await;
    alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("alice stayed after the end: {s:?}"));
    let (status, body) = signal::join(&carol.url, &carol.token).await.refused();
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("session_ended"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_takes_the_calls_state_not_a_tokens() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/livestream/stage",
        json!({"data": {"members": [{"user_id": "host", "role": "host"}]}}),
    )
    .await;
    // The host's token is minted in backstage and used after go_live.
    let host = call.credentials("host", "livestream:stage").await;
    let keys = KeySet::new([dev_key(call.data.path())]);
    let claims = verify_join(&host.token, &keys, unix_now()).unwrap();
    assert!(claims.onair.unwrap().backstage, "minted in backstage");
    api(
        &call,
        Method::POST,
        "/calls/livestream/stage/go_live",
        json!({}),
    )
    .await;
    let host = Client::connect(&host.url, &host.token).await.unwrap();
    host.publish(camera(false)).await.unwrap();
    let viewer = call.join("viewer", "livestream:stage").await;
    viewer
        .wait_for(WAIT, |s| {
            s.tracks
                .values()
                .any(|t| t.identity == "host" && t.kind == "video" && t.frames > 10)
        })
        .await
        .unwrap_or_else(|s| panic!("the room kept the token's backstage: {s:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_refuses_at_the_sfu() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/default/small",
        json!({"data": {"settings_override": {"limits": {"max_participants": 1}}}}),
    )
    .await;
    // Both get join tokens while the call is empty; only one gets in.
    let alice = call.credentials("alice", "default:small").await;
    let bob = call.credentials("bob", "default:small").await;
    let (_alice, first) = signal::join(&alice.url, &alice.token).await.joined();
    assert!(matches!(first, Some(Out::Join(_))));
    let (mut ws, first) = signal::join(&bob.url, &bob.token).await.joined();
    let Some(Out::Leave(leave)) = first else {
        panic!("bob got into a full call: {first:?}");
    };
    assert_eq!(leave.reason, lk::DisconnectReason::JoinFailure as i32);
    assert!(ws.closed_within(WAIT).await);
    // And REST says so before anyone tries.
    let user = call.token(&["user", "--user", "carol"]);
    let refused = api::join(&call.onair.url, &user, "default:small", false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("call_full"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_itself_at_its_max_duration() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/default/short",
        json!({"data": {"settings_override": {"limits": {"max_duration_seconds": 3}}}}),
    )
    .await;
    let started = std::time::Instant::now();
    let alice = call.join("alice", "default:short").await;
    let s = alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("the call outlived its max duration: {s:?}"));
    let lasted = started.elapsed();
    println!(
        "max_duration_seconds = 3: ended after {lasted:?} ({:?})",
        s.closed
    );
    assert!(lasted >= Duration::from_secs(3), "ended after {lasted:?}");
    let body = api(&call, Method::GET, "/calls/default/short", json!(null)).await;
    assert!(body["call"]["ended_at"].is_string(), "{body}");
    let user = call.token(&["user", "--user", "bob"]);
    let refused = api::join(&call.onair.url, &user, "default:short", false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 409, "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_bus_event_is_repaired_from_the_store() {
    let call = Call::start();
    let alice = call.join("alice", "default:lost").await;
    // The call ends in the store while its event never travels (as when a
    // subscriber lagged or Redis was down).
    let db = call.data.path().join("onair.db");
    let ended = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], timeout=10); \
             t = int(time.time() * 1000); \
             c.execute(\"UPDATE calls SET ended_at = ? WHERE cid = 'default:lost'\", (t,)); \
             c.execute(\"UPDATE sessions SET ended_at = ? WHERE call_cid = 'default:lost'\", (t,)); c.commit()",
        ])
        .arg(&db)
        .status()
        .unwrap();
    assert!(ended.success());
    let started = std::time::Instant::now();
    alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("the room never learnt the call ended: {s:?}"));
    println!(
        "a call ended without its event: room closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_stop_is_repaired_from_the_store() {
    let call = Call::start();
    let alice = call.join("alice", "default:nostop").await;
    alice.publish(camera(false)).await.unwrap();
    let path = "/calls/default/nostop";
    api(
        &call,
        Method::POST,
        &format!("{path}/recordings/start"),
        json!({}),
    )
    .await;
    let token = call.token(&["server"]);
    support::call::recording_in(&call.onair.url, &token, path, "active", WAIT).await;
    // The API moves the job to `ending` while its stop event never travels.
    let db = call.data.path().join("onair.db");
    let stopped = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); \
             c.execute(\"UPDATE egress SET state = 'ending' WHERE call_cid = 'default:nostop'\"); c.commit()",
        ])
        .arg(&db)
        .status()
        .unwrap();
    assert!(stopped.success());
    let recording =
        support::call::recording_in(&call.onair.url, &token, path, "complete", WAIT).await;
    println!(
        "a stop without its event: recording complete, {} s",
        recording["duration"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_jobs_in_an_empty_call_all_start() {
    // Five jobs at once in a call nobody is in: the first recorder starts
    // the room while the bus already carries the next jobs' requests for
    // that call (those events closed the new room before its first join).
    let call = Call::start_with(&["--allow-private-targets"]);
    api(&call, Method::POST, "/calls/default/burst", json!({})).await;
    let dead = onair_testkit::free_port();
    let mut requests = vec![
        (
            "/calls/default/burst/recordings/start".to_owned(),
            json!({}),
        ),
        ("/calls/default/burst/hls/start".to_owned(), json!({})),
    ];
    for i in 0..3 {
        let push = json!({"name": format!("t{i}"), "stream_url": format!("rtmp://127.0.0.1:{dead}/live"), "stream_key": "k"});
        requests.push(("/calls/default/burst/rtmp_broadcasts".to_owned(), push));
    }
    let sent = requests
        .iter()
        .map(|(path, body)| call.api(Method::POST, path, body.clone()));
    for (status, body) in futures::future::join_all(sent).await {
        assert_eq!(status, 201, "{body}");
    }
    let token = call.token(&["server"]);
    let path = "/calls/default/burst";
    support::call::recording_in(&call.onair.url, &token, path, "active", WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let body = api(&call, Method::GET, path, json!(null)).await;
        let hls = body["call"]["egress"]["hls"]["state"].clone();
        assert_ne!(hls, "failed", "{body}");
        if hls == "active" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "HLS never active: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
