//! Split roles: one node runs the API and the SFU, two others run only
//! egress, all sharing a real Redis bus (started here) and a data dir. A
//! recording started over the API is taken by exactly one egress node, and
//! its file plays from the API node's link.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use onair_auth::ApiKey;
use onair_client::{api, Client};
use onair_testkit::redis::Redis;
use reqwest::Method;
use serde_json::json;
use support::call::{camera, microphone, recording_in, request};
use support::probe::{codecs, number, probe};

const KEY: &str = "APIroles";
const SECRET: &str = "roles-test-secret-roles-test-secret";

/// A config for one node listening on `port`.
fn config(dir: &Path, name: &str, port: u16, extra: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\ndata_dir = \"{dir}\"\n{extra}\n\
             [[api_keys]]\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n",
            dir = dir.display(),
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_nodes_apart_from_the_api_take_each_job_once() {
    let redis = Redis::start();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let bus = format!("redis_url = \"{}\"", redis.url());
    let api_port = onair_testkit::free_port();
    let api_config = config(data.path(), "api", api_port, &bus);
    let api_log = logs.path().join("api.log");
    let worker_logs = [
        logs.path().join("egress1.log"),
        logs.path().join("egress2.log"),
    ];
    let signal = format!("signal_url = \"ws://127.0.0.1:{api_port}\"\n{bus}");
    let nodes = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        let (api_log, worker_logs) = (api_log.clone(), worker_logs.clone());
        move || {
            let api = support::serve_roles(&api_config, api_port, Some("api,sfu"), Some(&api_log));
            let workers = worker_logs.map(|log| {
                let port = onair_testkit::free_port();
                let name = log.file_stem().unwrap().to_str().unwrap().to_owned();
                let config = config(&data, &name, port, &signal);
                support::serve_roles(&config, port, Some("egress"), Some(&log))
            });
            (api, workers)
        }
    })
    .await
    .unwrap();

    let key = ApiKey::new(KEY, SECRET);
    let server = support::tokens::server(&key);
    let user = support::tokens::user(&key, "alice");
    let base = nodes.0.url.clone();
    let creds = api::join(&base, &user, "default:split", true)
        .await
        .unwrap();
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();

    let path = "/calls/default/split/recordings";
    let (status, body) = request(
        &base,
        &server,
        Method::POST,
        &format!("{path}/start"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, _) = request(
        &base,
        &server,
        Method::POST,
        &format!("{path}/stop"),
        json!(null),
    )
    .await;
    assert_eq!(status, 200);
    let recording = recording_in(
        &base,
        &server,
        "/calls/default/split",
        "complete",
        Duration::from_secs(30),
    )
    .await;

    // The API node links the file (the nodes share the data dir) and it plays.
    let response = reqwest::get(recording["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file = logs.path().join("split.mp4");
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    let info = probe(&file);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let duration = number(&info["format"]["duration"]);
    assert!(duration > 4.0, "{duration}");

    // Exactly one egress node ran the job; the API node ran none.
    let starts = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap()
            .matches("egress starts")
            .count()
    };
    let ran: Vec<usize> = worker_logs.iter().map(|l| starts(l)).collect();
    assert_eq!(
        ran.iter().sum::<usize>(),
        1,
        "egress starts per worker: {ran:?}"
    );
    assert_eq!(starts(&api_log), 0);
    println!("split roles: {duration:.2} s recorded by egress node {ran:?} over Redis");
    alice.leave().await;
    drop(nodes);
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
