//! Egress end to end: a publisher (`onair-client`) in a call, a recording
//! started and stopped over REST, and the file it produced checked with
//! ffprobe and ffmpeg: both streams, the expected duration, audio and video
//! starting together, the publisher's picture in it; its download link
//! works and is refused for other files.

#[path = "../support/mod.rs"]
mod support;

mod codecs;
mod composite;
mod files;
mod hls;
mod rtmp;
mod sync;

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
