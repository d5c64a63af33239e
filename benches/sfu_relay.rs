//! Benchmark: one relay hop between SFU nodes. Two SFUs run in this
//! process on one bus (their registry); a publisher on A sends VP8 720p
//! and Opus; `BENCH_SUBSCRIBERS` subscribers on A receive it directly and
//! as many on B receive it through B's relay (on its own thread, whose
//! CPU is read). Over `BENCH_SECONDS` it prints:
//!
//! - each SFU's forwarded packets/s and media-thread CPU per forwarded
//!   packet, and B's over A's: what receiving a track over a relay costs
//!   the receiving node (target ≤ 1.2);
//! - the relay's own CPU and the packets it carries per CPU-second;
//! - the delay the hop adds: a frame's arrival at a subscriber on B minus
//!   the same frame's (same payload) at a subscriber on A, p50 and p99
//!   (these two watchers run on a thread of their own, away from the load).
//!
//! The last line is `sfu_relay: cost_ratio=R hop_p99_us=N relay_pps_per_cpu_s=P`.
//! `cargo bench --bench sfu_relay`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sfu::{media_files, publish, start_sfu, token, Publish};
use common::{cpu_of, thread_cpu};
use onair_auth::ApiKey;
use onair_bus::{Bus, LocalBus};
use onair_client::{Client, MediaEvent};
use onair_sfu::registry::Identity;
use onair_sfu::Sfu;
use tokio::sync::oneshot;

mod common;

/// An SFU node in the registry, with its relay (on its thread, whose id
/// is returned).
async fn node(key: &ApiKey, bus: Arc<dyn Bus>, id: &str) -> (Sfu, String, i32) {
    let (sfu, url) = start_sfu(key, bus.clone()).await;
    let identity = Identity {
        id: id.into(),
        url: url.clone(),
        region: None,
        capacity: None,
    };
    sfu.announce(bus.clone(), identity);
    let relay = onair_relay::RelayConfig {
        key: key.clone(),
        node: id.into(),
        url: url.clone(),
    };
    onair_relay::start(relay, bus).unwrap();
    // The thread names itself once it runs.
    for _ in 0..100 {
        if let Some(tid) = thread_named(&format!("relay-{id}")) {
            return (sfu, url, tid);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no relay thread for {id}");
}

/// The id of this process's thread named `name`, if any.
fn thread_named(name: &str) -> Option<i32> {
    (std::fs::read_dir("/proc/self/task").ok()?)
        .filter_map(|task| task.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|tid| {
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"));
            comm.is_ok_and(|c| c.trim_end() == name)
        })
}

/// Payload → arrival, of the video frames one subscriber receives.
type Arrivals = Arc<std::sync::Mutex<HashMap<u64, Instant>>>;

/// A subscriber on `url` noting when each video frame arrives.
async fn watching(url: &str, key: &ApiKey, name: &str) -> (Client, Arrivals) {
    let (client, mut media) = Client::connect_receiving(url, &token(key, name, false))
        .await
        .unwrap();
    let arrivals: Arrivals = Arc::default();
    let noted = arrivals.clone();
    tokio::spawn(async move {
        while let Some(event) = media.recv().await {
            if let MediaEvent::Frame(f) = event {
                if f.codec != onair_client::Codec::Opus {
                    let hash = hash(&f.data);
                    noted.lock().unwrap().insert(hash, f.arrival);
                }
            }
        }
    });
    (client, arrivals)
}

/// The two watchers (on A and on B), on a thread of their own: each
/// frame's arrival is when its datagrams were read off the watcher's
/// socket, and a watcher sharing the load's runtime reads them only when
/// the load's clients leave it a turn, which would add their scheduling
/// to the hop. Dropping the returned sender makes them leave.
async fn watchers(urls: [String; 2], key: ApiKey) -> ([Arrivals; 2], oneshot::Sender<()>) {
    let (ready, arrivals) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (on_a, a) = watching(&urls[0], &key, "watch-a").await;
            let (on_b, b) = watching(&urls[1], &key, "watch-b").await;
            let _ = ready.send([a, b]);
            let _ = stopped.await;
            drop((on_a, on_b));
        });
    });
    (arrivals.await.unwrap(), stop)
}

