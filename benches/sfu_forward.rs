//! Benchmark: SFU forwarding. One publisher sends three simulcast layers
//! (VP8, made by ffmpeg) plus Opus; N `onair-client` subscribers receive
//! the top layer. Prints forwarded packets/s, CPU-seconds of the SFU's media
//! threads (receive thread + workers) per million forwarded packets, the
//! delay p50/p99 — then the same for a plain UDP relay (no crypto) on this
//! machine, and the ratio: once for a relay sending each datagram to one
//! socket, once for one sending it to N sockets as the SFU does.
//!
//! A counting allocator also tells how many allocations the media threads
//! make per forwarded packet. The last line is `sfu_forward:
//! pps_per_core=N relay_ratio=R` (packets per CPU-second of the media
//! threads, and its ratio to the relay that sends to N sockets), for tools.
//!
//! `cargo bench --bench sfu_forward` (or `make bench`). Tune with
//! `BENCH_SUBSCRIBERS` (default 10) and `BENCH_SECONDS` (default 10).

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use onair_auth::token::mint;
use onair_auth::{ApiKey, JoinClaims, KeySet, VideoGrant};
use onair_bus::LocalBus;
use onair_client::files::{ivf, ogg_opus};
use onair_client::{Client, Codec, LocalLayer, LocalTrack, Source};
use onair_sfu::{MediaConfig, Sfu, SfuConfig};
use onair_testkit::media;

