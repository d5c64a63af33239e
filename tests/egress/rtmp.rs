//! RTMP pushes reach their targets, and a dropped one reconnects.

use super::*;

/// An RTMP server as YouTube would be one: ffmpeg listening on `port`,
/// keeping `seconds` of what it receives in `out`.
fn rtmp_receiver(port: u16, key: &str, seconds: u32, out: &std::path::Path) -> std::process::Child {
    std::process::Command::new("timeout")
        .args([
            "60", "ffmpeg", "-v", "error", "-y", "-listen", "1", "-f", "flv", "-i",
        ])
        .arg(format!("rtmp://127.0.0.1:{port}/live/{key}"))
        .args(["-t", &seconds.to_string(), "-c", "copy", "-f", "flv"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

/// Waits for `child` off the async runtime; panics unless it succeeded.
async fn finished(mut child: std::process::Child, what: &str) {
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{what}: ffmpeg {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_pushes_reach_their_targets_and_a_dropped_one_reconnects() {
    // The targets are local ffmpeg servers: loopback must be allowed.
    let call = Call::start_with(&["--allow-private-targets"]);
    let alice = publisher(&call, "alice", "push").await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (onair_testkit::free_port(), onair_testkit::free_port());
    let a = rtmp_receiver(port_a, "key-a", 3, &dir.path().join("a.flv"));
    let b = rtmp_receiver(port_b, "key-b", 9, &dir.path().join("b.flv"));
    tokio::time::sleep(Duration::from_millis(500)).await; // listening
    for (name, port, key) in [("a", port_a, "key-a"), ("b", port_b, "key-b")] {
        let body = json!({
            "name": name,
            "stream_url": format!("rtmp://127.0.0.1:{port}/live"),
            "stream_key": key,
            "preset": "360p",
        });
        let (status, body) = call
            .api(Method::POST, "/calls/default/push/rtmp_broadcasts", body)
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["rtmp"]["name"], name);
    }
    let bad = json!({"name": "c", "stream_url": "http://x/live", "stream_key": "k"});
    let (status, body) = call
        .api(Method::POST, "/calls/default/push/rtmp_broadcasts", bad)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_stream_url"))
    );
    let (_, body) = call
        .api(Method::GET, "/calls/default/push", json!(null))
        .await;
    assert_eq!(
        body["call"]["egress"]["rtmps"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    // Target a hangs up after 3 s; b keeps receiving; a's push reconnects
    // to the next server on its address.
    finished(a, "target a").await;
    let a2 = rtmp_receiver(port_a, "key-a", 3, &dir.path().join("a2.flv"));
    finished(a2, "target a, second connection").await;
    finished(b, "target b").await;
    for (file, at_least) in [("a.flv", 2.5), ("a2.flv", 2.5), ("b.flv", 8.5)] {
        let info = probe(&dir.path().join(file));
        assert_eq!(codecs(&info), ["aac", "h264"], "{file}: {info}");
        let duration = number(&info["format"]["duration"]);
        assert!(duration >= at_least, "{file}: only {duration:.2} s");
        println!("RTMP {file}: {duration:.2} s of H.264 + AAC");
    }

    // Removing one push leaves the other listed.
    let (status, body) = call
        .api(
            Method::DELETE,
            "/calls/default/push/rtmp_broadcasts/a",
            json!(null),
        )
        .await;
    assert_eq!(
        (status, body["rtmp"]["state"].as_str()),
        (200, Some("ending")),
        "{body}"
    );
    let (status, _) = call
        .api(
            Method::DELETE,
            "/calls/default/push/rtmp_broadcasts/nope",
            json!(null),
        )
        .await;
    assert_eq!(status, 404);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = call
            .api(Method::GET, "/calls/default/push", json!(null))
            .await;
        let names: Vec<&str> = body["call"]["egress"]["rtmps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        if names == ["b"] {
            break;
        }
        assert!(Instant::now() < deadline, "pushes: {names:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    alice.leave().await;
}
