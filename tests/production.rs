//! Running in production: `/metrics` scraped during a call and read with a
//! Prometheus text parser (`prometheus-parse`): the SFU's figures move
//! while media flows, requests are counted by route, and only a server
//! token (or `metrics_listen`) may scrape. Draining: after SIGTERM a call
//! keeps its media, new joins are refused, and the process exits once the
//! call ends (or at a second SIGTERM).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use onair_client::Stats;
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::Method;
use serde_json::json;
use support::call::{camera, microphone, Call};

/// A scrape of `url` with `token`: its status, and the samples if it is 200.
async fn scrape(url: &str, token: Option<&str>) -> (u16, Vec<Sample>) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if status != 200 {
        return (status, Vec::new());
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed =
        Scrape::parse(lines).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"));
    (status, parsed.samples)
}

/// The sum of `metric` over its series whose labels include `labels`.
fn sum(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

fn receives_alice(s: &Stats) -> bool {
    s.tracks
        .values()
        .any(|t| t.identity == "alice" && t.kind == "video" && t.frames > 30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_during_a_call_and_need_a_server_token() {
    let port = onair_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let call = Call::start_with(&["--metrics-listen", &listen]);
    let url = format!("{}/metrics", call.onair.url);
    let server = call.token(&["server"]);
    let user = call.token(&["user", "--user", "alice"]);

    // Who may scrape.
    assert_eq!(scrape(&url, None).await.0, 401);
    assert_eq!(scrape(&url, Some(&user)).await.0, 401);
    assert_eq!(scrape(&url, Some("not.a.token")).await.0, 401);
    let (status, idle) = scrape(&url, Some(&server)).await;
    assert_eq!(status, 200);
    assert_eq!(sum(&idle, "onair_sfu_participants", &[]), 0.0);

    // A call with media.
    let (status, body) = call
        .api(Method::POST, "/calls/default/metrics", json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let alice = call.join("alice", "default:metrics").await;
    alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:metrics").await;
    bob.wait_for(Duration::from_secs(20), receives_alice)
        .await
        .unwrap_or_else(|s| panic!("bob did not receive alice: {s:?}"));
    let (_, first) = scrape(&url, Some(&server)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, second) = scrape(&url, Some(&server)).await;

    let forwarded = |s: &[Sample]| sum(s, "onair_sfu_forwarded_packets_total", &[]);
    let bytes = |s: &[Sample]| sum(s, "onair_sfu_forwarded_bytes_total", &[]);
    let busy = |s: &[Sample]| sum(s, "onair_sfu_worker_busy_microseconds_total", &[]);
    println!(
        "forwarded {} → {} packets, {} → {} bytes; workers busy {} → {} µs",
        forwarded(&first),
        forwarded(&second),
        bytes(&first),
        bytes(&second),
        busy(&first),
        busy(&second)
    );
    assert!(
        forwarded(&second) > forwarded(&first) + 50.0,
        "packets do not move"
    );
    assert!(bytes(&second) > bytes(&first), "bytes do not move");
    assert!(busy(&second) > busy(&first), "busy time does not move");
    assert_eq!(sum(&second, "onair_sfu_participants", &[]), 2.0);
    assert_eq!(sum(&second, "onair_sfu_published_tracks", &[]), 2.0);
    assert_eq!(sum(&second, "onair_sfu_subscribed_tracks", &[]), 2.0);
    assert_eq!(sum(&second, "onair_sfu_rooms", &[]), 1.0);
    assert_eq!(sum(&second, "onair_sfu_signal_connections", &[]), 2.0);
    assert!(sum(&second, "onair_process_resident_memory_bytes", &[]) > 1e6);
    assert!(sum(&second, "onair_process_cpu_seconds", &[]) > 0.0);
    assert!(sum(&second, "onair_store_pool_connections", &[]) >= 1.0);

    // Requests by route (not by call id) and status.
    let created = [
        ("route", "/v1/calls/:type/:id"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let count = "onair_http_request_duration_seconds_count";
    assert_eq!(sum(&second, count, &created), 1.0);
    let refused = [("route", "/metrics"), ("status", "401")];
    assert_eq!(sum(&second, count, &refused), 3.0);

    // The metrics listener needs no token, and sees the same registry.
    let (status, open) = scrape(&format!("http://{listen}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(forwarded(&open) >= forwarded(&second));

    bob.leave().await;
    alice.leave().await;
    let mut left = HashMap::new();
    for _ in 0..50 {
        let (_, now) = scrape(&url, Some(&server)).await;
        left.insert("participants", sum(&now, "onair_sfu_participants", &[]));
        left.insert("rooms", sum(&now, "onair_sfu_rooms", &[]));
        if left.values().all(|v| *v == 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        left.values().all(|v| *v == 0.0),
        "after both left: {left:?}"
    );
}

/// Bob's video frames from alice so far.
fn frames(bob: &onair_client::Client) -> u64 {
    let stats = bob.stats();
    let video = stats.tracks.values();
    video
        .filter(|t| t.identity == "alice" && t.kind == "video")
        .map(|t| t.frames)
        .sum()
}

/// `/readyz`'s status.
async fn ready(call: &Call) -> u16 {
    let url = format!("{}/readyz", call.onair.url);
    reqwest::get(url).await.unwrap().status().as_u16()
}

/// A call of alice (publishing) and bob (receiving her) on a new server
/// started with `args`.
async fn call_with_media(args: &[&str]) -> (Call, onair_client::Client, onair_client::Client) {
    let call = Call::start_with(args);
    let (status, body) = call
        .api(Method::POST, "/calls/default/drain", json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let alice = call.join("alice", "default:drain").await;
    alice.publish(camera(false)).await.unwrap();
    let bob = call.join("bob", "default:drain").await;
    bob.wait_for(Duration::from_secs(20), receives_alice)
        .await
        .unwrap_or_else(|s| panic!("bob did not receive alice: {s:?}"));
    (call, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_keeps_its_calls_refuses_new_joins_and_exits_when_they_end() {
    let (mut call, alice, bob) = call_with_media(&["--drain-timeout", "60s"]).await;
    assert_eq!(ready(&call).await, 200);
    call.onair.sigterm();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ready(&call).await != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never turned 503"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // New joins are refused, over REST and at the SFU's door.
    let carol = call.token(&["user", "--user", "carol"]);
    let refused = onair_client::api::join(&call.onair.url, &carol, "default:drain", true).await;
    let status = refused.err().map(|e| e.status);
    assert_eq!(status, Some(503), "a join while draining");
    // The call goes on: bob still gets alice's video.
    let before = frames(&bob);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = frames(&bob) - before;
    assert!(during > 30, "only {during} frames in 3 s while draining");
    assert!(
        call.onair.exited(Duration::from_millis(10)).is_none(),
        "exited with a call running"
    );
    // Once the call ends, the process exits by itself.
    bob.leave().await;
    alice.leave().await;
    let status = call.onair.exited(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "did not exit cleanly after the call ended: {status:?}"
    );
    println!("draining: {during} frames in 3 s after SIGTERM, a new join refused with 503, exited once the call ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_stops_a_draining_node() {
    let (mut call, _alice, _bob) = call_with_media(&["--drain-timeout", "60s"]).await;
    call.onair.sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        call.onair.exited(Duration::from_millis(10)).is_none(),
        "exited with a call running"
    );
    call.onair.sigterm();
    let status = call.onair.exited(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "a second SIGTERM did not stop it: {status:?}"
    );
}
