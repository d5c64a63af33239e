//! Benchmark: SFU forwarding, in two parts.
//!
//! **Light load**: one publisher sends three simulcast layers (VP8, made by
//! ffmpeg) plus Opus; N `onair-client` subscribers decode the top layer.
//! Prints forwarded packets/s, CPU-seconds of the SFU's media threads
//! (receive thread + workers) per million forwarded packets, the delay
//! p50/p99 and the allocations the media threads make per forwarded packet
//! (a counting allocator), then a plain UDP relay (no crypto) sending each
//! datagram to 1 and to N sockets, and the ratios.
//!
//! **Saturation** (`saturation.rs`): the SFU's media threads pinned to one
//! core, the load on the other, subscribers that only count datagrams;
//! publishers and subscribers grow until loss passes 1 % or p99 passes
//! 5 ms. For an audio-only room and a video livestream (the top layer to
//! every subscriber), side by side with a relay pinned the same way that
//! sends with `sendmmsg`, and Janus 1.1.2's VideoRoom under the same
//! ramps where it runs (`janus/`: a network namespace, root).
//!
//! The last line is `sfu_forward: pps_per_core=N relay_ratio=R`: the
//! video livestream's highest forwarded packets/s on one core, and its
//! packets per CPU-second over the pinned relay's, for tools.
//!
//! `cargo bench --bench sfu_forward` (or `make bench`). Tune the light part
//! with `BENCH_SUBSCRIBERS` (default 10) and `BENCH_SECONDS` (default 10);
//! `BENCH_PARTS=light,audio,video,janus` (the default: all) picks parts,
//! for A/B runs of one of them.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sfu::{media_files, publish, start_sfu, token, Publish};
use common::{cpu_of, cpu_seconds, process_cpu, thread_cpu};
use onair_auth::ApiKey;
use onair_bus::LocalBus;
use onair_client::Client;
use onair_sfu::Sfu;

#[path = "../common/mod.rs"]
mod common;
mod counting;
mod janus;
mod relay;
mod saturation;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// The core the SFU's media threads (and the relay) get when saturated.
const SFU_CORE: usize = 0;
/// The core everything else gets then.
const LOAD_CORE: usize = 1;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether part `name` runs (`BENCH_PARTS`).
fn part(name: &str) -> bool {
    std::env::var("BENCH_PARTS").map_or(true, |parts| parts.split(',').any(|p| p.trim() == name))
}

/// Keeps thread `tid` (0: the calling one) on one core.
fn pin(tid: i32, core: usize) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and
    // sched_setaffinity only read and write the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Keeps every thread of this process on one core (threads started later
/// inherit it from the thread that starts them).
fn pin_process(core: usize) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            pin(tid, core);
        }
    }
}

/// The audio ramp's steps (publishers, subscribers) and window: Opus is
/// steady, 4 s tell.
const AUDIO_STEPS: (&[(usize, usize)], Duration) = (
    &[
        (4, 40),
        (8, 80),
        (9, 80),
        (10, 80),
        (12, 80),
        (14, 80),
        (16, 80),
        (18, 80),
        (20, 80),
        (24, 80),
        (28, 80),
    ],
    Duration::from_secs(4),
);

/// The video ramp's: every 10 s the video files' loop sends the same.
const VIDEO_STEPS: (&[(usize, usize)], Duration) = (
    &[
        (1, 20),
        (2, 40),
        (3, 60),
        (4, 60),
        (4, 80),
        (5, 80),
        (6, 80),
        (8, 80),
        (9, 80),
        (10, 80),
        (12, 80),
    ],
    Duration::from_secs(10),
);

/// The same ramps on Janus, if it runs here: (audio, video).
async fn janus_ramps(dir: &Path) -> (Option<saturation::Reading>, Option<saturation::Reading>) {
    if !part("janus") {
        return (None, None);
    }
    let Some(janus) = janus::Janus::start(SFU_CORE).await else {
        return (None, None);
    };
    println!(" Janus 1.1.2 VideoRoom on core {SFU_CORE} (the whole process), audio-only room:");
    let audio = saturation::ramp(janus.load(dir, Publish::Audio), AUDIO_STEPS).await;
    println!(" Janus, video livestream:");
    let video = saturation::ramp(janus.load(dir, Publish::Video), VIDEO_STEPS).await;
    (audio, video)
}

