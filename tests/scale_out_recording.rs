//! Recordings of calls on several SFU nodes ([`support::cluster`]): an
//! egress node records a call at the node hosting it, whichever SFU it was
//! configured with; it follows the call to another node when that one
//! dies or drains, and to the node the call's participants are placed on
//! when it joined before any of them.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onair_auth::ApiKey;
use onair_client::Client;
use reqwest::Method;
use serde_json::Value;
use support::call::{camera, microphone, recording_in, request};
use support::cluster::{within_10s, Cluster};
use support::nodes::{KEY, SECRET};
use support::probe::{codecs, luma, number, probe};

/// The call `path`'s completed recording, fetched into the cluster's data
/// dir, with its duration; it holds streams of `codecs`.
async fn recorded(cluster: &Cluster, path: &str, expected: &[&str]) -> (PathBuf, f64) {
    let server = support::tokens::server(&ApiKey::new(KEY, SECRET));
    let recording = recording_in(
        &cluster.api.url,
        &server,
        path,
        "complete",
        Duration::from_secs(30),
    )
    .await;
    let file = cluster.data.path().join("recorded");
    let response = reqwest::get(recording["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    let info = probe(&file);
    assert_eq!(codecs(&info), expected, "{recording}");
    let duration = number(&info["format"]["duration"]);
    (file, duration)
}

/// Starts (`action` "start") or stops call `path`'s recording (`body`:
/// which) as the app's server.
async fn recording(cluster: &Cluster, path: &str, action: &str, body: &Value) -> (u16, Value) {
    let server = support::tokens::server(&ApiKey::new(KEY, SECRET));
    let url = format!("{path}/recordings/{action}");
    request(&cluster.api.url, &server, Method::POST, &url, body.clone()).await
}

/// The call's recording (composited, MP4), or one of alice's tracks'.
#[derive(Debug)]
enum Recorded {
    Call,
    /// Her camera (VP8 into WebM).
    Camera,
}

/// What [`recording`] is asked for `what`, alice's camera being `camera`.
fn which(what: &Recorded, camera: &str) -> Value {
    match what {
        Recorded::Call => Value::Null,
        Recorded::Camera => serde_json::json!({ "track_sid": camera }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_joins_the_node_hosting_the_call_and_follows_it_when_that_node_dies() {
    recording_across(Loss::Kill, Recorded::Call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_recording_takes_its_track_again_when_its_node_dies() {
    recording_across(Loss::Kill, Recorded::Camera).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_follows_its_call_off_a_draining_node() {
    recording_across(Loss::Drain, Recorded::Call).await;
}

/// A recording started before anyone joined: its recorder joins the node
/// the egress was configured with (no node hosts the call yet), alice is
/// placed on the other, and the recorder, seeing nobody, moves there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_started_before_anyone_joined_moves_to_where_the_call_is() {
    let cluster = Cluster::start(2, "").await;
    let cid = "default:early";
    let creds = cluster.join("alice", cid).await;
    let home = cluster.node(&creds.url);
    let egress = tokio::task::block_in_place(|| cluster.egress(1 - home));
    let path = format!("/calls/{}", cid.replace(':', "/"));
    let (status, body) = recording(&cluster, &path, "start", &Value::Null).await;
    assert_eq!(status, 201, "{body}");
    // The recorder is in the call on the other node before alice joins hers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    let joined = Instant::now();
    alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (status, body) = recording(&cluster, &path, "stop", &Value::Null).await;
    assert!(status < 300, "{body}");
    let stopped = joined.elapsed();
    let (file, duration) = recorded(&cluster, &path, &["aac", "h264"]).await;
    let end = luma(&file, duration - 1.0, None);
    assert!(
        end > 40.0,
        "alice is not in the picture (luma {end}, {duration:.2} s recorded)"
    );
    println!(
        "scale-out: a recording started on node {} before anyone joined; alice joined node {home}, and is in the picture at its end (luma {end:.0}; {duration:.2} s recorded, stopped {:.1} s after she joined)",
        1 - home,
        stopped.as_secs_f64(),
    );
    alice.leave().await;
    drop(egress);
}

/// How the call's node goes in [`recording_across`].
#[derive(Debug)]
enum Loss {
    /// SIGKILL.
    Kill,
    /// SIGTERM: at its `drain_timeout` the node asks everyone to reconnect.
    Drain,
}

/// A call (or alice's camera, `what`) recorded by an egress node
/// configured with the SFU node the call is not on; then the call's node
/// goes (`loss`), alice comes back where the API places her and publishes
/// her camera again (a new track sid), and the recording goes on there.
async fn recording_across(loss: Loss, what: Recorded) {
    let extra = match loss {
        Loss::Kill => "",
        Loss::Drain => "drain_timeout = \"2s\"",
    };
    let mut cluster = Cluster::start(2, extra).await;
    let cid = "default:recorded";
    let creds = cluster.join("alice", cid).await;
    let home = cluster.node(&creds.url);
    // The egress node is configured with the other node, which the call is not on.
    let egress = tokio::task::block_in_place(|| cluster.egress(1 - home));
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    let camera_sid = alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    // Node `home` announces the call within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let path = format!("/calls/{}", cid.replace(':', "/"));
    let which = which(&what, &camera_sid);
    let (status, body) = recording(&cluster, &path, "start", &which).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The call's node goes. Alice comes back where the API places her once
    // it has forgotten that node (or sees it drain); the recorder follows
    // the call there.
    let killed = Instant::now();
    match loss {
        Loss::Kill => cluster.sfus[home].1 = None,
        Loss::Drain => {
            cluster.sfus[home]
                .1
                .as_ref()
                .expect("the node runs")
                .sigterm();
            let asked = || alice.closed().is_some_and(|why| why.contains("RECONNECT"));
            within_10s(asked, || {
                format!("alice not asked to reconnect: {:?}", alice.closed())
            })
            .await;
        }
    }
    alice.abort();
    let creds = loop {
        let creds = cluster.join("alice", cid).await;
        if cluster.node(&creds.url) != home {
            break creds;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "still placed on the dead node"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    let back = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(6)).await;
    // A track recording is stopped by the sid it was started with.
    let (status, body) = recording(&cluster, &path, "stop", &which).await;
    assert!(status < 300, "{body}");

    let codecs: &[&str] = match what {
        Recorded::Call => &["aac", "h264"],
        Recorded::Camera => &["vp8"],
    };
    let (file, duration) = recorded(&cluster, &path, codecs).await;
    assert!(duration > 9.0, "{duration:.2} s recorded");
    // Alice's test pattern is in the picture before the kill (the first
    // frames may take a while on a loaded machine) and at the end, from
    // the new node, not just the black background.
    let before = [1.5, 2.5, 3.5]
        .map(|t| luma(&file, t, None))
        .into_iter()
        .fold(0.0, f64::max);
    let after = luma(&file, duration - 1.0, None);
    assert!(before > 40.0, "black before the kill (luma {before})");
    assert!(
        after > 40.0,
        "black after the move (luma {after}, {duration:.2} s recorded)"
    );
    println!(
        "scale-out: {what:?} on node {home} recorded by an egress configured with node {}; the node lost ({loss:?}), alice back after {back:?}; {duration:.2} s recorded, luma {before:.0} before and {after:.0} after",
        1 - home
    );
    alice.leave().await;
    drop(egress);
}
