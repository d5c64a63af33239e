//! A long recording keeps audio and video together through a reconnect.

use super::*;

/// `seconds`-long camera and microphone of the sync clip: flashes and beeps
/// together every 2 s. Cut to exactly `seconds` each, so looping does not
/// shift one against the other.
fn sync_tracks(seconds: u32) -> [LocalTrack; 2] {
    static CLIP: std::sync::OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> =
        std::sync::OnceLock::new();
    let (_, video, audio) = CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (video, audio) = onair_testkit::media::sync_clip(dir.path(), seconds);
        (dir, video, audio)
    });
    let cut = |mut frames: Vec<Frame>| {
        let mut total = Duration::ZERO;
        frames.retain(|f| {
            total += f.duration;
            total <= Duration::from_secs(seconds.into()) + Duration::from_millis(1)
        });
        frames
    };
    let track = |name: &str, source, codec, width, height, frames| LocalTrack {
        name: name.into(),
        source,
        codec,
        layers: vec![LocalLayer {
            rid: None,
            width,
            height,
            frames,
        }],
    };
    [
        track(
            "camera",
            Source::Camera,
            Codec::Vp8,
            640,
            360,
            cut(ivf(video).unwrap()),
        ),
        track(
            "mic",
            Source::Microphone,
            Codec::Opus,
            0,
            0,
            cut(ogg_opus(audio).unwrap()),
        ),
    ]
}

/// Times (seconds) an ffmpeg detector (`filter` on `-vf`/`-af`) reports
/// `key` (e.g. `black_end`) in `file`.
fn detected(file: &std::path::Path, flag: &str, filter: &str, key: &str) -> Vec<f64> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args([flag, filter, "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    // `black_end:2` or `silence_end: 2.00002`.
    log.split(&format!("{key}:"))
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_recording_keeps_audio_and_video_together_through_a_reconnect() {
    let call = Call::start();
    let publish = |client: onair_client::Client| async move {
        for track in sync_tracks(4) {
            client.publish(track).await.unwrap();
        }
        client
    };
    let alice = publish(call.join("alice", "default:sync").await).await;
    record(&call, "sync").await;
    let active = Instant::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    // alice's connection drops; she is back 2 s later with new tracks.
    alice.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice = publish(call.join("alice", "default:sync").await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        recording_state(&call, "/calls/default/sync")
            .await
            .as_deref(),
        Some("active"),
        "the recording must outlive the publisher's reconnect"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop_recording(&call, "sync").await;
    let recorded = active.elapsed().as_secs_f64();
    let recording = recording_in(&call, "sync", "complete").await;
    let file = call.data.path().join(format!(
        "recordings/default_sync/{}.mp4",
        recording["id"].as_str().unwrap()
    ));
    let info = probe(&file);
    let duration = number(&info["format"]["duration"]);
    assert!(
        (duration - recorded).abs() <= recorded * 0.1,
        "file lasts {duration:.2} s, recorded for {recorded:.2} s"
    );

    // Each flash has its beep: pair every flash with the nearest beep.
    let flashes = detected(&file, "-vf", "blackdetect=d=0.05:pix_th=0.1", "black_end");
    let beeps = detected(&file, "-af", "silencedetect=n=-30dB:d=0.05", "silence_end");
    let offsets: Vec<f64> = flashes
        .iter()
        .filter(|f| **f < duration - 0.5)
        .filter_map(|f| {
            let beep = beeps
                .iter()
                .min_by(|a, b| (*a - f).abs().total_cmp(&(*b - f).abs()))?;
            Some(beep - f).filter(|o| o.abs() < 0.5)
        })
        .collect();
    assert!(
        offsets.len() >= 12,
        "only {} flash/beep pairs in {duration:.1} s (flashes {flashes:?}, beeps {beeps:?})",
        offsets.len()
    );
    let worst = offsets.iter().fold(0.0f64, |w, o| w.max(o.abs()));
    // Each track is anchored at its first frame's arrival, so the offset is
    // set anew when the publisher comes back; on this loaded 2-core machine
    // it has landed at up to 128 ms then (about 45-65 ms before). Lip sync
    // by sender reports would remove that; until then the bound is the one
    // viewers tolerate for late audio (ITU-R BT.1359: 125 ms) plus margin.
    assert!(
        worst < 0.15,
        "audio and video {worst:.3} s apart: {offsets:?}"
    );
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    println!(
        "sync over {duration:.1} s with a reconnect: {} pairs, A/V offset first {:.0} ms, last {:.0} ms, worst {:.0} ms",
        offsets.len(),
        first * 1000.0,
        last * 1000.0,
        worst * 1000.0
    );
    alice.leave().await;
}
