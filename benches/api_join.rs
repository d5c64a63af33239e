//! Benchmark: `POST /v1/calls/default/{id}/join` against `onair serve`, on
//! SQLite and on Postgres, driven from this (separate) process.
//!
//! `cargo bench --bench api_join` (or `make bench`). Prints requests/s and
//! p50/p99 latency per backend. Tune with `BENCH_SECONDS` (default 10) and
//! `BENCH_CONCURRENCY` (default 16).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::{env_or, Server, KEY, SECRET};
use hdrhistogram::Histogram;
use onair_auth::token::mint;
use onair_auth::{ApiKey, ServerClaims, UserClaims};

const USERS: usize = 500;

async fn run(label: &str, server: &Server) {
    let url = server.url.as_str();
    let seconds = env_or("BENCH_SECONDS", 10);
    let concurrency = env_or("BENCH_CONCURRENCY", 16) as usize;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    server.ready(&client).await;

    let key = ApiKey::new(KEY, SECRET);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let server = mint(
        &key,
        &ServerClaims {
            iss: KEY.into(),
            exp: now + 3600,
            iat: None,
            server: true,
        },
    );
    let calls = 10;
    for c in 0..calls {
        let resp = client
            .post(format!("{url}/v1/calls/default/bench-{c}"))
            .bearer_auth(&server)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "create: {}", resp.status());
    }
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..USERS)
            .map(|i| {
                let claims = UserClaims {
                    iss: KEY.into(),
                    sub: format!("user-{i}"),
                    exp: now + 3600,
                    iat: None,
                    name: None,
                    image: None,
                    role: None,
                    call_cids: None,
                };
                mint(&key, &claims)
            })
            .collect(),
    );

    let drive = |duration: Duration| {
        let client = client.clone();
        let tokens = tokens.clone();
        let url = url.to_owned();
        async move {
            let deadline = Instant::now() + duration;
            let mut tasks = Vec::new();
            for worker in 0..concurrency {
                let (client, tokens, url) = (client.clone(), tokens.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let mut hist = Histogram::<u64>::new(3).unwrap();
                    let mut errors = 0u64;
                    let mut i = worker;
                    while Instant::now() < deadline {
                        let started = Instant::now();
                        let resp = client
                            .post(format!("{url}/v1/calls/default/bench-{}/join", i % calls))
                            .bearer_auth(&tokens[i % USERS])
                            .json(&serde_json::json!({}))
                            .send()
                            .await;
                        match resp {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                hist.record(started.elapsed().as_micros() as u64).unwrap();
                            }
                            _ => errors += 1,
                        }
                        i += concurrency;
                    }
                    (hist, errors)
                }));
            }
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let mut errors = 0;
            for t in tasks {
                let (h, e) = t.await.unwrap();
                hist.add(h).unwrap();
                errors += e;
            }
            (hist, errors)
        }
    };
    drive(Duration::from_secs(1)).await; // warm-up
    let started = Instant::now();
    let (hist, errors) = drive(Duration::from_secs(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "join/{label:<8} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors, {} concurrent, {:.0} s)",
        hist.len() as f64 / elapsed,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.len(),
        errors,
        concurrency,
        elapsed,
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    println!(
        "POST /v1/calls/default/{{id}}/join, {USERS} users over 10 calls, release build, loopback"
    );
    {
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("sqlite", &Server::start(dir.path(), &sqlite, "")).await;
    }
    {
        let pg = onair_testkit::postgres::database_url();
        run("postgres", &Server::start(dir.path(), &pg, "")).await;
    }
}
