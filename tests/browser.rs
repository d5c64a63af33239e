//! Browser tests: real Chromium (Debian's), real `livekit-client` (pinned in
//! `web/package.json`), against `onair dev`. The scenarios live in
//! `tests/browser/*.mjs`; each prints what it measured.

mod support;

use std::process::Command;

use std::sync::Mutex;
use support::probe::{codecs, luma, number, probe};

/// One Chromium scenario at a time: two cores do not carry more.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `script` against a fresh `onair dev`; returns what it printed and
/// the directory it may write files to (`$OUT_DIR`).
fn scenario(script: &str, with_server_token: bool) -> (String, tempfile::TempDir) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = tempfile::tempdir().unwrap();
    let onair = support::dev(
        data.path(),
        &["--web-dir", support::repo().join("web").to_str().unwrap()],
    );
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("node");
    cmd.env("OUT_DIR", out_dir.path());
    cmd.arg(support::repo().join("tests/browser").join(script))
        .arg(&onair.url);
    if with_server_token {
        let token = Command::new(support::bin())
            .args(["token", "server", "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap();
        cmd.arg(String::from_utf8(token.stdout).unwrap().trim());
    }
    let out = cmd.output().expect("node (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("scenario passed"),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout.into_owned(), out_dir)
}

#[test]
fn two_participants_see_and_hear_each_other() {
    scenario("two_participants.mjs", false);
}

#[test]
fn livestream_backstage_go_live_end() {
    scenario("livestream.mjs", true);
}

#[test]
fn small_subscriber_gets_the_low_simulcast_layer() {
    scenario("simulcast.mjs", false);
}

#[test]
fn dropped_signal_connection_resumes() {
    scenario("resume.mjs", false);
}

#[test]
fn recording_of_browser_participants_shows_both() {
    let (out, dir) = scenario("recording.mjs", true);
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .trim()
            .to_owned()
    };
    let recorded: f64 = value("RECORDED_SECONDS").parse().unwrap();
    let file = dir.path().join("recording.mp4");
    let info = probe(&file);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let duration = number(&info["format"]["duration"]);
    assert!(
        (duration - recorded).abs() <= recorded * 0.1,
        "file lasts {duration:.2} s, recorded for {recorded:.2} s"
    );
    // Two participants side by side on the 640x360 canvas: both halves show a camera.
    let left = luma(&file, duration / 2.0, Some((320, 180, 0, 90)));
    let right = luma(&file, duration / 2.0, Some((320, 180, 320, 90)));
    assert!(
        left > 30.0 && right > 30.0,
        "a half is black: left {left:.0}, right {right:.0}"
    );
    println!("browser recording: {duration:.2} s (recorded {recorded:.2} s), luma left {left:.0} right {right:.0}");
}

#[test]
fn hls_plays_in_the_browser_with_hls_js() {
    scenario("hls_viewer.mjs", true);
}
