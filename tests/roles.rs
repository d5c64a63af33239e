//! Split roles: one node runs the API and the SFU, two others run only
//! egress (or only ingest), all sharing a real Redis bus (started here) and
//! a data dir. A recording started over the API is taken by exactly one
//! egress node, and its file plays from the API node's link; when that node
//! is killed, the other takes the recording over into a second part. An
//! RTMP stream whose ingest node is killed goes on through the other as
//! soon as OBS reconnects there.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use onair_auth::ApiKey;
use onair_client::{api, Client, Codec, MediaEvent};
use onair_testkit::media;
use onair_testkit::redis::Redis;
use reqwest::Method;
use serde_json::json;
use support::call::{camera, frame_where, microphone, recording_in, request};
use support::nodes::{config, KEY, SECRET};
use support::probe::{codecs, number, probe};

/// An API+SFU node and two egress (or ingest) nodes on one Redis,
/// logging to `logs`.
struct Cluster {
    _data: tempfile::TempDir,
    logs: tempfile::TempDir,
    api: support::Onair,
    /// The egress (or ingest) nodes; `None` once killed.
    workers: Vec<Option<support::Onair>>,
    /// Where each worker takes RTMP (`rtmp://…/live`).
    rtmp: Vec<String>,
    /// Last: the nodes go before their bus.
    _redis: Redis,
}