/// The light-load run: one publisher, `subscribers` decoding subscribers.
async fn light(sfu: &Sfu, url: &str, key: &ApiKey, dir: &Path, subscribers: usize) {
    let seconds = env_or("BENCH_SECONDS", 10);
    let publisher = Client::connect(url, &token(key, "publisher", false))
        .await
        .unwrap();
    publish(&publisher, dir, Publish::Both).await;
    let mut subs = Vec::new();
    for i in 0..subscribers {
        let name = format!("sub-{i}");
        subs.push(
            Client::connect(url, &token(key, &name, false))
                .await
                .unwrap(),
        );
    }
    for s in &subs {
        s.wait_for(Duration::from_secs(30), |st| {
            st.tracks
                .values()
                .any(|t| t.kind == "video" && t.frames > 10)
        })
        .await
        .expect("subscriber receives video");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = sfu.forward_stats().await.unwrap();
    for (slot, tid) in counting::MEDIA.iter().zip(&start.thread_ids) {
        slot.store(*tid, Ordering::Relaxed);
    }
    let a0 = counting::ALLOCATIONS.load(Ordering::Relaxed);
    let (c0, t0) = (cpu_of(&start.thread_ids), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let stats = sfu.forward_stats().await.unwrap();
    let (c1, elapsed) = (cpu_of(&start.thread_ids), t0.elapsed().as_secs_f64());
    let allocations = counting::ALLOCATIONS.load(Ordering::Relaxed) - a0;
    let per_core = stats.forwarded as f64 / (c1 - c0).max(1e-9);
    println!(
        "light load: 1 publisher (VP8 q/h/f + Opus) → {subscribers} subscribers, {elapsed:.0} s; CPU of the receive thread + {} worker threads",
        start.thread_ids.len() - 1
    );
    println!(
        "  forwarded {:>9.0} packets/s   {:>6.2} CPU-s per million packets   {per_core:>9.0} packets per CPU-second   delay p50 {} µs  p99 {} µs",
        stats.forwarded as f64 / elapsed,
        (c1 - c0) / stats.forwarded.max(1) as f64 * 1e6,
        stats.delay_us.value_at_quantile(0.5),
        stats.delay_us.value_at_quantile(0.99),
    );
    println!(
        "  media threads: {:.2} allocations per forwarded packet ({allocations} in {elapsed:.0} s)",
        allocations as f64 / stats.forwarded.max(1) as f64
    );
    // The references run while the publisher and subscribers still load
    // the machine, as they did while the SFU was measured.
    for fan_out in [1, subscribers] {
        let relay_per_core = relay::plain_relay(3, fan_out);
        println!(
            "  plain UDP relay (recv → send to each of {fan_out}, no crypto): {relay_per_core:>9.0} packets per CPU-second; SFU / relay {:.2}",
            per_core / relay_per_core
        );
    }
    for s in subs {
        s.leave().await;
    }
    publisher.leave().await;
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to measure
    }
    let dir = tempfile::tempdir().unwrap();
    media_files(dir.path());
    let key = ApiKey::new("APIbench", "bench-secret-bench-secret");
    let (sfu, url) = start_sfu(&key, Arc::new(LocalBus::new())).await;
    if part("light") {
        let subscribers = env_or("BENCH_SUBSCRIBERS", 10) as usize;
        light(&sfu, &url, &key, dir.path(), subscribers).await;
    }

    // Saturation: the media threads on one core, all else on the other.
    let threads = sfu.forward_stats().await.unwrap().thread_ids;
    pin_process(LOAD_CORE);
    for tid in &threads {
        pin(*tid, SFU_CORE);
    }
    let room =
        |what| saturation::Load::new((&sfu, &threads), (url.as_str(), &key, dir.path()), what);
    println!("saturation: the SFU's {} media threads on core {SFU_CORE}, the load on core {LOAD_CORE}; subscribers only count", threads.len());
    let mut audio = None;
    if part("audio") {
        println!(" audio-only room (Opus, 50 packets/s per publisher, every subscriber receives every publisher):");
        audio = saturation::ramp(room(Publish::Audio), AUDIO_STEPS).await;
    }
    let mut video = None;
    if part("video") {
        println!(" video livestream (VP8 simulcast, the top layer to every subscriber):");
        video = saturation::ramp(room(Publish::Video), VIDEO_STEPS).await;
    }
    let janus = janus_ramps(dir.path()).await;
    let relay_per_core = relay::pinned_relay(4, 100, SFU_CORE, LOAD_CORE);
    println!(" plain UDP relay on core {SFU_CORE} (recv → sendmmsg to 100 sockets, no crypto): {relay_per_core:.0} packets per CPU-second");
    let all = [
        ("OnAir audio", audio),
        ("OnAir video", video),
        ("Janus audio", janus.0),
        ("Janus video", janus.1),
    ];
    for (what, best) in all {
        match best {
            Some(r) => println!(
                " {what}: highest sustained {:.0} forwarded packets/s on one core ({:.0} % of it, {:.0} packets per CPU-second, p99 {} µs); per CPU-second {:.2} of the relay",
                r.pps, r.cpu * 100.0, r.pps / r.cpu.max(1e-9), r.p99_text(), r.pps / r.cpu.max(1e-9) / relay_per_core
            ),
            None => println!(" {what}: no step passed"),
        }
    }
    let (pps, ratio) = video.map_or((0.0, 0.0), |r| {
        (r.pps, r.pps / r.cpu.max(1e-9) / relay_per_core)
    });
    println!("sfu_forward: pps_per_core={pps:.0} relay_ratio={ratio:.2}");
}
