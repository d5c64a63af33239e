//! Benchmark: RTMP ingest delay and CPU. This process streams an FLV file
//! (made by ffmpeg) in real time to `onair serve` over RTMP, tag by tag with
//! `rml_rtmp`, noting when each video frame left; an `onair-client`
//! participant in the call notes when each arrived over WebRTC. The added
//! delay is arrival minus departure of the same frame (matched by its
//! presentation time). Two cases: H.264 baseline (passed through) and H.264
//! high with B-frames (transcoded); AAC → Opus in both. CPU is the server
//! process's, as a share of one core, while one stream runs (it includes
//! forwarding to the one receiver).
//!
//! `cargo bench --bench ingest_latency` (or `make bench`). Tune with
//! `BENCH_SECONDS` (default 15).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use onair_auth::token::mint;
use onair_auth::{ApiKey, UserClaims};
use onair_client::{api, Client, Codec, MediaEvent};
use onair_testkit::media;
use onair_testkit::rtmp::{flv_tags, Publisher};

const KEY: &str = "APIingest";
const SECRET: &str = "ingest-bench-secret-ingest-bench";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// CPU seconds the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at `) `.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<f64>().unwrap();
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Streams `tags` in real time to `host` (`app`, `key`); notes when each
/// video frame (by presentation time, ms) left.
fn stream(
    host: &str,
    app: &str,
    key: &str,
    tags: &[(u8, u32, Vec<u8>)],
    sent: &Mutex<HashMap<u32, Instant>>,
) {
    let mut rtmp = Publisher::connect(host, app, key).unwrap();
    let start = Instant::now();
    for (kind, ts, body) in tags.iter().filter(|t| t.0 == 8 || t.0 == 9) {
        let due = start + Duration::from_millis(u64::from(*ts));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        // A video frame (not its configuration) leaves at its presentation
        // time: the tag's time plus its composition offset.
        if *kind == 9 && body.get(1) == Some(&1) {
            let cts = body.get(2..5).map_or(0, |c| {
                (i32::from(c[0]) << 24 | i32::from(c[1]) << 16 | i32::from(c[2]) << 8) >> 8
            });
            sent.lock()
                .unwrap()
                .insert((*ts as i32 + cts) as u32, Instant::now());
        }
        rtmp.tag(*kind, *ts, body).unwrap();
    }
}

async fn case(label: &str, server: &Server, http: &str, rtmp: &str, file: &Path, seconds: u64) {
    let key = ApiKey::new(KEY, SECRET);
    let user = |sub: &str| {
        mint(
            &key,
            &UserClaims {
                iss: KEY.into(),
                sub: sub.into(),
                exp: now() + 3600,
                iat: None,
                name: None,
                image: None,
                role: None,
                call_cids: None,
            },
        )
    };
    let id = format!("bench-{}", label.split(' ').next().unwrap());
    let creds = api::join(http, &user("bob"), &format!("default:{id}"), true)
        .await
        .unwrap();
    let (bob, mut media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    let tags: Vec<_> = flv_tags(file)
        .unwrap()
        .into_iter()
        .filter(|t| t.1 <= seconds as u32 * 1000)
        .collect();
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let (host, alice) = (rtmp.to_owned(), user("alice"));
    let app = format!("live/default:{id}");
    let cpu0 = cpu_seconds(server.0.id());
    let wall = Instant::now();
    let streaming = {
        let sent = sent.clone();
        std::thread::spawn(move || stream(&host, &app, &alice, &tags, &sent))
    };
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 3);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, media.recv()).await {
        if let MediaEvent::Frame(f) = event {
            if f.codec == Codec::H264 {
                received.push((f.media_time, f.arrival));
            }
        }
    }
    let cpu = (cpu_seconds(server.0.id()) - cpu0) / wall.elapsed().as_secs_f64();
    streaming.join().unwrap();
    // The ingest sends each frame at its presentation time since the
    // stream's start, and that is the media time the receiver sees.
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let mut delay = Histogram::<u64>::new(3).unwrap();
    for (media_time, arrival) in &received {
        let pts = (media_time * 1000.0).round() as u32;
        if let Some(left) = sent.get(&pts) {
            delay
                .record(arrival.saturating_duration_since(*left).as_micros() as u64)
                .unwrap();
        }
    }
    assert!(
        !delay.is_empty(),
        "{label}: no frame matched (received {:?}…)",
        &received.iter().take(3).map(|r| r.0).collect::<Vec<_>>()
    );
    println!(
        "{label:<28} {} of {} frames matched   delay p50 {:>6.1} ms  p99 {:>6.1} ms   server CPU {:>5.1} % of a core",
        delay.len(),
        received.len(),
        delay.value_at_quantile(0.5) as f64 / 1000.0,
        delay.value_at_quantile(0.99) as f64 / 1000.0,
        cpu * 100.0
    );
    bob.leave().await;
}

/// `seconds` of 720p30 test pattern, H.264 2.5 Mbit/s with `h264`'s options + AAC.
fn source(dir: &Path, name: &str, h264: &[&str], seconds: u64) -> std::path::PathBuf {
    let mut video = vec![
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-g", "60", "-pix_fmt",
        "yuv420p",
    ];
    video.extend_from_slice(h264);
    let audio = ["-c:a", "aac", "-b:a", "128k"];
    media::flv(dir, name, (1280, 720), &video, &audio, seconds as u32)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to measure
    }
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    let (port, rtmp_port) = (onair_testkit::free_port(), onair_testkit::free_port());
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:{rtmp_port}\"\ndata_dir = \"{}\"\n\
             [[api_keys]]\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn onair serve"),
    );
    let http = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("{http}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let baseline = source(
        dir.path(),
        "baseline",
        &["-profile:v", "baseline", "-tune", "zerolatency"],
        seconds,
    );
    let bframes = source(
        dir.path(),
        "high",
        &["-profile:v", "high", "-bf", "2"],
        seconds,
    );
    println!("RTMP in → WebRTC out, 1280x720 30 fps H.264 + AAC, {seconds} s each, one receiver:");
    let rtmp = format!("127.0.0.1:{rtmp_port}");
    case(
        "passthrough (baseline)",
        &server,
        &http,
        &rtmp,
        &baseline,
        seconds,
    )
    .await;
    case(
        "transcode (high, B-frames)",
        &server,
        &http,
        &rtmp,
        &bframes,
        seconds,
    )
    .await;
}
