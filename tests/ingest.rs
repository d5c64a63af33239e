//! RTMP ingest end to end: ffmpeg stands in for OBS and streams to the
//! address the call shows, with a user token as the stream key; an
//! `onair-client` participant in the call receives what it sent.

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use onair_client::files::nal_units;
use onair_client::{Client, Codec, MediaEvent};
use onair_testkit::media;
use onair_testkit::rtmp::Publisher;
use reqwest::Method;
use serde_json::json;
use support::call::Call;
use support::rtmp_push as push;
use tokio::sync::mpsc::UnboundedReceiver;

/// Creates `default:{id}` and returns its RTMP ingest address.
async fn ingest_address(call: &Call, id: &str) -> String {
    let path = format!("/calls/default/{id}");
    let (status, body) = call.api(Method::POST, &path, json!({})).await;
    assert!(status == 200 || status == 201, "{body}");
    let address = body["call"]["ingress"]["rtmp"]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no ingress address: {body}"))
        .to_owned();
    assert!(address.starts_with("rtmp://127.0.0.1:"), "{address}");
    assert!(
        address.ends_with(&format!("/live/default:{id}")),
        "{address}"
    );
    address
}

/// An FLV file of `seconds` of 640x360 test pattern and tone, H.264 with
/// the given x264 options (`-profile:v baseline`, or `-profile:v high -bf 2`)
/// + AAC.
fn source(dir: &Path, name: &str, h264: &[&str], seconds: u32) -> PathBuf {
    let mut video = vec![
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
    ];
    video.extend_from_slice(h264);
    let audio = ["-c:a", "aac", "-b:a", "96k"];
    media::flv(dir, name, (640, 360), &video, &audio, seconds)
}

/// The slices (NAL types 1 and 5) of `file`'s H.264, as ffmpeg reads them.
fn source_slices(file: &Path) -> HashSet<Vec<u8>> {
    let annexb = file.with_extension("h264");
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(file)
        .args([
            "-an",
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
        ])
        .arg(&annexb)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&annexb).unwrap();
    nal_units(&bytes)
        .into_iter()
        .filter(|n| matches!(n.first().map(|b| b & 0x1f), Some(1 | 5)))
        .map(<[u8]>::to_vec)
        .collect()
}

/// What a receiver saw of the ingest participant in `seconds`.
#[derive(Debug, Default)]
struct Seen {
    identity: String,
    video_sid: String,
    video: Vec<Vec<u8>>,
    keyframes: usize,
    audio: usize,
}

async fn watch(media: &mut UnboundedReceiver<MediaEvent>, seconds: u64) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, media.recv()).await {
        if let MediaEvent::Frame(f) = event {
            seen.identity = f.identity.clone();
            match f.codec {
                Codec::Opus => seen.audio += 1,
                Codec::H264 => {
                    seen.video_sid = f.track_sid.clone();
                    seen.keyframes += usize::from(f.keyframe);
                    seen.video.push(f.data.to_vec());
                }
                Codec::Vp8 => panic!("VP8 from an RTMP ingest"),
            }
        }
    }
    seen
}

/// The SPSs among `frames`, in order.
fn sps(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames
        .iter()
        .flat_map(|au| nal_units(au))
        .filter(|n| n.first().is_some_and(|b| b & 0x1f == 7))
        .collect()
}

/// What 8 s of alice's ingest must bring: her participant, video and audio
/// at (nearly) their full rates.
fn assert_alice_streams(seen: &Seen) {
    assert_eq!(seen.identity, "alice:ingest");
    let frames = seen.video.len();
    assert!(frames > 150, "{frames} video frames in 8 s");
    assert!(seen.audio > 250, "{} audio packets in 8 s", seen.audio);
}

/// `profile_idc` of the first SPS among `frames`.
fn profile(frames: &[Vec<u8>]) -> Option<u8> {
    sps(frames).first().and_then(|sps| sps.get(1).copied())
}

/// Reads an SPS bit by bit.
struct Bits {
    data: Vec<u8>,
    at: usize,
}

impl Bits {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |v, _| Some(v << 1 | self.bit()?))
    }

    /// Exp-Golomb, unsigned.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
        }
        Some((1 << zeros) - 1 + self.bits(zeros)?)
    }
}

/// Picture width (whole macroblocks) of a baseline-profile SPS.
fn sps_width(nal: &[u8]) -> Option<u32> {
    // Without the emulation prevention bytes (00 00 03).
    let mut data = Vec::new();
    let mut zeros = 0;
    for &b in nal.get(1..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        data.push(b);
    }
    let mut r = Bits { data, at: 0 };
    if r.bits(8)? != 66 {
        return None; // only baseline: no chroma fields to skip
    }
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => drop(r.ue()?),
        1 => return None,
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    Some((r.ue()? + 1) * 16)
}

