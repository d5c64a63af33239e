//! Egress end to end: a publisher (`onair-client`) in a call, a recording
//! started and stopped over REST, and the file it produced checked with
//! ffprobe and ffmpeg: both streams, the expected duration, audio and video
//! starting together, the publisher's picture in it; its download link
//! works and is refused for other files.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onair_client::files::{ivf, ogg_opus, Frame};
use onair_client::{Codec, LocalLayer, LocalTrack, Source};

use reqwest::Method;
use serde_json::json;
use support::call::{camera, h264_camera, microphone, Call};
use support::probe::{codecs, luma, number, probe, stream};

async fn recording_state(call: &Call, path: &str) -> Option<String> {
    let (_, body) = call.api(Method::GET, path, json!(null)).await;
    body["call"]["egress"]["recording"]["state"]
        .as_str()
        .map(str::to_owned)
}

/// `user` in call `default:{id}`, publishing a camera and a microphone.
async fn publisher(call: &Call, user: &str, id: &str) -> onair_client::Client {
    let client = call.join(user, &format!("default:{id}")).await;
    client.publish(camera(false)).await.unwrap();
    client.publish(microphone()).await.unwrap();
    client
}

/// Starts a 360p recording of `default:{id}` and waits until it is active.
async fn record(call: &Call, id: &str) {
    let path = format!("/calls/default/{id}");
    let (status, body) = call
        .api(
            Method::POST,
            &format!("{path}/recordings/start"),
            json!({"preset": "360p"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while recording_state(call, &path).await.as_deref() != Some("active") {
        assert!(
            Instant::now() < deadline,
            "the recording never became active"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the recording of `default:{id}`.
async fn stop_recording(call: &Call, id: &str) {
    let (status, body) = call
        .api(
            Method::POST,
            &format!("/calls/default/{id}/recordings/stop"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until the newest recording of `default:{id}` is in `state`.
async fn recording_in(call: &Call, id: &str, state: &str) -> serde_json::Value {
    let token = call.token(&["server"]);
    let path = format!("/calls/default/{id}");
    support::call::recording_in(
        &call.onair.url,
        &token,
        &path,
        state,
        Duration::from_secs(40),
    )
    .await
}

/// Downloads `url` into `dir/name`.
async fn download(url: &str, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let file = dir.join(name);
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_started_over_rest_plays_with_both_streams() {
    let call = Call::start();
    let alice = publisher(&call, "alice", "rec").await;
    record(&call, "rec").await;
    let active = Instant::now();
    let (status, body) = call
        .api(
            Method::POST,
            "/calls/default/rec/recordings/start",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("recording_running"))
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    let jobs = call.metrics("onair_egress_").await;
    assert!(
        jobs.contains("onair_egress_jobs{kind=\"recording\",state=\"active\"} 1"),
        "{jobs}"
    );
    // Its pipeline's threads are measured: encoding 8 s of video takes CPU.
    let cpu = jobs
        .lines()
        .find_map(|l| l.strip_prefix("onair_egress_cpu_seconds{kind=\"recording\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(cpu.is_some_and(|c| c > 0.05), "{jobs}");
    println!("the recording's pipeline threads used {cpu:?} s of CPU in its first 8 s");
    stop_recording(&call, "rec").await;
    let recorded = active.elapsed().as_secs_f64();
    let recording = recording_in(&call, "rec", "complete").await;
    assert_eq!(recording_state(&call, "/calls/default/rec").await, None);
    let jobs = call.metrics("onair_egress_").await;
    let ended = "onair_egress_jobs_ended_total{kind=\"recording\",state=\"complete\"} 1";
    assert!(jobs.contains(ended), "{jobs}");
    assert!(!jobs.contains("state=\"active\"} 1"), "{jobs}");

    // The link downloads the file; it is an MP4 with H.264 and AAC.
    let url = recording["url"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = download(url, dir.path(), recording["filename"].as_str().unwrap()).await;
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(size as i64, recording["size"].as_i64().unwrap());
    let info = probe(&file);
    let (video, audio) = (stream(&info, "video"), stream(&info, "audio"));
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(640), Some(360))
    );
    assert_eq!(audio["codec_name"], "aac");
    let duration = number(&info["format"]["duration"]);
    assert!(
        (duration - recorded).abs() <= recorded * 0.1,
        "file lasts {duration:.2} s, recorded for {recorded:.2} s"
    );
    let offset = (number(&video["start_time"]) - number(&audio["start_time"])).abs();
    assert!(offset < 0.1, "audio and video start {offset:.3} s apart");
    // The publisher's test pattern is in the picture, not just the black background.
    let luma = luma(&file, duration / 2.0, None);
    assert!(luma > 40.0, "the middle frame is black (luma {luma})");
    println!(
        "recording: {duration:.2} s (recorded {recorded:.2} s), {size} bytes, A/V start offset {:.0} ms, luma {luma:.0}",
        offset * 1000.0
    );

    // The link is for that file only, and only with its token:
    // `{base}/files/{token}/{key}`.
    let prefix = format!("{}/files/", call.onair.url);
    let (token, key) = url.strip_prefix(&prefix).unwrap().split_once('/').unwrap();
    let status = |url: String| async move { reqwest::get(url).await.unwrap().status().as_u16() };
    assert_eq!(status(format!("{prefix}{key}")).await, 401, "no token");
    assert_eq!(status(format!("{prefix}not-a-token/{key}")).await, 401);
    let other = format!("{prefix}{token}/recordings/default_rec/other.mp4");
    assert_eq!(status(other).await, 403);
    let sneaky = format!("{prefix}{token}/..%2Fkeys.toml");
    assert!((400..500).contains(&status(sneaky).await));
    alice.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_leaves_a_playable_file_and_a_failed_job() {
    let call = Call::start();
    let alice = publisher(&call, "alice", "kill").await;
    record(&call, "kill").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, body) = call
        .api(Method::GET, "/calls/default/kill/recordings", json!(null))
        .await;
    let id = body["recordings"][0]["id"].as_str().unwrap().to_owned();

    // SIGKILL: the worker gets no chance to finish the file.
    let Call { onair, data } = call;
    drop(onair);
    alice.abort();
    let file = data
        .path()
        .join(format!("recordings/default_kill/{id}.mp4"));
    let info = probe(&file);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let duration = number(&info["format"]["duration"]);
    assert!(duration >= 2.0, "only {duration} s survived the kill");
    let luma = luma(&file, duration / 2.0, None);
    assert!(luma > 40.0, "the picture is black (luma {luma})");

    // The next server marks the job failed (its worker went silent), and the
    // partial file is still listed and downloadable.
    let call = Call {
        onair: support::dev(data.path(), &[]),
        data,
    };
    let recording = recording_in(&call, "kill", "failed").await;
    assert!(
        recording["error"]
            .as_str()
            .unwrap()
            .contains("stopped reporting"),
        "{recording}"
    );
    let dir = tempfile::tempdir().unwrap();
    let downloaded = download(recording["url"].as_str().unwrap(), dir.path(), "left.mp4").await;
    let size = std::fs::metadata(&downloaded).unwrap().len();
    assert_eq!(size, std::fs::metadata(&file).unwrap().len());
    println!(
        "killed after ~5 s: {duration:.2} s playable, {size} bytes, job failed: {}",
        recording["error"]
    );
}

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

/// A composite takes each video in the layer its tile needs, as LiveKit's
/// adaptive stream does: alone on the 640x360 canvas, alice's simulcast
/// camera comes in its 640x360 layer, so dynacast pauses her 1280x720
/// one; beside bob, in 320x180, and only that layer is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composite_takes_each_video_in_the_layer_its_tile_needs() {
    let call = Call::start();
    let alice = call.join("alice", "default:tiles").await;
    let camera_sid = alice.publish(camera(true)).await.unwrap();
    record(&call, "tiles").await;
    let layers = |s: &onair_client::Stats| s.wanted_layers.get(&camera_sid).cloned();
    let wait = Duration::from_secs(15);
    let alone = alice
        .wait_for(wait, |s| {
            layers(s).is_some_and(|l| !l.is_empty() && !l.contains(&2))
        })
        .await
        .unwrap_or_else(|s| panic!("alone: all layers still wanted: {:?}", s.wanted_layers));
    // Bob watches alice in her low layer himself.
    let bob = publisher(&call, "bob", "tiles").await;
    bob.set_quality(&camera_sid, 0);
    let beside = alice
        .wait_for(wait, |s| layers(s) == Some(vec![0]))
        .await
        .unwrap_or_else(|s| panic!("beside bob: {:?}", s.wanted_layers));
    println!(
        "composite layers of alice's camera: alone {:?}, beside bob {:?}",
        layers(&alone),
        layers(&beside)
    );
    stop_recording(&call, "tiles").await;
    recording_in(&call, "tiles", "complete").await;
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_joining_and_leaving_change_the_composite() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("onair.log");
    let call = Call::start_logged(&log);
    let alice = publisher(&call, "alice", "grid").await;
    record(&call, "grid").await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bob = publisher(&call, "bob", "grid").await;
    let bob_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(4)).await;
    bob.leave().await;
    let bob_out = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_recording(&call, "grid").await;
    let recording = recording_in(&call, "grid", "complete").await;
    let dir = tempfile::tempdir().unwrap();
    let file = download(recording["url"].as_str().unwrap(), dir.path(), "grid.mp4").await;
    // Alice alone fills the 640x360 canvas (the test pattern is bright at
    // its right edge). With bob, alice (who speaks: her microphone sends
    // speech levels) is large on top, 480x270 in the middle of the width
    // with black beside her, and bob small (160x90) in the strip below.
    let side_band = |at: f64| luma(&file, at, Some((60, 200, 570, 30)));
    let strip = |at: f64| luma(&file, at, Some((120, 60, 260, 285)));
    let together_at = (bob_in + bob_out) / 2.0 + 0.5;
    let (alone, together, alone_again) = (
        side_band(2.0),
        side_band(together_at),
        side_band(bob_out + 3.5),
    );
    let bob_small = strip(together_at);
    println!(
        "side band luma: alice alone {alone:.0}, with bob ({bob_in:.1}–{bob_out:.1} s) {together:.0} (bob's tile {bob_small:.0}), alone again {alone_again:.0}"
    );
    assert!(alone > 40.0, "alone: {alone}");
    assert!(
        together < 25.0,
        "alice not shown large as the speaker: {together}"
    );
    assert!(bob_small > 40.0, "bob not in the strip: {bob_small}");
    let text = std::fs::read_to_string(&log).unwrap();
    let composite_log: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("composite") || l.contains("participant"))
        .collect();
    assert!(
        alone_again > 40.0,
        "bob's tile stayed: {alone_again}\n{}",
        composite_log.join("\n")
    );
    // bob's camera and microphone branches left the pipeline with him.
    let released = text.matches("departed track's branch released").count();
    assert_eq!(released, 2, "branches released when bob left");
    // Every element was stopped before it was dropped, and GStreamer saw
    // nothing wrong in how they left (an unref of NULL, once).
    assert!(!text.contains("Trying to dispose element"), "{text}");
    assert!(!text.contains("CRITICAL"), "{text}");
    alice.leave().await;
}

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

/// `seconds`-long camera and microphone of the sync clip: flashes and beeps
/// together every 2 s. Cut to exactly `seconds` each, so looping does not
/// shift one against the other.
fn sync_tracks(seconds: u32) -> [LocalTrack; 2] {
    static CLIP: std::sync::OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> =
        std::sync::OnceLock::new();
    let (_, video, audio) = CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (video, audio) = onair_testkit::media::sync_clip(dir.path(), seconds);
        (dir, video, audio)
    });
    let cut = |mut frames: Vec<Frame>| {
        let mut total = Duration::ZERO;
        frames.retain(|f| {
            total += f.duration;
            total <= Duration::from_secs(seconds.into()) + Duration::from_millis(1)
        });
        frames
    };
    let track = |name: &str, source, codec, width, height, frames| LocalTrack {
        name: name.into(),
        source,
        codec,
        layers: vec![LocalLayer {
            rid: None,
            width,
            height,
            frames,
        }],
    };
    [
        track(
            "camera",
            Source::Camera,
            Codec::Vp8,
            640,
            360,
            cut(ivf(video).unwrap()),
        ),
        track(
            "mic",
            Source::Microphone,
            Codec::Opus,
            0,
            0,
            cut(ogg_opus(audio).unwrap()),
        ),
    ]
}

/// Times (seconds) an ffmpeg detector (`filter` on `-vf`/`-af`) reports
/// `key` (e.g. `black_end`) in `file`.
fn detected(file: &std::path::Path, flag: &str, filter: &str, key: &str) -> Vec<f64> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args([flag, filter, "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    // `black_end:2` or `silence_end: 2.00002`.
    log.split(&format!("{key}:"))
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_recording_keeps_audio_and_video_together_through_a_reconnect() {
    let call = Call::start();
    let publish = |client: onair_client::Client| async move {
        for track in sync_tracks(4) {
            client.publish(track).await.unwrap();
        }
        client
    };
    let alice = publish(call.join("alice", "default:sync").await).await;
    record(&call, "sync").await;
    let active = Instant::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    // alice's connection drops; she is back 2 s later with new tracks.
    alice.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice = publish(call.join("alice", "default:sync").await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        recording_state(&call, "/calls/default/sync")
            .await
            .as_deref(),
        Some("active"),
        "the recording must outlive the publisher's reconnect"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop_recording(&call, "sync").await;
    let recorded = active.elapsed().as_secs_f64();
    let recording = recording_in(&call, "sync", "complete").await;
    let file = call.data.path().join(format!(
        "recordings/default_sync/{}.mp4",
        recording["id"].as_str().unwrap()
    ));
    let info = probe(&file);
    let duration = number(&info["format"]["duration"]);
    assert!(
        (duration - recorded).abs() <= recorded * 0.1,
        "file lasts {duration:.2} s, recorded for {recorded:.2} s"
    );

    // Each flash has its beep: pair every flash with the nearest beep.
    let flashes = detected(&file, "-vf", "blackdetect=d=0.05:pix_th=0.1", "black_end");
    let beeps = detected(&file, "-af", "silencedetect=n=-30dB:d=0.05", "silence_end");
    let offsets: Vec<f64> = flashes
        .iter()
        .filter(|f| **f < duration - 0.5)
        .filter_map(|f| {
            let beep = beeps
                .iter()
                .min_by(|a, b| (*a - f).abs().total_cmp(&(*b - f).abs()))?;
            Some(beep - f).filter(|o| o.abs() < 0.5)
        })
        .collect();
    assert!(
        offsets.len() >= 12,
        "only {} flash/beep pairs in {duration:.1} s (flashes {flashes:?}, beeps {beeps:?})",
        offsets.len()
    );
    let worst = offsets.iter().fold(0.0f64, |w, o| w.max(o.abs()));
    // Each track is anchored at its first frame's arrival, so the offset is
    // set anew when the publisher comes back; on this loaded 2-core machine
    // it has landed at up to 128 ms then (about 45-65 ms before). Lip sync
    // by sender reports would remove that; until then the bound is the one
    // viewers tolerate for late audio (ITU-R BT.1359: 125 ms) plus margin.
    assert!(
        worst < 0.15,
        "audio and video {worst:.3} s apart: {offsets:?}"
    );
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    println!(
        "sync over {duration:.1} s with a reconnect: {} pairs, A/V offset first {:.0} ms, last {:.0} ms, worst {:.0} ms",
        offsets.len(),
        first * 1000.0,
        last * 1000.0,
        worst * 1000.0
    );
    alice.leave().await;
}