/// Counts the allocations of the SFU's media threads (known by their Linux
/// thread ids once the SFU reports them); every other thread allocates
/// uncounted.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

    /// The media threads' ids; 0 ends the list.
    pub static MEDIA: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];
    /// Allocations (and reallocations) they made.
    pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        // Const, without a destructor: readable inside the allocator.
        static TID: Cell<i32> = const { Cell::new(0) };
    }

    fn count() {
        let tid = TID.with(|t| {
            if t.get() == 0 {
                // SAFETY: gettid has no preconditions.
                t.set(unsafe { libc::gettid() });
            }
            t.get()
        });
        for m in &MEDIA {
            match m.load(Relaxed) {
                0 => return,
                id if id == tid => {
                    ALLOCATIONS.fetch_add(1, Relaxed);
                    return;
                }
                _ => {}
            }
        }
    }

    /// The system allocator, counting.
    pub struct Counting;

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of one thread of this process, in seconds.
fn thread_cpu(tid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn token(key: &ApiKey, user: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let caps = [
        onair_auth::Capability::SendVideo,
        onair_auth::Capability::SendAudio,
    ];
    let claims = JoinClaims {
        iss: key.key.clone(),
        sub: user.into(),
        exp: now + 3600,
        nbf: 0,
        name: user.into(),
        metadata: String::new(),
        video: VideoGrant::for_capabilities("bench:room", &caps, true),
        onair: None,
    };
    mint(key, &claims)
}

/// The bench's one room is always live and open: there is no API here.
struct LiveRoom;

#[async_trait::async_trait]
impl onair_sfu::CallGate for LiveRoom {
    async fn admit(
        &self,
        _: onair_sfu::Entry<'_>,
    ) -> Result<onair_sfu::CallStatus, onair_sfu::Refusal> {
        self.status("bench:room").await
    }

    async fn status(&self, _: &str) -> Result<onair_sfu::CallStatus, onair_sfu::Refusal> {
        Ok(onair_sfu::CallStatus {
            backstage: false,
            max_participants: None,
            metadata: String::new(),
        })
    }
}

/// A plain relay: one thread receives and sends each datagram on to each
/// of `fan_out` sockets, no crypto. Returns (packets sent/s, CPU-seconds
/// per million packets sent) of the relay thread.
fn plain_relay(seconds: u64, fan_out: usize) -> (f64, f64) {
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let sinks: Vec<UdpSocket> = (0..fan_out)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let sink_addrs: Vec<_> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
    relay
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let tid = Arc::new(AtomicU64::new(0));
    let relay_thread = {
        let (stop, count, tid) = (stop.clone(), count.clone(), tid.clone());
        std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid.store(unsafe { libc::gettid() } as u64, Ordering::Relaxed);
            let mut buf = [0u8; 2000];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = relay.recv_from(&mut buf) {
                    for addr in &sink_addrs {
                        let _ = relay.send_to(&buf[..n], addr);
                    }
                    count.fetch_add(sink_addrs.len() as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let drain = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2000];
            while !stop.load(Ordering::Relaxed) {
                let mut idle = true;
                for sink in &sinks {
                    while sink.recv_from(&mut buf).is_ok() {
                        idle = false;
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    let send = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let packet = [0x80u8; 1100];
            // As many datagrams in as the relay's fan-out lets it send on.
            let burst = (64 / fan_out).max(1);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..burst {
                    let _ = socket.send_to(&packet, relay_addr);
                }
                std::thread::yield_now();
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let tid = tid.load(Ordering::Relaxed) as i32;
    let (c0, t0, s0) = (
        thread_cpu(tid),
        Instant::now(),
        count.load(Ordering::Relaxed),
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, t1, s1) = (
        thread_cpu(tid),
        Instant::now(),
        count.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    for t in [relay_thread, drain, send] {
        let _ = t.join();
    }
    let packets = (s1 - s0) as f64;
    (packets / (t1 - t0).as_secs_f64(), (c1 - c0) / packets * 1e6)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to measure
    }
    let subscribers = env_or("BENCH_SUBSCRIBERS", 10) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);

    let dir = tempfile::tempdir().unwrap();
    for (w, h, kbps) in [(320, 180, 150), (640, 360, 500), (1280, 720, 1500)] {
        media::vp8_ivf(dir.path(), w, h, kbps, 10);
    }
    media::opus_ogg(dir.path(), 10);

    let key = ApiKey::new("APIbench", "bench-secret-bench-secret");
    let bus = Arc::new(LocalBus::new());
    let config = SfuConfig {
        media: MediaConfig {
            udp_bind: "127.0.0.1:0".parse().unwrap(),
            candidates: Vec::new(),
            workers: 0,
        },
        participant_timeout: onair_sfu::DEFAULT_PARTICIPANT_TIMEOUT,
        join_token_ttl: std::time::Duration::from_secs(600),
        limits: onair_sfu::SignalLimits::default(),
    };
    let keys = Arc::new(KeySet::new([key.clone()]));
    let sfu = Sfu::start(config, keys, bus, Arc::new(LiveRoom)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let router = sfu.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let publisher = Client::connect(&url, &token(&key, "publisher"))
        .await
        .unwrap();
    let layers = [(320, 180, "q"), (640, 360, "h"), (1280, 720, "f")]
        .iter()
        .map(|(w, h, rid)| LocalLayer {
            rid: Some(rid.to_string()),
            width: *w,
            height: *h,
            frames: ivf(&dir.path().join(format!("{w}.ivf"))).unwrap(),
        })
        .collect();
    publisher
        .publish(LocalTrack {
            name: "camera".into(),
            source: Source::Camera,
            codec: Codec::Vp8,
            layers,
        })
        .await
        .unwrap();
    let tone = ogg_opus(&dir.path().join("tone.ogg")).unwrap();
    let mic = LocalLayer {
        rid: None,
        width: 0,
        height: 0,
        frames: tone,
    };
    publisher
        .publish(LocalTrack {
            name: "mic".into(),
            source: Source::Microphone,
            codec: Codec::Opus,
            layers: vec![mic],
        })
        .await
        .unwrap();
    let mut subs = Vec::new();
    for i in 0..subscribers {
        subs.push(
            Client::connect(&url, &token(&key, &format!("sub-{i}")))
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
    // All media threads: the receive thread and every worker.
    let cpu = |ids: &[i32]| ids.iter().map(|t| thread_cpu(*t)).sum::<f64>();
    for (slot, tid) in counting::MEDIA.iter().zip(&start.thread_ids) {
        slot.store(*tid, Ordering::Relaxed);
    }
    let a0 = counting::ALLOCATIONS.load(Ordering::Relaxed);
    let (c0, t0) = (cpu(&start.thread_ids), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let stats = sfu.forward_stats().await.unwrap();
    let (c1, t1) = (cpu(&start.thread_ids), Instant::now());
    let allocations = counting::ALLOCATIONS.load(Ordering::Relaxed) - a0;
    let elapsed = (t1 - t0).as_secs_f64();
    let rate = stats.forwarded as f64 / elapsed;
    let cpu_per_million = (c1 - c0) / stats.forwarded.max(1) as f64 * 1e6;
    let per_core = stats.forwarded as f64 / (c1 - c0).max(1e-9);
    println!(
        "SFU: 1 publisher (VP8 q/h/f + Opus) → {subscribers} subscribers, {elapsed:.0} s; CPU of the receive thread + {} worker threads",
        start.thread_ids.len() - 1
    );
    println!(
        "  forwarded {:>9.0} packets/s   {:>6.2} CPU-s per million packets   {:>9.0} packets per CPU-second   delay p50 {} µs  p99 {} µs",
        rate,
        cpu_per_million,
        per_core,
        stats.delay_us.value_at_quantile(0.5),
        stats.delay_us.value_at_quantile(0.99),
    );
    println!(
        "  media threads: {:.2} allocations per forwarded packet ({allocations} in {elapsed:.0} s)",
        allocations as f64 / stats.forwarded.max(1) as f64
    );
    // The references run while the publisher and subscribers still load
    // the machine, as they did while the SFU was measured.
    let mut ratio = 0.0;
    for (what, fan_out) in [
        ("recv → send to 1".to_owned(), 1),
        (format!("recv → send to each of {subscribers}"), subscribers),
    ] {
        let (relay_rate, relay_cpu) = plain_relay(3, fan_out);
        let relay_per_core = 1e6 / relay_cpu;
        println!(
            "plain UDP relay ({what}, no crypto): {relay_rate:>9.0} packets/s   {relay_cpu:>6.2} CPU-s per million packets   {relay_per_core:>9.0} packets per CPU-second"
        );
        println!(
            "  ratio SFU / this relay, packets per CPU-second: {:.2}",
            per_core / relay_per_core
        );
        ratio = per_core / relay_per_core;
    }
    for s in subs {
        s.leave().await;
    }
    publisher.leave().await;
    println!("sfu_forward: pps_per_core={per_core:.0} relay_ratio={ratio:.2}");
}
