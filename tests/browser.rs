//! Browser tests: real Chromium (Debian's), real `livekit-client` (pinned in
//! `web/package.json`), against `onair dev`. The scenarios live in
//! `tests/browser/*.mjs`; each prints what it measured.

mod support;

use std::process::Command;
use std::sync::Mutex;

/// One Chromium scenario at a time: two cores do not carry more.
static SERIAL: Mutex<()> = Mutex::new(());

fn scenario(script: &str, with_server_token: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = tempfile::tempdir().unwrap();
    let onair = support::dev(
        data.path(),
        &["--web-dir", support::repo().join("web").to_str().unwrap()],
    );
    let mut cmd = Command::new("node");
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