async fn receiver(call: &Call, cid: &str) -> (Client, UnboundedReceiver<MediaEvent>) {
    let creds = call.credentials("bob", cid).await;
    Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_without_b_frames_is_passed_through() {
    let call = Call::start();
    let address = ingest_address(&call, "obs").await;
    let dir = tempfile::tempdir().unwrap();
    let file = source(dir.path(), "baseline", &["-profile:v", "baseline"], 12);
    let (bob, mut media) = receiver(&call, "default:obs").await;
    let key = call.token(&["user", "--user", "alice"]);
    let ffmpeg = push(&file, &address, &key);
    let started = Instant::now();
    let seen = watch(&mut media, 8).await;
    assert_alice_streams(&seen);
    assert!(seen.keyframes >= 4, "{} keyframes", seen.keyframes);
    // Passed through: the slices are the very ones ffmpeg encoded.
    let slices = source_slices(&file);
    let received: Vec<&[u8]> = seen
        .video
        .iter()
        .flat_map(|au| nal_units(au))
        .filter(|n| matches!(n.first().map(|b| b & 0x1f), Some(1 | 5)))
        .collect();
    let same = received.iter().filter(|n| slices.contains(**n)).count();
    assert!(
        same * 10 >= received.len() * 9,
        "only {same} of {} slices are the source's",
        received.len()
    );
    assert_eq!(profile(&seen.video), Some(66));
    println!(
        "passthrough: {} video frames ({} keyframes, {same} slices identical to the source), {} Opus packets in {:.1} s",
        seen.video.len(),
        seen.keyframes,
        seen.audio,
        started.elapsed().as_secs_f64()
    );
    // Alice may no longer publish: her ingest's tracks leave the call
    // while ffmpeg still streams.
    let path = "/calls/default/obs/participants/alice";
    let permission = json!({"permission": {"can_publish": false}});
    let (status, body) = call.api(Method::PATCH, path, permission).await;
    assert_eq!(status, 200, "{body}");
    watch(&mut media, 1).await; // what was in flight
    let after = watch(&mut media, 2).await;
    assert!(
        after.video.is_empty() && after.audio == 0,
        "alice's ingest still reaches bob after her publishing was revoked: {after:?}"
    );
    drop(ffmpeg);
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_with_b_frames_is_transcoded() {
    let call = Call::start();
    let address = ingest_address(&call, "bframes").await;
    let dir = tempfile::tempdir().unwrap();
    let file = source(dir.path(), "high", &["-profile:v", "high", "-bf", "2"], 12);
    let (bob, mut media) = receiver(&call, "default:bframes").await;
    let key = call.token(&["user", "--user", "alice"]);
    let ffmpeg = push(&file, &address, &key);
    let seen = watch(&mut media, 8).await;
    assert_alice_streams(&seen);
    // Re-encoded without B-frames: constrained baseline, not the source's high.
    assert_eq!(profile(&seen.video), Some(66));
    // In two simulcast layers: bob gets the full 640 px one, then asks for
    // the lowest quality and gets 320 px.
    let full = sps(&seen.video).last().and_then(|s| sps_width(s));
    assert_eq!(full, Some(640));
    bob.set_quality(&seen.video_sid, 0);
    let low = watch(&mut media, 4).await;
    let widths: Vec<u32> = sps(&low.video)
        .iter()
        .filter_map(|s| sps_width(s))
        .collect();
    assert_eq!(
        widths.last(),
        Some(&320),
        "SPS widths after asking for low quality: {widths:?}"
    );
    let slices = source_slices(&file);
    let same = seen
        .video
        .iter()
        .flat_map(|au| nal_units(au))
        .filter(|n| slices.contains(*n))
        .count();
    assert_eq!(same, 0, "source slices passed through");
    // The transcoder's threads are measured: re-encoding takes CPU.
    let metrics = call.metrics("onair_ingest_cpu_seconds").await;
    let cpu = metrics
        .split(' ')
        .next_back()
        .and_then(|v| v.parse::<f64>().ok());
    assert!(cpu.is_some_and(|c| c > 0.05), "{metrics}");
    println!("the transcoder's threads used {cpu:?} s of CPU");
    println!(
        "transcoded: {} video frames ({} keyframes), {} Opus packets; simulcast 640 px, then 320 px on asking for low quality",
        seen.video.len(),
        seen.keyframes,
        seen.audio
    );
    drop(ffmpeg);
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_codecs_are_transcoded() {
    let call = Call::start();
    let address = ingest_address(&call, "sorenson").await;
    let dir = tempfile::tempdir().unwrap();
    // Sorenson H.263 and MP3: what old encoders send over RTMP.
    let file = media::flv(
        dir.path(),
        "flv1",
        (640, 360),
        &["-c:v", "flv1", "-b:v", "800k", "-g", "30"],
        &["-c:a", "libmp3lame", "-ar", "44100", "-b:a", "96k"],
        12,
    );
    let (bob, mut media) = receiver(&call, "default:sorenson").await;
    let key = call.token(&["user", "--user", "alice"]);
    let ffmpeg = push(&file, &address, &key);
    let seen = watch(&mut media, 8).await;
    assert_alice_streams(&seen);
    assert_eq!(profile(&seen.video), Some(66));
    println!(
        "Sorenson + MP3 in: {} H.264 frames ({} keyframes), {} Opus packets",
        seen.video.len(),
        seen.keyframes,
        seen.audio
    );
    drop(ffmpeg);
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_garbage_are_refused_and_good_streams_go_on() {
    let call = Call::start();
    let address = ingest_address(&call, "refuse").await;
    let dir = tempfile::tempdir().unwrap();
    let file = source(dir.path(), "baseline", &["-profile:v", "baseline"], 20);
    let rtmp = address
        .strip_prefix("rtmp://")
        .and_then(|a| a.split('/').next())
        .unwrap()
        .to_owned();
    // A client that trickles a byte every 2 s never publishes: it is
    // dropped 10 s after it connected, however it keeps the line busy.
    let trickle = {
        let rtmp = rtmp.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut s = std::net::TcpStream::connect(&rtmp).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.write_all(&[3]).unwrap();
            for _ in 0..15 {
                let mut byte = [0u8; 1536];
                match std::io::Read::read(&mut s, &mut byte) {
                    Ok(0) => return started.elapsed(),
                    Ok(_) => {}
                    Err(_) => {
                        if s.write_all(&[0]).is_err() {
                            return started.elapsed();
                        }
                    }
                }
            }
            started.elapsed()
        })
    };
    // A client that connects and says nothing is dropped after 10 s.
    let idle_at = Instant::now();
    let idle = {
        let rtmp = rtmp.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(&rtmp).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut sink);
            idle_at.elapsed()
        })
    };

    // A wrong key: ffmpeg is told and gives up.
    let mut wrong = push(&file, &address, "not-a-token");
    let status = tokio::task::spawn_blocking(move || wrong.0.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "ffmpeg streamed with a wrong key");

    // A good stream…
    let (bob, mut media) = receiver(&call, "default:refuse").await;
    let key = call.token(&["user", "--user", "alice"]);
    let ffmpeg = push(&file, &address, &key);
    let before = watch(&mut media, 4).await;
    assert!(before.video.len() > 60, "{before:?}");

    // …goes on while a client sends garbage, one breaks off its handshake,
    // one publishes a malformed H.264 tag, and one announces a 16 MiB
    // message and sends a little of it.
    let (mallory, eve) = (
        call.token(&["user", "--user", "mallory"]),
        call.token(&["user", "--user", "eve"]),
    );
    let broken = {
        let (rtmp, app) = (rtmp.clone(), "live/default:refuse");
        tokio::task::spawn_blocking(move || {
            let mut malformed = Publisher::connect(&rtmp, app, &mallory).unwrap();
            malformed.tag(9, 0, &[0x17, 0, 0, 0, 0, 1, 0x42]).unwrap();
            let mut oversized = Publisher::connect(&rtmp, app, &eve).unwrap();
            let mut chunk = vec![0x04, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
            chunk.extend_from_slice(&[0x17; 100]);
            oversized.raw(&chunk).unwrap();
            // The 16 MiB announcement is refused at its header, not buffered.
            (
                malformed.closed_within(Duration::from_secs(5)),
                oversized.closed_within(Duration::from_secs(2)),
            )
        })
    };
    let closed = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let truncated = [3u8; 700]; // C0 + part of C1
        for bytes in [&garbage[..], &truncated[..]] {
            let mut s = std::net::TcpStream::connect(&rtmp).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(bytes).unwrap();
            if bytes.len() == truncated.len() {
                s.shutdown(std::net::Shutdown::Write).unwrap();
            }
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut sink);
            results.push(true);
        }
        results
    });
    let during = watch(&mut media, 4).await;
    assert_eq!(closed.await.unwrap(), [true, true]);
    assert!(
        during.video.len() > 60,
        "the good stream stalled: {during:?}"
    );
    assert_eq!(
        broken.await.unwrap(),
        (true, true),
        "malformed and oversized publishers stayed"
    );
    let trickled_for = trickle.await.unwrap();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(14)).contains(&trickled_for),
        "the trickling connection was closed after {trickled_for:?}"
    );
    let idle_for = idle.await.unwrap();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(20)).contains(&idle_for),
        "the idle connection was closed after {idle_for:?}"
    );
    println!(
        "wrong key refused; good stream kept going ({} then {} frames) through garbage, a truncated handshake, a malformed H.264 tag and an oversized message; idle connection closed after {idle_for:?}, trickling one after {trickled_for:?}",
        before.video.len(),
        during.video.len()
    );
    drop(ffmpeg);
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_connections_are_capped_per_address() {
    let call = Call::start();
    let address = ingest_address(&call, "caps").await;
    let rtmp = address
        .strip_prefix("rtmp://")
        .and_then(|a| a.split('/').next())
        .unwrap()
        .to_owned();
    let refused = tokio::task::spawn_blocking(move || {
        // Eight silent connections are held; the ninth is closed at once.
        let held: Vec<std::net::TcpStream> = (0..8)
            .map(|_| std::net::TcpStream::connect(&rtmp).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut ninth = std::net::TcpStream::connect(&rtmp).unwrap();
        ninth
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let started = Instant::now();
        let closed = matches!(
            std::io::Read::read(&mut ninth, &mut [0u8; 16]),
            Ok(0) | Err(_)
        ) && started.elapsed() < Duration::from_secs(2);
        drop(held);
        closed
    })
    .await
    .unwrap();
    assert!(refused, "a ninth connection from one address was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_reach_viewers_again_and_a_second_stream_replaces_the_first() {
    let call = Call::start();
    let address = ingest_address(&call, "again").await;
    let dir = tempfile::tempdir().unwrap();
    let file = source(dir.path(), "baseline", &["-profile:v", "baseline"], 30);
    let (bob, mut media) = receiver(&call, "default:again").await;
    let key = call.token(&["user", "--user", "alice"]);

    // OBS streams, stops, and streams again: bob, still in the call, gets
    // the new stream without doing anything.
    let first = push(&file, &address, &key);
    let seen = watch(&mut media, 4).await;
    assert!(seen.video.len() > 60, "first stream: {seen:?}");
    drop(first);
    let gone = watch(&mut media, 2).await;
    let mut second = push(&file, &address, &key);
    let again = watch(&mut media, 5).await;
    assert!(again.video.len() > 60, "after the restart: {again:?}");
    assert!(again.audio > 100, "after the restart: {again:?}");

    // A second stream of the same user into the same call replaces the first.
    let mut third = push(&file, &address, &key);
    let deadline = Instant::now() + Duration::from_secs(15);
    while second.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the replaced stream was not closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = watch(&mut media, 4).await;
    assert!(after.video.len() > 60, "after the replacement: {after:?}");
    assert_eq!(after.identity, "alice:ingest");

    // Kicking alice ends her stream too.
    let (status, body) = call
        .api(
            Method::POST,
            "/calls/default/again/kick_user",
            json!({"user_id": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while third.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the kicked user's stream was not closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "restart: {} frames, {} while stopped, {} after the restart; the second stream closed the first, then {} frames; a kick closed it",
        seen.video.len(),
        gone.video.len(),
        again.video.len(),
        after.video.len()
    );
    // Backends heard each stream start and stop, in turn, and why it stopped.
    let told = ingress_events(&call, "default:again", 6).await;
    let kinds: Vec<String> = told.iter().map(|(kind, _, _)| kind.clone()).collect();
    let cycle = ["call.ingress_started", "call.ingress_stopped"];
    assert_eq!(kinds, cycle.repeat(3), "{told:?}");
    assert!(told.iter().all(|(_, user, _)| user == "alice"), "{told:?}");
    let reasons: Vec<&str> = told
        .iter()
        .skip(1)
        .step_by(2)
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(reasons, ["left", "replaced", "removed"], "{told:?}");
    println!("ingress events: {kinds:?}, stopped because {reasons:?}");
    bob.leave().await;
}

/// The first `want` ingress events of call `cid` (waiting up to 15 s for
/// them): type, user and, when stopped, why.
async fn ingress_events(call: &Call, cid: &str, want: usize) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let path = format!("/events?call_cid={cid}&limit=1000");
        let (status, body) = call.api(Method::GET, &path, json!(null)).await;
        assert_eq!(status, 200, "{body}");
        let told: Vec<(String, String, String)> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["type"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("call.ingress_")
            })
            .map(|e| {
                let field = |name: &str| e[name].as_str().unwrap_or_default().to_owned();
                (field("type"), field("user_id"), field("reason"))
            })
            .collect();
        if told.len() >= want || Instant::now() > deadline {
            return told;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
