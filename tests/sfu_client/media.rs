//! Media through the SFU: simulcast layer switches, H.264, packet receivers, pacing, many tracks at once, unpublishing, rooms on several workers.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_subscribe_and_switch_simulcast_layers() {
    let call = Call::start();
    let alice = call.join("alice", "default:room").await;
    alice.publish(camera(true)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:room").await;

    let s = bob
        .wait_for(WAIT, |s| {
            video(s, "alice").is_some_and(|v| v.frames > 30 && v.keyframes > 0)
                && audio(s, "alice").is_some_and(|a| a.frames > 30)
        })
        .await
        .unwrap_or_else(|s| panic!("bob did not receive alice: {s:?}"));
    let v = video(&s, "alice").unwrap();
    assert_eq!(v.width, 1280, "the high layer by default");
    assert!(v.packets >= v.frames);

    let (sid, _) = s
        .tracks
        .iter()
        .find(|(_, t)| t.kind == "video")
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    bob.set_quality(&sid, 0);
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.width == 320))
        .await
        .unwrap_or_else(|s| panic!("no low layer: {s:?}"));
    bob.set_quality(&sid, 1);
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.width == 640))
        .await
        .unwrap_or_else(|s| panic!("no medium layer: {s:?}"));
    bob.set_quality(&sid, 2);
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.width == 1280))
        .await
        .unwrap_or_else(|s| panic!("no high layer: {s:?}"));

    // Frames keep flowing after the switches.
    let before = video(&bob.stats(), "alice").unwrap().frames;
    bob.wait_for(WAIT, |s| {
        video(s, "alice").is_some_and(|v| v.frames > before + 30)
    })
    .await
    .unwrap();
    // Alice hears the silence of nobody; bob sees alice's tone as speech.
    bob.wait_for(WAIT, |s| {
        s.participants
            .get("alice")
            .is_some_and(|sid| s.speakers.contains(sid))
    })
    .await
    .unwrap_or_else(|s| panic!("alice not an active speaker: {s:?}"));
    alice.leave().await;
    bob.wait_for(WAIT, |s| !s.participants.contains_key("alice"))
        .await
        .unwrap();
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_is_forwarded() {
    let call = Call::start();
    let alice = call.join("alice", "default:h264").await;
    let camera = alice.publish(h264_camera()).await.unwrap();
    let bob = call.join("bob", "default:h264").await;
    let s = bob
        .wait_for(WAIT, |s| {
            video(s, "alice").is_some_and(|v| v.frames > 60 && v.keyframes >= 2)
        })
        .await
        .unwrap_or_else(|s| panic!("no H.264 from alice: {s:?}"));
    let v = video(&s, "alice").unwrap();
    assert_eq!(v.codec, Some(Codec::H264));
    // bob's keyframe request reaches alice through the SFU.
    let before = alice.stats().keyframe_requests;
    bob.request_keyframe(&camera);
    alice
        .wait_for(WAIT, |s| s.keyframe_requests > before)
        .await
        .unwrap_or_else(|s| panic!("no keyframe request reached alice: {s:?}"));
    println!(
        "bob: alice's H.264 {} frames, {} keyframes; a PLI reached alice",
        v.frames, v.keyframes
    );
}

