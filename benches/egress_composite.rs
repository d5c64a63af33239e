//! Benchmark: the composite pipeline. Recordings at 360p and 720p with 2
//! and 4 participants (each a 640x360 VP8 camera and an Opus microphone,
//! made by ffmpeg), then an HLS broadcast and an RTMP push (to an ffmpeg
//! RTMP server) at 720p with 2, and an HLS broadcast passing one host's
//! H.264 640x360 through (`hls-pass`): frames are fed in real time for a while;
//! prints the CPU used (as a share of one core) and the peak RSS. Each case
//! runs in a child process so the RSS figures are its own.
//!
//! `cargo bench --bench egress_composite` (or `make bench`). Tune with
//! `BENCH_SECONDS` (default 10).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_client::files::{annexb, ivf, ogg_opus, Frame};
use onair_client::{Codec, RemoteFrame};
use onair_egress::pipelines::composite::{Canvas, Composite, Output, VideoMode};
use onair_pipeline::Running;
use onair_testkit::media;

/// CPU seconds (user + system) and peak RSS in MiB of this process.
fn usage() -> (f64, f64) {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(ru.ru_utime) + secs(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

/// A VP8 keyframe, or an H.264 access unit with an IDR slice.
fn is_keyframe(codec: Codec, data: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
        Codec::H264 => data
            .windows(4)
            .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5),
        Codec::Opus => false,
    }
}

struct Track {
    sid: String,
    identity: String,
    codec: Codec,
    frames: Arc<Vec<Frame>>,
    next: usize,
    due: Instant,
    media_time: f64,
}

/// Feeds `participants` cameras and microphones for `seconds` into a
/// composite at `preset` writing `output` (`mp4`, `hls`, `rtmp`); prints
/// one result line.
fn child(output: &str, preset: &str, participants: usize, seconds: u64, dir: &std::path::Path) {
    let passthrough = output == "hls-pass";
    let (video_codec, video) = match passthrough {
        true => (Codec::H264, annexb(&dir.join("640.h264"), 30).unwrap()),
        false => (Codec::Vp8, ivf(&dir.join("640.ivf")).unwrap()),
    };
    let video = Arc::new(video);
    let audio = Arc::new(ogg_opus(&dir.join("tone.ogg")).unwrap());
    let out = dir.join(format!("out-{output}-{preset}-{participants}"));
    // The RTMP server is another process: its CPU is not counted.
    let mut receiver = None;
    let target = match output {
        "hls" | "hls-pass" => {
            std::fs::create_dir_all(&out).unwrap();
            Output::Hls {
                dir: out.clone(),
                segment_seconds: 2,
                window: 6,
                keep: false,
            }
        }
        "rtmp" => {
            let port = onair_testkit::free_port();
            let url = format!("rtmp://127.0.0.1:{port}/live/bench");
            let listen = [
                "-v", "error", "-listen", "1", "-f", "flv", "-i", &url, "-f", "null", "-",
            ];
            receiver = Some(
                Command::new("ffmpeg")
                    .args(listen)
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            std::thread::sleep(Duration::from_millis(500));
            Output::Rtmp(url)
        }
        _ => Output::Mp4(out.clone()),
    };
    let canvas = Canvas::preset(preset).unwrap();
    let (cpu0, _) = usage();
    let mode = match passthrough {
        true => VideoMode::Passthrough,
        false => VideoMode::Mix,
    };
    let mut composite = Composite::start(canvas, &target, mode).unwrap();
    let start = Instant::now();
    let mut tracks: Vec<Track> = (0..participants)
        .flat_map(|i| {
            [(video_codec, video.clone()), (Codec::Opus, audio.clone())].map(|(codec, frames)| {
                Track {
                    sid: format!("TR_{i}_{codec:?}"),
                    identity: format!("p{i}"),
                    codec,
                    frames,
                    next: 0,
                    due: start,
                    media_time: 0.0,
                }
            })
        })
        .collect();
    while start.elapsed() < Duration::from_secs(seconds) {
        let now = Instant::now();
        for t in &mut tracks {
            while t.due <= now {
                let frame = &t.frames[t.next];
                let keyframe = is_keyframe(t.codec, &frame.data);
                composite
                    .push(&RemoteFrame {
                        track_sid: t.sid.clone(),
                        identity: t.identity.clone(),
                        codec: t.codec,
                        keyframe,
                        media_time: t.media_time,
                        arrival: now,
                        data: frame.data.clone().into(),
                        audio_level: None,
                    })
                    .unwrap();
                t.media_time += frame.duration.as_secs_f64();
                t.due += frame.duration;
                t.next = (t.next + 1) % t.frames.len();
            }
        }
        let next = tracks.iter().map(|t| t.due).min().unwrap_or(now);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let elapsed = start.elapsed().as_secs_f64();
    composite.finish(Duration::from_secs(10)).unwrap();
    let (cpu1, rss) = usage();
    let size: u64 = match std::fs::read_dir(&out) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(&out).map_or(0, |m| m.len()),
    };
    if let Some(mut receiver) = receiver {
        let _ = receiver.kill();
        let _ = receiver.wait();
    }
    let written = if output == "rtmp" {
        "pushed".to_owned()
    } else {
        format!("{:.0} kbit/s written", size as f64 * 8.0 / elapsed / 1000.0)
    };
    println!(
        "{output:>8} {preset:>5}, {participants} participants: CPU {:>5.1} % of a core   peak RSS {rss:>6.1} MiB   {written}",
        (cpu1 - cpu0) / elapsed * 100.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let (output, preset) = (&args[pos + 1], &args[pos + 2]);
        let participants = args[pos + 3].parse().unwrap();
        let seconds = args[pos + 4].parse().unwrap();
        let dir = std::path::Path::new(&args[pos + 5]);
        child(output, preset, participants, seconds, dir);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to measure
    }
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    media::vp8_ivf(dir.path(), 640, 360, 500, 10);
    media::h264_annexb(dir.path(), 640, 360, 500, 10);
    media::opus_ogg(dir.path(), 10);
    println!(
        "Composite pipeline, VP8 (H.264 for hls-pass) 640x360 + Opus per participant, fed in real time for {seconds} s:"
    );
    let cases = [
        ("mp4", "360p", 2),
        ("mp4", "360p", 4),
        ("mp4", "720p", 2),
        ("mp4", "720p", 4),
        ("hls", "720p", 2),
        ("rtmp", "720p", 2),
        ("hls-pass", "720p", 1),
        ("hls", "720p", 1),
    ];
    for (output, preset, participants) in cases {
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--child",
                output,
                preset,
                &participants.to_string(),
                &seconds.to_string(),
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "{output} {preset} x{participants} failed");
    }
}
