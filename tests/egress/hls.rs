//! HLS: the playlist plays while live, closes on stop, and passes the host's H.264 through.

use super::*;

/// Starts HLS of `default:{id}` at `preset`; the playlist URL, once the call shows it.
async fn start_hls(call: &Call, id: &str, preset: &str) -> String {
    let path = format!("/calls/default/{id}");
    let (status, body) = call
        .api(
            Method::POST,
            &format!("{path}/hls/start"),
            json!({ "preset": preset }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = call.api(Method::GET, &path, json!(null)).await;
        let hls = &body["call"]["egress"]["hls"];
        if let (Some("active"), Some(url)) = (hls["state"].as_str(), hls["playlist_url"].as_str()) {
            return url.to_owned();
        }
        assert!(Instant::now() < deadline, "no playlist: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the live playlist lists `n` segments; its text.
async fn listed(playlist: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(playlist).await.unwrap().text().await.unwrap();
        if text.matches("#EXTINF").count() >= n {
            return text;
        }
        assert!(Instant::now() < deadline, "playlist stays short: {text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads `seconds` from the live playlist the way a player would, into `dir/live.ts`.
async fn read_live(playlist: &str, seconds: u32, dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("live.ts");
    let read = {
        let (playlist, out, seconds) = (playlist.to_owned(), out.clone(), seconds.to_string());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("timeout")
                .args([
                    "60", "ffmpeg", "-v", "error", "-i", &playlist, "-t", &seconds,
                ])
                .args(["-c", "copy", "-f", "mpegts"])
                .arg(&out)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        read.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_playlist_plays_while_live_and_closes_on_stop() {
    // Links last 8 s: the live playlist's must work past that while live.
    let call = Call::start_with(&["--link-ttl", "8s"]);
    let alice = publisher(&call, "alice", "hls").await;
    let playlist = start_hls(&call, "hls", "360p").await;
    // Wait for three segments, then read five seconds the way a player would.
    listed(&playlist, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let out = read_live(&playlist, 5, dir.path()).await;
    let info = probe(&out);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let duration = number(&info["format"]["duration"]);
    assert!(
        duration >= 4.5,
        "read only {duration:.2} s from the live playlist"
    );
    let video = stream(&info, "video");
    assert_eq!(
        (
            &video["width"],
            &video["height"],
            &video["sample_aspect_ratio"]
        ),
        (&json!(640), &json!(360), &json!("1:1")),
        "{video}"
    );
    let luma = luma(&out, 2.0, None);
    assert!(luma > 40.0, "the live picture is black (luma {luma})");

    // Run until the live window has slid past the first segment (seven
    // listed ever, six in the window), so the full playlist has more to say.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&playlist)
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .any(|l| {
            l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")
                .is_some_and(|n| n != "0")
        })
    {
        assert!(Instant::now() < deadline, "the live window never slid");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Stopping closes the playlist, and the same URL then lists the whole
    // broadcast from its first segment.
    let (status, _) = call
        .api(Method::POST, "/calls/default/hls/hls/stop", json!(null))
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let full = loop {
        let text = reqwest::get(&playlist).await.unwrap().text().await.unwrap();
        if text.contains("#EXT-X-PLAYLIST-TYPE:VOD") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the playlist was not closed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(full.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{full}");
    assert!(full.ends_with("#EXT-X-ENDLIST\n"), "{full}");
    assert!(!full.contains("DISCONTINUITY"), "{full}");
    let segments = full.matches("#EXTINF").count();
    assert!(segments >= 7, "{full}");
    let info = probe(std::path::Path::new(&playlist));
    let replay = number(&info["format"]["duration"]);
    assert!(
        replay >= segments as f64 * 2.0 - 3.0,
        "the replay lasts {replay:.2} s for {segments} segments"
    );
    let (_, body) = call
        .api(Method::GET, "/calls/default/hls", json!(null))
        .await;
    assert!(
        body["call"]["egress"]["hls"].is_null()
            || body["call"]["egress"]["hls"]["state"] == "ending"
    );
    // link_ttl after the broadcast ended, its link stops working.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let expired = reqwest::get(&playlist).await.unwrap();
    assert_eq!(expired.status(), 401, "the link outlived the broadcast");
    println!("HLS: read {duration:.2} s of H.264 + AAC from the live playlist, luma {luma:.0}; on stop the playlist lists all {segments} segments, a {replay:.2} s replay; the 8 s link worked while live and expired after");
    alice.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_passes_the_hosts_h264_through() {
    let call = Call::start();
    let alice = call.join("alice", "default:pass").await;
    alice.publish(h264_camera()).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    // At 720p a transcode would make 1280x720 High; passed through, the
    // picture stays alice's 640x360 constrained baseline.
    let playlist = start_hls(&call, "pass", "720p").await;
    let text = listed(&playlist, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let out = read_live(&playlist, 5, dir.path()).await;
    let info = probe(&out);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let video = stream(&info, "video");
    assert_eq!(
        (&video["width"], &video["height"], &video["profile"]),
        (&json!(640), &json!(360), &json!("Constrained Baseline")),
        "{video}"
    );
    let duration = number(&info["format"]["duration"]);
    assert!(duration >= 4.5, "read only {duration:.2} s");
    let luma = luma(&out, 2.0, None);
    assert!(luma > 40.0, "the live picture is black (luma {luma})");
    // Segments keep their target length: the recorder asks alice for a
    // keyframe every segment.
    let lengths: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').split(',').next()?.parse().ok())
        .collect();
    assert!(lengths.iter().all(|l| *l <= 3.0), "segments: {lengths:?}");
    let asked = alice.stats().keyframe_requests;
    assert!(asked >= 2, "the recorder asked for {asked} keyframes");
    println!("HLS passthrough: {duration:.2} s of alice's own H.264 640x360 + AAC, segments {lengths:?}, {asked} keyframe requests");
    alice.leave().await;
}
