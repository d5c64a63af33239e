//! The composite: each video in the layer its tile needs, and participants joining and leaving.

use super::*;

/// A composite takes each video in the layer its tile needs, as LiveKit's
/// adaptive stream does: alone on the 640x360 canvas, alice's simulcast
/// camera comes in its 640x360 layer, so dynacast pauses her 1280x720
/// one; beside bob, in 320x180, and only that layer is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composite_takes_each_video_in_the_layer_its_tile_needs() {
    let call = Call::start();
    let alice = call.join("alice", "default:tiles").await;
    let camera_sid = alice.publish(camera(true)).await.unwrap();
    record(&call, "tiles").await;
    let layers = |s: &onair_client::Stats| s.wanted_layers.get(&camera_sid).cloned();
    let wait = Duration::from_secs(15);
    let alone = alice
        .wait_for(wait, |s| {
            layers(s).is_some_and(|l| !l.is_empty() && !l.contains(&2))
        })
        .await
        .unwrap_or_else(|s| panic!("alone: all layers still wanted: {:?}", s.wanted_layers));
    // Bob watches alice in her low layer himself.
    let bob = publisher(&call, "bob", "tiles").await;
    bob.set_quality(&camera_sid, 0);
    let beside = alice
        .wait_for(wait, |s| layers(s) == Some(vec![0]))
        .await
        .unwrap_or_else(|s| panic!("beside bob: {:?}", s.wanted_layers));
    println!(
        "composite layers of alice's camera: alone {:?}, beside bob {:?}",
        layers(&alone),
        layers(&beside)
    );
    stop_recording(&call, "tiles").await;
    recording_in(&call, "tiles", "complete").await;
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_joining_and_leaving_change_the_composite() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("onair.log");
    let call = Call::start_logged(&log);
    let alice = publisher(&call, "alice", "grid").await;
    record(&call, "grid").await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bob = publisher(&call, "bob", "grid").await;
    let bob_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(4)).await;
    bob.leave().await;
    let bob_out = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_recording(&call, "grid").await;
    let recording = recording_in(&call, "grid", "complete").await;
    let dir = tempfile::tempdir().unwrap();
    let file = download(recording["url"].as_str().unwrap(), dir.path(), "grid.mp4").await;
    // Alice alone fills the 640x360 canvas (the test pattern is bright at
    // its right edge). With bob, alice (who speaks: her microphone sends
    // speech levels) is large on top, 480x270 in the middle of the width
    // with black beside her, and bob small (160x90) in the strip below.
    let side_band = |at: f64| luma(&file, at, Some((60, 200, 570, 30)));
    let strip = |at: f64| luma(&file, at, Some((120, 60, 260, 285)));
    let together_at = (bob_in + bob_out) / 2.0 + 0.5;
    let (alone, together, alone_again) = (
        side_band(2.0),
        side_band(together_at),
        side_band(bob_out + 3.5),
    );
    let bob_small = strip(together_at);
    println!(
        "side band luma: alice alone {alone:.0}, with bob ({bob_in:.1}–{bob_out:.1} s) {together:.0} (bob's tile {bob_small:.0}), alone again {alone_again:.0}"
    );
    assert!(alone > 40.0, "alone: {alone}");
    assert!(
        together < 25.0,
        "alice not shown large as the speaker: {together}"
    );
    assert!(bob_small > 40.0, "bob not in the strip: {bob_small}");
    let text = std::fs::read_to_string(&log).unwrap();
    let composite_log: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("composite") || l.contains("participant"))
        .collect();
    assert!(
        alone_again > 40.0,
        "bob's tile stayed: {alone_again}\n{}",
        composite_log.join("\n")
    );
    // bob's camera and microphone branches left the pipeline with him.
    let released = text.matches("departed track's branch released").count();
    assert_eq!(released, 2, "branches released when bob left");
    // Every element was stopped before it was dropped, and GStreamer saw
    // nothing wrong in how they left (an unref of NULL, once).
    assert!(!text.contains("Trying to dispose element"), "{text}");
    assert!(!text.contains("CRITICAL"), "{text}");
    alice.leave().await;
}
