//! A recording started and stopped over REST plays with both streams; a killed worker leaves a playable file.

use super::*;

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