/// A relay's receiver (packet mode) hands on each packet as it arrives,
/// with its track and publisher, and counts every one it handed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_receiver_hands_on_and_counts_every_packet() {
    let call = Call::start();
    let alice = call.join("alice", "default:packets").await;
    alice.publish(h264_camera()).await.unwrap();
    let creds = call.credentials("relay", "default:packets").await;
    let (relay, mut packets) = Client::connect_receiving_packets(&creds.url, &creds.token)
        .await
        .unwrap();
    let (mut handed, mut keyframes) = (0u64, 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while handed < 300 || keyframes == 0 {
        let event = tokio::time::timeout_at(deadline, packets.recv()).await;
        let p = match event {
            Ok(Some(MediaEvent::Packet(p))) => p,
            Ok(Some(_)) => continue,
            _ => panic!("{handed} packets, then {event:?}"),
        };
        assert_eq!((&*p.identity, p.codec), ("alice", Codec::H264));
        handed += 1;
        keyframes += usize::from(p.keyframe);
    }
    // What the stats count is what was handed on, once the turn ends.
    alice.leave().await;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), packets.recv()).await {
        handed += u64::from(matches!(event, MediaEvent::Packet(_)));
    }
    let counted = video(&relay.stats(), "alice").map(|v| v.packets);
    assert_eq!(counted, Some(handed));
    println!("packet mode: {handed} packets handed on and counted, {keyframes} keyframe starts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishers_frames_arrive_paced_not_in_one_burst() {
    let call = Call::start();
    let alice = call.join("alice", "default:paced").await;
    alice.publish(camera(false)).await.unwrap();
    let creds = call.credentials("viewer", "default:paced").await;
    let (_viewer, mut packets) = Client::connect_receiving_packets(&creds.url, &creds.token)
        .await
        .unwrap();
    // When each packet of each frame (by RTP time) arrived.
    let mut frames: std::collections::BTreeMap<u64, Vec<Instant>> = Default::default();
    let deadline = tokio::time::Instant::now() + WAIT;
    while frames.values().filter(|f| f.len() > 1).count() < 40 {
        match tokio::time::timeout_at(deadline, packets.recv()).await {
            Ok(Some(MediaEvent::Packet(p))) if p.codec == Codec::Vp8 => {
                frames.entry(p.time).or_default().push(p.arrival);
            }
            Ok(Some(_)) => {}
            event => panic!("{} frames, then {event:?}", frames.len()),
        }
    }
    let mut spreads: Vec<Duration> = (frames.values().filter(|f| f.len() > 1))
        .map(|f| f[f.len() - 1] - f[0])
        .collect();
    spreads.sort();
    let median = spreads[spreads.len() / 2];
    println!("pacing: median spread of a frame's packets {median:?}, of {spreads:?}");
    // Sent back to back they would arrive within a fraction of a
    // millisecond; paced (1 Mbit/s at this bitrate) 1 000 bytes take 8 ms.
    assert!(median >= Duration::from_millis(2), "{spreads:?}");
}

/// Tracks published at once: the SFU accepts the second before it
/// answered the offer of the first, and the client offers it only then
/// (one offer at a time), so both arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_published_at_once_all_arrive() {
    let call = Call::start();
    let alice = call.join("alice", "default:at-once").await;
    let (camera, microphone) =
        tokio::join!(alice.publish(camera(false)), alice.publish(microphone()));
    let (camera, microphone) = (camera.unwrap(), microphone.unwrap());
    assert_ne!(camera, microphone);
    let bob = call.join("bob", "default:at-once").await;
    let s = bob
        .wait_for(WAIT, |s| {
            video(s, "alice").is_some_and(|v| v.frames > 30)
                && audio(s, "alice").is_some_and(|a| a.frames > 30)
        })
        .await
        .unwrap_or_else(|s| panic!("bob did not receive both of alice's tracks: {s:?}"));
    assert!(s.published.contains_key(&camera) && s.published.contains_key(&microphone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublished_track_leaves_subscribers() {
    let call = Call::start();
    let alice = call.join("alice", "default:unpublish").await;
    let video_sid = alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:unpublish").await;
    bob.wait_for(WAIT, |s| {
        video(s, "alice").is_some_and(|v| v.frames > 10) && audio(s, "alice").is_some()
    })
    .await
    .unwrap();
    alice.unpublish(&video_sid);
    bob.wait_for(WAIT, |s| !s.published.contains_key(&video_sid))
        .await
        .unwrap_or_else(|s| panic!("video still announced: {s:?}"));
    let (before, after) = one_second_apart(&bob, Duration::from_millis(500)).await;
    let (v, a) = (
        video(&before, "alice").unwrap().frames,
        audio(&before, "alice").unwrap().frames,
    );
    assert!(
        video(&after, "alice").unwrap().frames <= v + 1,
        "video still flows"
    );
    assert!(
        audio(&after, "alice").unwrap().frames > a + 20,
        "audio stopped too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_spread_over_workers_all_carry_media() {
    let data = tempfile::tempdir().unwrap();
    let call = Call {
        onair: support::dev(data.path(), &["--rtc-workers", "3"]),
        data,
    };
    let mut pairs = Vec::new();
    for room in ["default:w-a", "default:w-b", "default:w-c", "default:w-d"] {
        let publisher = call.join("alice", room).await;
        publisher.publish(camera(false)).await.unwrap();
        let viewer = call.join("bob", room).await;
        pairs.push((publisher, viewer));
    }
    for (_, viewer) in &pairs {
        viewer
            .wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
            .await
            .unwrap_or_else(|s| panic!("a room got no media: {s:?}"));
        assert_eq!(viewer.stats().participants.len(), 1, "rooms are separate");
    }
}
