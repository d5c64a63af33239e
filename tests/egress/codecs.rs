//! Track recordings keep the published codec.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_recordings_keep_the_published_codec() {
    let call = Call::start();
    let alice = call.join("alice", "default:tracks").await;
    let camera_sid = alice.publish(camera(false)).await.unwrap();
    let mic_sid = alice.publish(microphone()).await.unwrap();
    let start = |sid: &str| {
        let body = json!({ "track_sid": sid });
        call.api(Method::POST, "/calls/default/tracks/recordings/start", body)
    };
    for sid in [&camera_sid, &mic_sid] {
        let (status, body) = start(sid).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            (
                body["recording"]["mode"].as_str(),
                body["recording"]["track_sid"].as_str()
            ),
            (Some("track"), Some(sid.as_str()))
        );
    }
    let (status, body) = start(&camera_sid).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("track_recording_running"))
    );
    let (status, body) = start("not-a-track").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_track_sid"))
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The camera's recording ends with the track; the microphone's on request.
    alice.unpublish(&camera_sid);
    let (status, _) = call
        .api(
            Method::POST,
            "/calls/default/tracks/recordings/stop",
            json!({ "track_sid": mic_sid }),
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    let recordings = loop {
        let (_, body) = call
            .api(Method::GET, "/calls/default/tracks/recordings", json!(null))
            .await;
        let all = body["recordings"].as_array().unwrap().clone();
        if all.len() == 2 && all.iter().all(|r| r["state"] == "complete") {
            break all;
        }
        assert!(all.iter().all(|r| r["state"] != "failed"), "{body}");
        assert!(Instant::now() < deadline, "not complete: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let dir = tempfile::tempdir().unwrap();
    for (r, codec) in recordings.iter().zip(["vp8", "opus"]) {
        let name = r["filename"].as_str().unwrap();
        assert!(name.ends_with(".webm"), "{r}");
        let file = download(r["url"].as_str().unwrap(), dir.path(), name).await;
        let info = probe(&file);
        assert_eq!(codecs(&info), [codec], "{info}");
        let duration = number(&info["format"]["duration"]);
        assert!((4.0..9.0).contains(&duration), "{name}: {duration:.2} s");
        println!("track recording {name}: {codec}, {duration:.2} s, not transcoded");
    }
    alice.leave().await;
}
