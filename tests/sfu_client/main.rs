//! The SFU with `onair-client` peers (str0m on both ends): publish and
//! subscribe, simulcast layer switches, backstage gating, kick, end, and a
//! peer spraying garbage UDP that must not disturb the others. Media files
//! are made by ffmpeg once per test process.

#[path = "../support/mod.rs"]
mod support;

mod garbage;
mod lifecycle;
mod media;
mod rtc_v1;
mod subscriptions;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_response::Message as Out;

use onair_client::{api, Client, Codec, MediaEvent, Stats};
use support::call::{camera, h264_camera, microphone, Call};
use support::signal;

fn video(s: &Stats, from: &str) -> Option<onair_client::TrackStats> {
    s.tracks
        .values()
        .find(|t| t.kind == "video" && t.identity == from)
        .cloned()
}

fn audio(s: &Stats, from: &str) -> Option<onair_client::TrackStats> {
    s.tracks
        .values()
        .find(|t| t.kind == "audio" && t.identity == from)
        .cloned()
}

const WAIT: Duration = Duration::from_secs(20);

/// Two snapshots of `client`'s stats one second apart, once `settle` has passed.
async fn one_second_apart(client: &Client, settle: Duration) -> (Stats, Stats) {
    tokio::time::sleep(settle).await;
    let before = client.stats();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (before, client.stats())
}

fn is_rejoin_request(msg: &Option<lk::signal_response::Message>) -> bool {
    matches!(msg, Some(lk::signal_response::Message::Leave(l))
        if l.action == lk::leave_request::Action::Reconnect as i32)
}

/// `now + secs` as RFC 3339 (UTC), without a date crate.
fn chrono_like_rfc3339(secs: u64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("+{secs} seconds"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
