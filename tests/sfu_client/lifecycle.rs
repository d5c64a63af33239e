//! Backstage gating, go-live and end; kicks; rejoins; vanished participants; who may resume a session.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstage_gates_media_until_go_live_then_end_disconnects() {
    let call = Call::start();
    let soon = chrono_like_rfc3339(60);
    let (status, body) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show",
            serde_json::json!({"data": {
            "members": [{"user_id": "host", "role": "host"}],
            "starts_at": soon,
            "settings_override": {"backstage": {"join_ahead_time_seconds": 300}}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let host = call.join("host", "livestream:show").await;
    host.publish(camera(false)).await.unwrap();
    host.publish(microphone()).await.unwrap();
    let viewer = call.join("viewer", "livestream:show").await;
    viewer
        .wait_for(WAIT, |s| s.participants.contains_key("host"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        video(&viewer.stats(), "host").is_none(),
        "media in backstage: {:?}",
        viewer.stats()
    );

    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show/go_live",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    viewer
        .wait_for(WAIT, |s| {
            video(s, "host").is_some_and(|v| v.frames > 10)
                && audio(s, "host").is_some_and(|a| a.frames > 10)
        })
        .await
        .unwrap_or_else(|s| panic!("no media after go_live: {s:?}"));

    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show/end",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    for c in [&viewer, &host] {
        c.wait_for(WAIT, |s| s.closed.is_some())
            .await
            .unwrap_or_else(|s| panic!("not disconnected by end: {s:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_removes_one_participant() {
    let call = Call::start();
    let alice = call.join("alice", "default:kick").await;
    let bob = call.join("bob", "default:kick").await;
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("bob"))
        .await
        .unwrap();
    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/default/kick/kick_user",
            serde_json::json!({"user_id": "bob"}),
        )
        .await;
    assert_eq!(status, 200);
    bob.wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("bob not kicked: {s:?}"));
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("bob"))
        .await
        .unwrap();
    assert!(alice.stats().closed.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_after_a_lost_connection_and_newer_replaces_older() {
    let call = Call::start();
    let alice = call.join("alice", "default:rejoin").await;
    alice.publish(camera(false)).await.unwrap();
    let bob = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();

    // The connection drops without a goodbye; bob comes back as livekit-client does.
    bob.abort();
    let bob = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap_or_else(|s| panic!("no media after the rejoin: {s:?}"));

    // A second connection for the same user replaces the first.
    let bob2 = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("older connection kept: {s:?}"));
    bob2.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
    let s = alice.stats();
    assert_eq!(s.participants.len(), 1, "alice sees bob once: {s:?}");
    assert_eq!(s.participants.get("bob"), Some(&bob2.stats().sid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_participants_leave_after_the_timeout() {
    let call = Call::start_with(&["--rtc-participant-timeout", "3s"]);
    let cid = "default:vanish";
    let alice = call.join("alice", cid).await;

    // A client that joins and then says nothing (its network went away).
    let ghost = call.credentials("ghost", cid).await;
    let started = Instant::now();
    let (_ghost_ws, first) = signal::join(&ghost.url, &ghost.token).await.joined();
    assert!(matches!(first, Some(lk::signal_response::Message::Join(_))));
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("ghost"))
        .await
        .unwrap();
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("ghost"))
        .await
        .unwrap_or_else(|s| panic!("the silent participant stayed: {s:?}"));
    let silent_for = started.elapsed();
    assert!(
        silent_for >= Duration::from_secs(3),
        "removed after {silent_for:?}"
    );

    // A client whose connection closed without a goodbye may resume for the
    // timeout, then it is removed too.
    let bob = call.join("bob", cid).await;
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("bob"))
        .await
        .unwrap();
    let aborted = Instant::now();
    bob.abort();
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("bob"))
        .await
        .unwrap_or_else(|s| panic!("the vanished participant stayed: {s:?}"));
    let gone_after = aborted.elapsed();
    assert!(
        gone_after >= Duration::from_secs(3),
        "removed after {gone_after:?}"
    );
    println!("silent participant removed after {silent_for:?}, closed one after {gone_after:?}");

    // Pinging participants stay, and the API lists only them.
    assert!(
        alice.stats().closed.is_none(),
        "alice (pinging) was removed"
    );
    let (status, body) = call
        .api(
            reqwest::Method::GET,
            "/calls/default/vanish/participants",
            serde_json::json!(null),
        )
        .await;
    assert_eq!(status, 200);
    let users: Vec<&str> = body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_resumes_a_session() {
    let call = Call::start();
    let cid = "default:resume-guard";
    let alice = call.join("alice", cid).await;
    let sid = alice.stats().sid;
    let creds = call.credentials("mallory", cid).await;
    for query in [
        format!("access_token={}&reconnect=1&sid={sid}", creds.token),
        format!("access_token={}&reconnect=1&sid=PA_unknown", creds.token),
    ] {
        let (_ws, first) = signal::open(&creds.url, &query).await.joined();
        assert!(is_rejoin_request(&first), "{query}: {first:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(alice.stats().closed.is_none(), "alice disturbed");
}
