//! Webhooks end to end, against the real binary: a receiver written in
//! Python (`tests/python/webhook_receiver.py`) checks every signature with
//! `hmac`, fails the first three attempts of every event whose id is
//! divisible by 5, and is down for 20 s in the middle, while this test
//! drives six calls over the REST API and SIGKILLs and restarts `onair`
//! twice (same data dir, same store; on SQLite and on Postgres). Every stored event arrives, each
//! `X-Webhook-Id` stands for one event (repeats are the same event again),
//! every call's events arrive in order, and nothing is parked at the
//! endpoint that recovered. An endpoint answering 400 gets each event once
//! and parks it; redelivering brings them once it accepts.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onair_auth::ApiKey;
use reqwest::Method;
use serde_json::{json, Value};
use support::call::request;
use support::Killed;

const KEY: &str = "APIhooks";
const SECRET: &str = "hooks-test-secret-hooks-test-secret-0123";
const CALLS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const DOWN_FOR: Duration = Duration::from_secs(20);

/// The Python receiver on `port`, recording into `log`.
fn receiver(port: u16, log: &Path) -> Killed {
    let mut child = Command::new("python3")
        .arg(support::repo().join("tests/python/webhook_receiver.py"))
        .arg(port.to_string())
        .arg(SECRET)
        .arg(log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening", "the receiver did not start");
    Killed(child)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the receiver recorded, in the order it answered.
fn received(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A config on `port` with the receiver's `/hook` endpoint, on SQLite in
/// `dir` or on `database_url`.
fn config(dir: &Path, port: u16, hook_port: u16, database_url: Option<&str>) -> PathBuf {
    let file = dir.join("onair.toml");
    let database = database_url
        .map(|url| format!("database_url = \"{url}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\n{database}\
         data_dir = \"{dir}\"\nwebhook_retry_for = \"10m\"\n\
         [[api_keys]]\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n\
         [[webhooks]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n",
        dir = dir.display(),
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// `onair serve` (again) on the same config, port and data dir.
async fn start(config: &Path, port: u16, log: PathBuf) -> support::Onair {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || support::serve_roles(&config, port, None, Some(&log)))
        .await
        .unwrap()
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, body) = request(&self.base, &self.token, method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// Step `step` of call `id`: created, members, custom data, live,
    /// custom data, backstage, a member removed, ended.
    async fn step(&self, step: usize, id: &str) {
        let c = format!("/calls/default/{id}");
        let members = json!([{"user_id": "alice", "role": "host"}, {"user_id": "bob"}]);
        let (method, path, body) = match step {
            0 => (
                Method::POST,
                c.clone(),
                json!({"data": {"members": members}}),
            ),
            1 => (
                Method::POST,
                format!("{c}/members"),
                json!({"update_members": [{"user_id": "carol"}]}),
            ),
            2 | 4 => (Method::PATCH, c.clone(), json!({"custom": {"step": step}})),
            3 => (Method::POST, format!("{c}/go_live"), json!({})),
            5 => (Method::POST, format!("{c}/stop_live"), json!({})),
            6 => (
                Method::POST,
                format!("{c}/members"),
                json!({"remove_members": ["bob"]}),
            ),
            _ => (Method::POST, format!("{c}/end"), json!({})),
        };
        self.call(method, &path, body).await;
    }

    /// Every stored event, oldest first.
    async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let page = self
                .call(
                    Method::GET,
                    &format!("/events?limit=1000&after={after}"),
                    Value::Null,
                )
                .await;
            let events = page["events"].as_array().unwrap();
            if events.is_empty() {
                return all;
            }
            all.extend(events.iter().cloned());
            after = page["next"].as_str().unwrap().to_owned();
        }
    }

    async fn failed(&self) -> Vec<Value> {
        let page = self
            .call(Method::GET, "/webhooks/failed?limit=1000", Value::Null)
            .await;
        page["failed"].as_array().unwrap().clone()
    }
}

/// Ids (as sent) the receiver answered 2xx at `path`.
fn delivered(got: &[Value], path: &str) -> HashSet<String> {
    got.iter()
        .filter(|r| r["path"] == path && r["status"] == 200)
        .map(|r| r["webhook_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits up to `within` for `done`, printing what is missing on failure.
async fn wait_for(what: &str, within: Duration, mut done: impl AsyncFnMut() -> Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        let Some(missing) = done().await else { return };
        assert!(Instant::now() < deadline, "{what}: {missing}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_through_crashes_and_outages_on_sqlite() {
    through_crashes_and_outages(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_through_crashes_and_outages_on_postgres() {
    let url = onair_testkit::postgres::database_url();
    through_crashes_and_outages(Some(&url)).await;
}

async fn through_crashes_and_outages(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (port, hook_port) = (onair_testkit::free_port(), onair_testkit::free_port());
    let hook_log = dir.path().join("received.jsonl");
    let config = config(dir.path(), port, hook_port, database_url);
    let server_log = |n: usize| dir.path().join(format!("onair-{n}.log"));
    let mut hooks = Some(receiver(hook_port, &hook_log));
    let mut onair = start(&config, port, server_log(1)).await;
    let key = ApiKey::new(KEY, SECRET);
    let api = Api {
        base: onair.url.clone(),
        token: support::tokens::server(&key),
    };
    let reject = format!("http://127.0.0.1:{hook_port}/reject");
    let set = json!({"webhooks": [{"url": reject, "events": ["call.ended"]}]});
    let listed = api.call(Method::PUT, "/webhooks", set).await;
    assert_eq!(listed["webhooks"][0]["source"], "config", "{listed}");

    let mut down_since = None;
    let mut kills = Vec::new();
    for step in 0..8 {
        for id in CALLS {
            api.step(step, id).await;
        }
        match step {
            1 => {
                // The receiver goes down with deliveries under way.
                drop(hooks.take());
                down_since = Some(Instant::now());
            }
            3 | 6 => {
                // SIGKILL with deliveries pending (3: the receiver is
                // down; 6: they are flowing again), then the same again.
                let last = api
                    .events()
                    .await
                    .last()
                    .map(|e| e["id"].as_str().unwrap().parse::<i64>().unwrap());
                drop(onair);
                kills.push((unix_now(), last.unwrap_or(0)));
                onair = start(&config, port, server_log(step)).await;
            }
            5 => {
                let since = down_since.unwrap().elapsed();
                tokio::time::sleep(DOWN_FOR.saturating_sub(since)).await;
                hooks = Some(receiver(hook_port, &hook_log));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => {}
        }
    }

    let stored = api.events().await;
    let ids: Vec<String> = stored
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(stored.len() >= CALLS.len() * 8, "{} events", stored.len());
    let started = Instant::now();
    wait_for(
        "every event delivered to /hook",
        Duration::from_secs(240),
        async || {
            let got = delivered(&received(&hook_log), "/hook");
            let missing: Vec<&String> = ids.iter().filter(|id| !got.contains(*id)).collect();
            (!missing.is_empty()).then(|| format!("missing {missing:?}"))
        },
    )
    .await;
    println!(
        "{} events; all delivered {:?} after the last change",
        stored.len(),
        started.elapsed()
    );

    let got = received(&hook_log);
    check_deliveries(&got, &stored);
    for (n, (at, last)) in kills.iter().enumerate() {
        let resumed = got
            .iter()
            .filter(|r| r["path"] == "/hook" && r["status"] == 200 && r["at"].as_f64() > Some(*at))
            .filter(|r| r["webhook_id"].as_str().unwrap().parse::<i64>().unwrap() <= *last)
            .count();
        println!(
            "SIGKILL #{}: {resumed} events stored before it delivered after it",
            n + 1
        );
        assert!(
            n > 0 || resumed > 0,
            "the first kill left deliveries pending (the receiver was down)"
        );
    }
    assert!(
        api.failed()
            .await
            .iter()
            .all(|f| f["url"] == reject.as_str()),
        "nothing is parked at /hook"
    );
    rejected_then_redelivered(&api, &hook_log, &stored, &reject).await;
    drop(hooks);
}

/// Signed, one event per `X-Webhook-Id`, only stored events, in order per call.
fn check_deliveries(got: &[Value], stored: &[Value]) {
    let stored_by_id: HashMap<&str, &Value> = stored
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let mut first_ok: HashSet<&str> = HashSet::new();
    let mut last_per_call: HashMap<&str, i64> = HashMap::new();
    let mut repeats = 0;
    for r in got.iter().filter(|r| r["path"] == "/hook") {
        assert_eq!(
            r["signed"], true,
            "X-Signature verified with Python's hmac: {r}"
        );
        assert_eq!(r["api_key"], KEY);
        assert_eq!(r["content_type"], "application/json");
        let id = r["webhook_id"].as_str().unwrap();
        assert_eq!(r["event"]["id"], id, "X-Webhook-Id is the event's id");
        assert_eq!(
            &r["event"],
            *stored_by_id.get(id).expect("a stored event"),
            "the event as stored"
        );
        let n: i64 = id.parse().unwrap();
        if n % 5 == 0 && r["status"] == 200 {
            assert!(
                r["attempt"].as_u64() > Some(3),
                "retried after three 500s: {r}"
            );
        }
        if r["status"] != 200 {
            continue;
        }
        if !first_ok.insert(id) {
            repeats += 1;
            continue;
        }
        let cid = r["event"]["call_cid"].as_str().unwrap();
        let before = last_per_call.insert(cid, n);
        assert!(
            before.is_none_or(|b| b < n),
            "{cid}: event {n} after {before:?}"
        );
    }
    let attempts = got.iter().filter(|r| r["path"] == "/hook").count();
    println!("{attempts} attempts at /hook, {repeats} repeated deliveries (around the SIGKILLs)");
}

/// `/reject` answered 400 to each `call.ended` once and they were parked;
/// once it accepts, redelivering brings each of them.
async fn rejected_then_redelivered(api: &Api, log: &Path, stored: &[Value], reject: &str) {
    let ended: HashSet<String> = stored
        .iter()
        .filter(|e| e["type"] == "call.ended")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ended.len(), CALLS.len());
    wait_for(
        "call.ended parked at /reject",
        Duration::from_secs(60),
        async || {
            let parked: HashSet<String> = api
                .failed()
                .await
                .iter()
                .map(|f| f["event_id"].as_str().unwrap().to_owned())
                .collect();
            (parked != ended).then(|| format!("parked {parked:?}"))
        },
    )
    .await;
    for f in api.failed().await {
        assert_eq!(
            (f["url"].as_str(), f["attempts"].as_u64()),
            (Some(reject), Some(1)),
            "{f}"
        );
        assert_eq!(f["last_error"], "HTTP 400", "{f}");
        assert_eq!(f["type"], "call.ended");
    }
    let got = received(log);
    let at_reject: Vec<&Value> = got.iter().filter(|r| r["path"] == "/reject").collect();
    assert!(
        at_reject
            .iter()
            .all(|r| r["status"] == 400 && r["attempt"] == 1),
        "a 400 is not retried"
    );

    std::fs::write(log.with_extension("jsonl.accept"), "").unwrap();
    let answer = api
        .call(Method::POST, "/webhooks/failed/redeliver", json!({}))
        .await;
    assert_eq!(answer["redelivered"], ended.len(), "{answer}");
    wait_for(
        "redelivered to /reject",
        Duration::from_secs(30),
        async || {
            let got = delivered(&received(log), "/reject");
            (got != ended).then(|| format!("delivered {got:?}"))
        },
    )
    .await;
    assert!(api.failed().await.is_empty());
}
