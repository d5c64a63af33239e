//! SIGTERM finishes recordings; none starts on a full disk.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_recordings() {
    let Call { mut onair, data } = Call::start();
    let token = support::tokens::server(&dev_key(data.path()));
    let user = support::tokens::user(&dev_key(data.path()), "alice");
    let creds = api::join(&onair.url, &user, "default:term", true)
        .await
        .unwrap();
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    alice.publish(support::call::microphone()).await.unwrap();
    let path = "/calls/default/term";
    let (status, body) = support::call::request(
        &onair.url,
        &token,
        Method::POST,
        &format!("{path}/recordings/start"),
        json!({"preset": "360p"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    support::call::recording_in(&onair.url, &token, path, "active", WAIT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // SIGTERM: new work is refused while the recording finishes.
    let url = onair.url.clone();
    let exited = tokio::task::spawn_blocking(move || {
        let status = onair.terminate(Duration::from_secs(40));
        (onair, status)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(resp) = reqwest::get(format!("{url}/readyz")).await {
        assert_eq!(resp.status(), 503, "ready while shutting down");
    }
    let (onair, status) = exited.await.unwrap();
    let status = status.expect("no exit within 40 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(onair);
    alice.abort();

    // The next start finds the recording complete and playable.
    let onair = support::dev(data.path(), &[]);
    let recording = support::call::recording_in(&onair.url, &token, path, "complete", WAIT).await;
    let id = recording["id"].as_str().unwrap();
    let file = data
        .path()
        .join(format!("recordings/default_term/{id}.mp4"));
    let info = support::probe::probe(&file);
    let duration = support::probe::number(&info["format"]["duration"]);
    println!("SIGTERM 4 s into a recording: job complete, {duration:.2} s playable");
    assert!(duration >= 3.0, "only {duration} s");
    assert_eq!(support::probe::codecs(&info), ["aac", "h264"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_recording_starts_on_a_full_disk() {
    // Ask for more free space than any disk has.
    let call = Call::start_with(&["--min-free-space", "1000000000000000000"]);
    let alice = call.join("alice", "default:full").await;
    alice.publish(camera(false)).await.unwrap();
    let body = api(
        &call,
        Method::POST,
        "/calls/default/full/recordings/start",
        json!({}),
    )
    .await;
    assert_eq!(body["recording"]["state"], "starting", "{body}");
    let token = call.token(&["server"]);
    let failed = support::call::recording_in(
        &call.onair.url,
        &token,
        "/calls/default/full",
        "failed",
        WAIT,
    )
    .await;
    let why = failed["error"].as_str().unwrap_or("");
    assert!(why.starts_with("not enough disk space"), "{failed}");
    println!("recording refused: {why}");
}