fn hash(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let seconds = common::env_or("BENCH_SECONDS", 10);
    let subscribers = common::env_or("BENCH_SUBSCRIBERS", 10) as usize;
    let dir = tempfile::tempdir().unwrap();
    media_files(dir.path());
    let key = ApiKey::new("APIbench", "bench-secret-bench-secret-bench-0123");
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
    let (a, a_url, _) = node(&key, bus.clone(), "sfu-a").await;
    let (b, b_url, relay_tid) = node(&key, bus.clone(), "sfu-b").await;

    // The publisher and half the subscribers on A; a subscriber on B makes
    // the call span both nodes.
    let publisher = Client::connect(&a_url, &token(&key, "publisher", false))
        .await
        .unwrap();
    publish(&publisher, dir.path(), Publish::Both).await;
    let ([on_a, on_b], _watching) = watchers([a_url.clone(), b_url.clone()], key.clone()).await;
    let mut subs = Vec::new();
    for (i, url) in [&a_url, &b_url].iter().enumerate() {
        for n in 0..subscribers.saturating_sub(1) {
            subs.push(
                Client::connect_counting(url, &token(&key, &format!("sub-{i}-{n}"), true))
                    .await
                    .unwrap(),
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while on_b.lock().unwrap().len() < 30 {
        assert!(Instant::now() < deadline, "no video across the relay");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (sa, sb) = (
        a.forward_stats().await.unwrap(),
        b.forward_stats().await.unwrap(),
    );
    let threads = |s: &onair_sfu::media::ForwardStats| s.thread_ids.clone();
    let (ta, tb) = (threads(&sa), threads(&sb));
    let (ca, cb, cr) = (cpu_of(&ta), cpu_of(&tb), thread_cpu(relay_tid));
    on_a.lock().unwrap().clear();
    on_b.lock().unwrap().clear();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (sa, sb) = (
        a.forward_stats().await.unwrap(),
        b.forward_stats().await.unwrap(),
    );
    let (ca, cb, cr) = (
        cpu_of(&ta) - ca,
        cpu_of(&tb) - cb,
        thread_cpu(relay_tid) - cr,
    );
    report(subscribers, elapsed, (&sa, ca), (&sb, cb), cr, &on_a, &on_b);
    drop(subs);
}

/// Prints the figures and the last line.
fn report(
    subscribers: usize,
    elapsed: f64,
    (a, a_cpu): (&onair_sfu::media::ForwardStats, f64),
    (b, b_cpu): (&onair_sfu::media::ForwardStats, f64),
    relay_cpu: f64,
    on_a: &Arrivals,
    on_b: &Arrivals,
) {
    let per_packet =
        |s: &onair_sfu::media::ForwardStats, cpu: f64| cpu / s.forwarded.max(1) as f64 * 1e6;
    let (pa, pb) = (per_packet(a, a_cpu), per_packet(b, b_cpu));
    println!("sfu_relay: a publisher (VP8 q/h/f + Opus) on A; {subscribers} subscribers on A, {subscribers} on B through B's relay; {elapsed:.0} s");
    for (name, s, cpu, per) in [
        ("A (from the publisher)", a, a_cpu, pa),
        ("B (over the relay)", b, b_cpu, pb),
    ] {
        println!(
            "  {name:<24} forwarded {:>8.0} packets/s   {:>6.2} CPU-s per million packets   delay p99 {} µs   CPU {:.2} s",
            s.forwarded as f64 / elapsed,
            per,
            s.delay_us.value_at_quantile(0.99),
            cpu,
        );
    }
    // What crosses the relay: the packets B's relayed publisher sends B,
    // about B's forwarded packets over its subscribers.
    let carried = b.forwarded as f64 / subscribers as f64;
    let relay_pps = carried / relay_cpu.max(1e-9);
    println!("  relay: {relay_cpu:.2} CPU-s, ~{:.0} packets/s carried, {relay_pps:.0} packets per CPU-second", carried / elapsed);
    let (a, b) = (on_a.lock().unwrap(), on_b.lock().unwrap());
    let mut hop: Vec<i64> = b
        .iter()
        .filter_map(|(h, at_b)| {
            a.get(h).map(|at_a| {
                at_b.duration_since(*at_a).as_micros() as i64
                    - at_a.duration_since(*at_b).as_micros() as i64
            })
        })
        .collect();
    hop.sort_unstable();
    let q = |p: f64| {
        hop.get(((hop.len() as f64 * p) as usize).min(hop.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "  the hop adds p50 {} µs, p99 {} µs ({} frames matched)",
        q(0.5),
        q(0.99),
        hop.len()
    );
    println!(
        "sfu_relay: cost_ratio={:.2} hop_p99_us={} relay_pps_per_cpu_s={relay_pps:.0}",
        pb / pa.max(1e-9),
        q(0.99)
    );
}
