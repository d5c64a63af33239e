//! LiveKit's Python SDK (`livekit` on PyPI, installed by `make test` into
//! its own venv) as a second real client: attributes, metadata and name,
//! RPC and text streams between two Python participants through OnAir
//! (`tests/python/conformance.py`), and end-to-end encryption
//! (`tests/python/e2ee.py`), and frame metadata kept across a full
//! reconnect (`tests/python/frame_metadata.py`).

mod support;

use std::process::Command;

use support::call::Call;

/// The venv `scripts/deps.sh` installs the SDK into.
fn python() -> std::path::PathBuf {
    let home = std::env::var_os("HOME").expect("HOME");
    std::path::Path::new(&home).join(".cache/onair/pyvenv/bin/python")
}

/// Runs `tests/python/{script}` with `args`; it must print `passed`.
fn run(script: &str, args: &[&str]) {
    let out = Command::new(python())
        .arg(support::repo().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("LiveKit's Python SDK (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("scenario passed"),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_python_sdk_speaks_with_onair() {
    let call = Call::start();
    let cid = "default:python";
    let alice = call.credentials("alice", cid).await;
    let bob = call.credentials("bob", cid).await;
    run("conformance.py", &[&alice.url, &alice.token, &bob.token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_python_sdk_decodes_encrypted_video_only_with_the_key() {
    let call = Call::start();
    let cid = "default:python-e2ee";
    let alice = call.credentials("alice", cid).await;
    let bob = call.credentials("bob", cid).await;
    let eve = call.credentials("eve", cid).await;
    run(
        "e2ee.py",
        &[&alice.url, &alice.token, &bob.token, &eve.token],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_python_sdk_frame_metadata_survives_a_full_reconnect() {
    let call = Call::start();
    let cid = "default:python-trailer";
    let alice = call.credentials("alice", cid).await;
    let bob = call.credentials("bob", cid).await;
    run("frame_metadata.py", &[&alice.url, &alice.token, &bob.token]);
}