impl Cluster {
    /// The cluster with two nodes of `role` (`egress`, `ingest`).
    async fn start(role: &'static str) -> Cluster {
        let redis = Redis::start();
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let bus = format!("redis_url = \"{}\"", redis.url());
        let api_port = onair_testkit::free_port();
        let api_config = config(data.path(), "api", api_port, &bus);
        let signal = format!(
            "signal_url = \"ws://127.0.0.1:{api_port}\"\napi_url = \"http://127.0.0.1:{api_port}\"\n{bus}"
        );
        let rtmp: Vec<u16> = (0..2).map(|_| onair_testkit::free_port()).collect();
        let (dir, log_dir, ports) = (data.path().to_owned(), logs.path().to_owned(), rtmp.clone());
        let (api, workers) = tokio::task::spawn_blocking(move || {
            let api_log = log_dir.join("api.log");
            let api = support::serve_roles(&api_config, api_port, Some("api,sfu"), Some(&api_log));
            let workers = ports
                .iter()
                .enumerate()
                .map(|(i, rtmp)| {
                    let port = onair_testkit::free_port();
                    let name = format!("{role}{i}");
                    let extra = format!("rtmp_listen = \"127.0.0.1:{rtmp}\"\n{signal}");
                    let config = config(&dir, &name, port, &extra);
                    let log = log_dir.join(format!("{name}.log"));
                    Some(support::serve_roles(&config, port, Some(role), Some(&log)))
                })
                .collect();
            (api, workers)
        })
        .await
        .unwrap();
        Cluster {
            _redis: redis,
            _data: data,
            logs,
            api,
            workers,
            rtmp: rtmp
                .iter()
                .map(|p| format!("rtmp://127.0.0.1:{p}/live"))
                .collect(),
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// How many jobs each egress node started.
    fn starts(&self) -> Vec<usize> {
        (0..self.workers.len())
            .map(|i| {
                self.log(&format!("egress{i}"))
                    .matches("egress starts")
                    .count()
            })
            .collect()
    }

    /// Waits until the egress nodes have started `total` jobs in all.
    async fn started(&self, total: usize) -> Vec<usize> {
        for _ in 0..150 {
            let starts = self.starts();
            if starts.iter().sum::<usize>() >= total {
                return starts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("egress starts per worker: {:?}", self.starts());
    }

    /// Alice in call `cid`, publishing camera and microphone.
    async fn alice(&self, cid: &str) -> Client {
        let key = ApiKey::new(KEY, SECRET);
        let user = support::tokens::user(&key, "alice");
        let creds = api::join(&self.api.url, &user, cid, true).await.unwrap();
        let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
        alice.publish(camera(false)).await.unwrap();
        alice.publish(microphone()).await.unwrap();
        alice
    }

    /// `POST {path}/{action}` with a server token; its status.
    async fn post(&self, path: &str, action: &str, body: serde_json::Value) -> u16 {
        let server = support::tokens::server(&ApiKey::new(KEY, SECRET));
        let url = format!("{path}/{action}");
        let (status, body) = request(&self.api.url, &server, Method::POST, &url, body).await;
        assert!(status < 300, "{url}: {status} {body}");
        status
    }

    /// The call's recording once it is `state`.
    async fn recording(&self, call: &str, state: &str) -> serde_json::Value {
        let server = support::tokens::server(&ApiKey::new(KEY, SECRET));
        recording_in(&self.api.url, &server, call, state, Duration::from_secs(30)).await
    }

    /// Downloads the file of `recording` (or of one of its parts) and
    /// probes it: (codecs, duration).
    async fn play(&self, recording: &serde_json::Value) -> (Vec<String>, f64) {
        let response = reqwest::get(recording["url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let file = self
            .logs
            .path()
            .join(recording["filename"].as_str().unwrap());
        std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
        let info = probe(&file);
        (codecs(&info), number(&info["format"]["duration"]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_nodes_apart_from_the_api_take_each_job_once() {
    let cluster = Cluster::start("egress").await;
    let alice = cluster.alice("default:split").await;
    let path = "/calls/default/split/recordings";
    assert_eq!(cluster.post(path, "start", json!({})).await, 201);
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.post(path, "stop", json!(null)).await;
    let recording = cluster.recording("/calls/default/split", "complete").await;

    // The API node links the file (the nodes share the data dir) and it plays.
    let (codecs, duration) = cluster.play(&recording).await;
    assert_eq!(codecs, ["aac", "h264"]);
    assert!(duration > 4.0, "{duration}");

    // Exactly one egress node ran the job; the API node ran none.
    let ran = cluster.starts();
    assert_eq!(
        ran.iter().sum::<usize>(),
        1,
        "egress starts per worker: {ran:?}"
    );
    assert_eq!(cluster.log("api").matches("egress starts").count(), 0);
    println!("split roles: {duration:.2} s recorded by egress node {ran:?} over Redis");
    alice.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_whose_egress_node_is_killed_goes_on_on_another() {
    let mut cluster = Cluster::start("egress").await;
    let alice = cluster.alice("default:takeover").await;
    let path = "/calls/default/takeover/recordings";
    cluster.post(path, "start", json!({})).await;
    let ran = cluster.started(1).await;
    let first = ran.iter().position(|n| *n == 1).unwrap();
    // Killed once it has recorded a few seconds (its pipeline may start
    // late on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = cluster.recording("/calls/default/takeover", "active").await;
        if r["duration"].as_f64().unwrap_or(0.0) >= 3.0 {
            break;
        }
        assert!(Instant::now() < deadline, "not recording: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // SIGKILL: its lease lapses and the other node takes the job over.
    let killed = Instant::now();
    cluster.workers[first] = None;
    let ran = cluster.started(2).await;
    let took_over = killed.elapsed();
    assert_eq!(ran[first], 1, "{ran:?}");
    let other = cluster.log(&format!("egress{}", 1 - first));
    assert!(other.contains("taking over a job"), "{other}");
    assert!(took_over < Duration::from_secs(10), "{took_over:?}");

    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.post(path, "stop", json!(null)).await;
    let recording = cluster
        .recording("/calls/default/takeover", "complete")
        .await;
    // The recording lists both parts in order, the gap between them
    // stated; the second part is the job's file now.
    let id = recording["id"].as_str().unwrap().to_owned();
    let parts = recording["parts"].as_array().unwrap().clone();
    let names: Vec<&str> = parts
        .iter()
        .map(|p| p["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("{id}.mp4"), format!("{id}.part2.mp4")]);
    assert_eq!(recording["filename"], format!("{id}.part2.mp4"));
    let gap = parts[1]["gap_before"].as_f64().unwrap();
    assert!(gap > 0.0 && gap < 10.0, "gap {gap} s");
    let mut durations = Vec::new();
    for part in &parts {
        let (codecs, duration) = cluster.play(part).await;
        assert_eq!(codecs, ["aac", "h264"]);
        // The first part holds what its node wrote before it died.
        assert!(duration > 1.0, "{part}: {duration}");
        durations.push(duration);
    }
    println!(
        "egress takeover: taken over {took_over:?} after the SIGKILL; parts of {durations:.2?} s, at most {gap:.1} s apart"
    );
    alice.leave().await;
}

/// The video track `identity` publishes, from its next frame that is not
/// of track `not` (within 20 s).
async fn video_from(
    media: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    identity: &str,
    not: Option<&str>,
) -> String {
    let video = |f: &onair_client::RemoteFrame| {
        f.identity == identity && f.codec != Codec::Opus && Some(f.track_sid.as_str()) != not
    };
    let within = Duration::from_secs(20);
    frame_where(media, within, identity, video).await.track_sid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_stream_goes_on_through_another_ingest_node_when_its_node_is_killed() {
    let mut cluster = Cluster::start("ingest").await;
    cluster.post("/calls/default", "obs", json!({})).await;
    let key = ApiKey::new(KEY, SECRET);
    let bob = support::tokens::user(&key, "bob");
    let creds = api::join(&cluster.api.url, &bob, "default:obs", true)
        .await
        .unwrap();
    let (bob, mut media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let video = [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
    ];
    let file = media::flv(dir.path(), "obs", (640, 360), &video, &["-c:a", "aac"], 30);
    let stream_key = support::tokens::user(&key, "alice");
    let address = |node: usize| format!("{}/default:obs", cluster.rtmp[node]);
    let obs = support::rtmp_push(&file, &address(0), &stream_key);
    let first = video_from(&mut media, "alice:ingest", None).await;

    // SIGKILL of the ingest node; OBS's retry (ffmpeg again, as OBS
    // would through the address it was given) reaches the other node,
    // which takes the same stream key: no state of the stream lived on
    // the dead node but the stream.
    cluster.workers[0] = None;
    let killed = Instant::now();
    drop(obs);
    let _obs = support::rtmp_push(&file, &address(1), &stream_key);
    video_from(&mut media, "alice:ingest", Some(&first)).await;
    let back = killed.elapsed();
    assert!(back < Duration::from_secs(10), "{back:?}");
    println!(
        "ingest takeover: alice's stream back through the other node {back:?} after the SIGKILL"
    );
    bob.leave().await;
}

#[test]
fn split_roles_without_a_shared_bus_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let port = onair_testkit::free_port();
    let config = config(data.path(), "egress", port, "");
    let out = Command::new(support::bin())
        .args(["serve", "--role", "egress", "--config"])
        .arg(&config)
        .env_remove("ONAIR_REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set redis_url"), "{err}");
}
