//! Without auto-subscribe only the tracks asked for arrive; a moderator mutes a microphone.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_subscribe_only_asked_tracks_arrive() {
    let call = Call::start();
    let alice = call.join("alice", "default:manual").await;
    let video_sid = alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let creds = api::join(
        &call.onair.url,
        &call.token(&["user", "--user", "bob"]),
        "default:manual",
        true,
    )
    .await
    .unwrap();
    let bob = Client::connect_with(&creds.url, &creds.token, false)
        .await
        .unwrap();
    bob.wait_for(WAIT, |s| s.published.len() == 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bob.stats().tracks.is_empty(),
        "nothing before asking: {:?}",
        bob.stats()
    );
    bob.subscribe(&video_sid, true);
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
    assert!(
        audio(&bob.stats(), "alice").is_none(),
        "audio was not asked for"
    );
    // Unsubscribing stops the flow.
    bob.subscribe(&video_sid, false);
    let (before, after) = one_second_apart(&bob, Duration::from_millis(500)).await;
    assert!(
        video(&after, "alice").unwrap().frames <= video(&before, "alice").unwrap().frames + 2,
        "video kept flowing after unsubscribe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_mutes_a_microphone() {
    let call = Call::start();
    let alice = call.join("alice", "default:mute").await;
    let mic = alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:mute").await;
    bob.wait_for(WAIT, |s| audio(s, "alice").is_some_and(|a| a.frames > 20))
        .await
        .unwrap();
    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/default/mute/mute_users",
            serde_json::json!({"user_ids": ["alice"], "audio": true}),
        )
        .await;
    assert_eq!(status, 200);
    bob.wait_for(WAIT, |s| s.muted.contains(&mic))
        .await
        .unwrap_or_else(|s| panic!("not shown muted: {s:?}"));
    let (before, after) = one_second_apart(&bob, Duration::from_millis(300)).await;
    assert!(
        audio(&after, "alice").unwrap().frames <= audio(&before, "alice").unwrap().frames + 2,
        "audio still flows after the mute"
    );
}
