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
    let (alice, bob) = media(&call).await;
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
    for nacks in [
        "onair_sfu_nacks_received_total",
        "onair_sfu_nacks_sent_total",
    ] {
        assert!(second.iter().any(|s| s.metric == nacks), "no {nacks}");
    }
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

/// `default:prod` on `call`'s server: alice publishes camera and
/// microphone, bob receives her.
async fn media(call: &Call) -> (onair_client::Client, onair_client::Client) {
    let (status, body) = call
        .api(Method::POST, "/calls/default/prod", json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let alice = call.join("alice", "default:prod").await;
    alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:prod").await;
    bob.wait_for(Duration::from_secs(20), receives_alice)
        .await
        .unwrap_or_else(|s| panic!("bob did not receive alice: {s:?}"));
    (alice, bob)
}

/// A new server started with `args`, with [`media`] on it.
async fn call_with_media(args: &[&str]) -> (Call, onair_client::Client, onair_client::Client) {
    let call = Call::start_with(args);
    let (alice, bob) = media(&call).await;
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
    let refused = onair_client::api::join(&call.onair.url, &carol, "default:prod", true).await;
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
async fn onair_drain_then_a_sigterm_stops_a_draining_node() {
    let (mut call, alice, _bob) = call_with_media(&["--drain-timeout", "60s"]).await;
    // `POST /drain` wants a server token; `onair drain` brings one.
    let url = format!("{}/drain", call.onair.url);
    let user = call.token(&["user", "--user", "alice"]);
    let refused = reqwest::Client::new()
        .post(&url)
        .bearer_auth(user)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(ready(&call).await, 200, "a refused /drain drained");
    let drain = std::process::Command::new(support::bin())
        .args(["drain", "--url", &call.onair.url, "--data-dir"])
        .arg(call.data.path())
        .output()
        .unwrap();
    assert!(
        drain.status.success(),
        "{}",
        String::from_utf8_lossy(&drain.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ready(&call).await, 503);
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
    // Those still in the call were asked to reconnect (elsewhere), not
    // just cut off.
    let closed = alice.closed().unwrap_or_default();
    assert!(closed.contains("action RECONNECT"), "alice: {closed}");
}

/// A client that trusts only `ca` and reports the certificate it was
/// shown (no session resumption: each connection sees the current one).
fn trusting(ca: &support::tls::Ca) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap();
    roots.add(der).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.resumption = rustls::client::Resumption::disabled();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// `method` on `url` through `client` with `token`: the status and
/// the JSON answer.
async fn tls_api(
    client: &reqwest::Client,
    token: &str,
    method: Method,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The certificate `url` presents (DER), over a new connection.
async fn presented(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    info.peer_certificate().unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_wss_and_rtmps_with_a_certificate_reloaded_when_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::tls::Ca::new();
    let first = ca.issue(dir.path());
    let rtmps = format!("127.0.0.1:{}", onair_testkit::free_port());
    let (cert, key) = (first.cert.to_str().unwrap(), first.key.to_str().unwrap());
    let args = [
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--rtmps-listen",
        &rtmps,
    ];
    let call = Call::start_with(&args);
    let base = call.onair.url.clone();
    assert!(base.starts_with("https://"), "{base}");
    let client = trusting(&ca);
    assert_eq!(
        presented(&client, &format!("{base}/healthz")).await,
        first.der
    );

    // Links, the signal URL and the RTMP address are the secure ones.
    let server = call.token(&["server"]);
    let calls = format!("{base}/v1/calls/default/tls");
    let (status, body) = tls_api(&client, &server, Method::POST, calls.clone(), json!({})).await;
    assert_eq!(status, 201, "{body}");
    let address = body["call"]["ingress"]["rtmp"]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(address, format!("rtmps://{rtmps}/live/default:tls"));
    let alice = call.token(&["user", "--user", "alice"]);
    let join = format!("{calls}/join");
    let (status, joined) = tls_api(&client, &alice, Method::POST, join, json!({})).await;
    assert_eq!(status, 200, "{joined}");
    let signal = joined["credentials"]["url"].as_str().unwrap();
    assert!(signal.starts_with("wss://"), "{joined}");

    // Plain HTTP and garbage on the TLS port are dropped; it still serves.
    assert!(reqwest::get(base.replacen("https", "http", 1))
        .await
        .is_err());
    let mut raw = tokio::net::TcpStream::connect(base.trim_start_matches("https://"))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut raw, &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    drop(raw);
    assert_eq!(
        presented(&client, &format!("{base}/healthz")).await,
        first.der
    );

    // OBS over RTMPS: the stream reaches the call (its ingest joins).
    let media = tempfile::tempdir().unwrap();
    let flv = onair_testkit::media::flv(
        media.path(),
        "tls",
        (320, 180),
        &["-c:v", "libx264", "-g", "30"],
        &["-c:a", "aac"],
        20,
    );
    let _ffmpeg = support::Killed(
        std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-re", "-i"])
            .arg(&flv)
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!("{address}/{alice}"))
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("{base}/v1/events?call_cid=default:tls");
        let (status, events) = tls_api(&client, &server, Method::GET, url, json!(null)).await;
        assert_eq!(status, 200, "{events}");
        let started = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "call.ingress_started");
        if started {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ingest over RTMPS: {events}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A renewed certificate is served to new connections without a restart.
    let second = ca.issue(dir.path());
    assert_ne!(second.der, first.der);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while presented(&client, &format!("{base}/healthz")).await != second.der {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was not taken"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("TLS: HTTPS, wss:// credentials, RTMPS ingest, and a renewed certificate served without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_call_and_participant_of_their_span() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("onair.log");
    let onair = support::dev_logged(data.path(), &["--log-format", "json"], Some(&log));
    let call = Call { onair, data };
    let (status, body) = call
        .api(Method::POST, "/calls/default/logs", json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let alice = call.join("alice", "default:logs").await;
    alice.publish(microphone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.leave().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    let in_participant = lines.iter().filter(|l| {
        l["spans"].as_array().is_some_and(|spans| {
            spans.iter().any(|s| {
                s["name"] == "participant"
                    && s["call_cid"] == "default:logs"
                    && s["identity"] == "alice"
            })
        })
    });
    let count = in_participant.count();
    assert!(count > 0, "no line in alice's participant span:\n{text}");
    println!(
        "JSON logs: {} lines, {count} in alice's participant span (call_cid, identity, pid)",
        lines.len()
    );
}
