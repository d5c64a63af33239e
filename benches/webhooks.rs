//! Benchmark: events through the outbox to a webhook endpoint, on SQLite
//! and on Postgres. This process runs the receiver (a local HTTP server)
//! and changes calls over the REST API of `onair serve` (`PATCH` of a
//! call's custom data: one `call.updated` each) at a steady rate, spread
//! over many calls. The delay of an event is its arrival at the receiver
//! minus its `created_at` (stamped when the change was made, before it was
//! committed; millisecond precision, so figures read up to 1 ms high).
//! A second phase stores a backlog as fast as the API takes it and
//! measures how fast delivery drains it.
//!
//! `cargo bench --bench webhooks` (or `make bench`). Tune with
//! `BENCH_SECONDS` (default 10), `BENCH_RATE` (events/s, default 1000),
//! `BENCH_CALLS` (default 200) and `BENCH_BACKLOG` (default 10000).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::{cpu_seconds, env_or, Server, KEY, SECRET};
use hdrhistogram::Histogram;
use onair_auth::token::mint;
use onair_auth::{ApiKey, ServerClaims};

/// The config section that sends every event to `url`.
fn hooks(url: &str) -> String {
    format!("[[webhooks]]\nurl = \"{url}\"\n")
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// What the receiver saw since the last reset.
struct Seen {
    ids: HashSet<String>,
    /// Delay of each first arrival, in microseconds.
    delay: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            ids: HashSet::new(),
            delay: Histogram::new(3).unwrap(),
            first: None,
            last: None,
        }
    }

    fn note(&mut self, body: &[u8]) {
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        let created = event["created_at"].as_str().unwrap_or_default();
        let Ok(at) = humantime::parse_rfc3339_weak(created) else {
            return;
        };
        if !self.ids.insert(id) {
            return;
        }
        let at_ms = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
        let delay_us = ((unix_ms() - at_ms) * 1000.0).max(0.0) as u64;
        self.delay.record(delay_us).unwrap();
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
    }
}

/// The receiver on a free port: its URL.
async fn receiver(seen: Arc<Mutex<Seen>>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().note(&body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Driver {
    client: reqwest::Client,
    url: String,
    token: String,
    calls: u64,
    /// The server's process id.
    pid: u32,
}

impl Driver {
    /// One change: a `call.updated` event.
    async fn change(&self, n: u64) -> bool {
        let resp = self
            .client
            .patch(format!(
                "{}/v1/calls/default/bench-{}",
                self.url,
                n % self.calls
            ))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"custom": {"n": n}}))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
            _ => false,
        }
    }

    /// `rate` changes a second for `duration` (at most 256 in flight);
    /// how many were stored.
    async fn paced(self: &Arc<Self>, rate: u64, duration: Duration) -> u64 {
        let limit = Arc::new(tokio::sync::Semaphore::new(256));
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < duration {
            let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
            let permit = limit.clone().acquire_owned().await.unwrap();
            let (me, done) = (self.clone(), done.clone());
            tokio::spawn(async move {
                if me.change(n).await {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                drop(permit);
            });
            n += 1;
        }
        let _ = limit.acquire_many(256).await;
        done.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `count` changes as fast as 64 at a time go.
    async fn burst(self: &Arc<Self>, count: u64) -> u64 {
        let mut tasks = Vec::new();
        for worker in 0..64 {
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for n in (worker..count).step_by(64) {
                    ok += me.change(n).await as u64;
                }
                ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap();
        }
        ok
    }
}

/// Waits until the receiver has `count` events (or 120 s pass).
async fn delivered(seen: &Mutex<Seen>, count: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while (seen.lock().unwrap().ids.len() as u64) < count {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn reset(seen: &Mutex<Seen>) {
    *seen.lock().unwrap() = Seen::new();
}

async fn run(label: &str, server: &Server, seen: &Mutex<Seen>) {
    let (url, pid) = (server.url.as_str(), server.pid());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    server.ready(&client).await;
    let key = ApiKey::new(KEY, SECRET);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = ServerClaims {
        iss: KEY.into(),
        exp,
        iat: None,
        server: true,
    };
    let driver = Arc::new(Driver {
        client,
        url: url.to_owned(),
        token: mint(&key, &claims),
        calls: env_or("BENCH_CALLS", 200),
        pid,
    });
    for c in 0..driver.calls {
        let resp = driver
            .client
            .post(format!("{url}/v1/calls/default/bench-{c}"))
            .bearer_auth(&driver.token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "create: {}", resp.status());
    }
    // The creations' events, and a warm-up second.
    let warm = driver.paced(200, Duration::from_secs(1)).await;
    delivered(seen, driver.calls + warm).await;
    paced(label, &driver, seen).await;
    backlog(label, &driver, seen).await;
}

async fn paced(label: &str, driver: &Arc<Driver>, seen: &Mutex<Seen>) {
    let (rate, seconds) = (env_or("BENCH_RATE", 1000), env_or("BENCH_SECONDS", 10));
    reset(seen);
    let cpu = cpu_seconds(driver.pid);
    let started = Instant::now();
    let stored = driver.paced(rate, Duration::from_secs(seconds)).await;
    let offered = stored as f64 / started.elapsed().as_secs_f64();
    let complete = delivered(seen, stored).await;
    let cpu = cpu_seconds(driver.pid) - cpu;
    let s = seen.lock().unwrap();
    let span = match (s.first, s.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-3),
        _ => f64::NAN,
    };
    println!(
        "webhooks/{label:<8} steady {:>6.0} ev/s stored, {:>6.0} ev/s delivered   delay p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   server CPU {:.2} ms/event ({} events{})",
        offered,
        s.ids.len() as f64 / span,
        s.delay.value_at_quantile(0.5) as f64 / 1000.0,
        s.delay.value_at_quantile(0.99) as f64 / 1000.0,
        s.delay.max() as f64 / 1000.0,
        cpu * 1000.0 / stored.max(1) as f64,
        s.ids.len(),
        if complete { "" } else { ", INCOMPLETE" },
    );
}

async fn backlog(label: &str, driver: &Arc<Driver>, seen: &Mutex<Seen>) {
    let count = env_or("BENCH_BACKLOG", 10_000);
    reset(seen);
    let cpu = cpu_seconds(driver.pid);
    let started = Instant::now();
    let stored = driver.burst(count).await;
    let stored_in = started.elapsed().as_secs_f64();
    let complete = delivered(seen, stored).await;
    let all_in = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(driver.pid) - cpu;
    let s = seen.lock().unwrap();
    println!(
        "webhooks/{label:<8} backlog {stored} events stored in {stored_in:.1} s ({:.0} ev/s), all delivered after {all_in:.1} s: {:.0} ev/s through outbox → webhook   server CPU {:.2} ms/event{}",
        stored as f64 / stored_in,
        s.ids.len() as f64 / all_in,
        cpu * 1000.0 / stored.max(1) as f64,
        if complete { "" } else { " (INCOMPLETE)" },
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::new()));
    let hook = receiver(seen.clone()).await;
    println!("PATCH /v1/calls/default/{{id}} → call.updated → POST to a local receiver, one endpoint, loopback");
    {
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        let server = Server::start(dir.path(), &sqlite, &hooks(&hook));
        run("sqlite", &server, &seen).await;
    }
    reset(&seen);
    {
        let pg = onair_testkit::postgres::database_url();
        let server = Server::start(dir.path(), &pg, &hooks(&hook));
        run("postgres", &server, &seen).await;
    }
}
