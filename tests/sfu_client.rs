//! The SFU with `onair-client` peers (str0m on both ends): publish and
//! subscribe, simulcast layer switches, backstage gating, kick, end, and a
//! peer spraying garbage UDP that must not disturb the others. Media files
//! are made by ffmpeg once per test process.

mod support;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_response::Message as Out;

use onair_client::{api, Client, Codec, MediaEvent, Stats};
use support::call::{camera, h264_camera, microphone, Call};
use support::signal;

fn video(s: &Stats, from: &str) -> Option<onair_client::TrackStats> {
    s.tracks
        .values()
        .find(|t| t.kind == "video" && t.identity == from)
        .cloned()
}

fn audio(s: &Stats, from: &str) -> Option<onair_client::TrackStats> {
    s.tracks
        .values()
        .find(|t| t.kind == "audio" && t.identity == from)
        .cloned()
}

const WAIT: Duration = Duration::from_secs(20);

/// Two snapshots of `client`'s stats one second apart, once `settle` has passed.
async fn one_second_apart(client: &Client, settle: Duration) -> (Stats, Stats) {
    tokio::time::sleep(settle).await;
    let before = client.stats();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (before, client.stats())
}

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
async fn garbage_udp_does_not_disturb_others() {
    let call = Call::start();
    let alice = call.join("alice", "default:noisy").await;
    alice.publish(camera(false)).await.unwrap();
    let bob = call.join("bob", "default:noisy").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();

    let target = call.udp();
    let spray = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut seed = 0x9e37_79b9_u32;
        for i in 0..20_000u32 {
            let len = 1 + (seed % 1400) as usize;
            let packet: Vec<u8> = (0..len)
                .map(|j| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    // Some look like STUN, RTP or DTLS at first glance.
                    match (i % 4, j) {
                        (0, 0) => 0x00,
                        (1, 0) => 0x80,
                        (2, 0) => 0x16,
                        _ => (seed >> 24) as u8,
                    }
                })
                .collect();
            let _ = socket.send_to(&packet, &target);
        }
    });
    let before = video(&bob.stats(), "alice").unwrap().frames;
    spray.join().unwrap();
    bob.wait_for(WAIT, |s| {
        video(s, "alice").is_some_and(|v| v.frames > before + 45)
    })
    .await
    .unwrap_or_else(|s| panic!("media stalled during the garbage: {s:?}"));
    // A newcomer can still join.
    let carol = call.join("carol", "default:noisy").await;
    carol
        .wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstage_gates_media_until_go_live_then_end_disconnects() {
    let call = Call::start();
    let soon = chrono_like_rfc3339(60);
    let (status, body) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show",
            serde_json::json!({"data": {
            "members": [{"user_id": "host", "role": "host"}],
            "starts_at": soon,
            "settings_override": {"backstage": {"join_ahead_time_seconds": 300}}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let host = call.join("host", "livestream:show").await;
    host.publish(camera(false)).await.unwrap();
    host.publish(microphone()).await.unwrap();
    let viewer = call.join("viewer", "livestream:show").await;
    viewer
        .wait_for(WAIT, |s| s.participants.contains_key("host"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        video(&viewer.stats(), "host").is_none(),
        "media in backstage: {:?}",
        viewer.stats()
    );

    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show/go_live",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    viewer
        .wait_for(WAIT, |s| {
            video(s, "host").is_some_and(|v| v.frames > 10)
                && audio(s, "host").is_some_and(|a| a.frames > 10)
        })
        .await
        .unwrap_or_else(|s| panic!("no media after go_live: {s:?}"));

    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/livestream/show/end",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    for c in [&viewer, &host] {
        c.wait_for(WAIT, |s| s.closed.is_some())
            .await
            .unwrap_or_else(|s| panic!("not disconnected by end: {s:?}"));
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_removes_one_participant() {
    let call = Call::start();
    let alice = call.join("alice", "default:kick").await;
    let bob = call.join("bob", "default:kick").await;
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("bob"))
        .await
        .unwrap();
    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/default/kick/kick_user",
            serde_json::json!({"user_id": "bob"}),
        )
        .await;
    assert_eq!(status, 200);
    bob.wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("bob not kicked: {s:?}"));
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("bob"))
        .await
        .unwrap();
    assert!(alice.stats().closed.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_after_a_lost_connection_and_newer_replaces_older() {
    let call = Call::start();
    let alice = call.join("alice", "default:rejoin").await;
    alice.publish(camera(false)).await.unwrap();
    let bob = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();

    // The connection drops without a goodbye; bob comes back as livekit-client does.
    bob.abort();
    let bob = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap_or_else(|s| panic!("no media after the rejoin: {s:?}"));

    // A second connection for the same user replaces the first.
    let bob2 = call.join("bob", "default:rejoin").await;
    bob.wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("older connection kept: {s:?}"));
    bob2.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
    let s = alice.stats();
    assert_eq!(s.participants.len(), 1, "alice sees bob once: {s:?}");
    assert_eq!(s.participants.get("bob"), Some(&bob2.stats().sid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_subscribe_only_asked_tracks_arrive() {
    let call = Call::start();
    let alice = call.join("alice", "default:manual").await;
    let video_sid = alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();
    let creds = api::join(
        &call.onair.url,
        &call.token(&["user", "--user", "bob"]),
        "default:manual",
        true,
    )
    .await
    .unwrap();
    let bob = Client::connect_with(&creds.url, &creds.token, false)
        .await
        .unwrap();
    bob.wait_for(WAIT, |s| s.published.len() == 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bob.stats().tracks.is_empty(),
        "nothing before asking: {:?}",
        bob.stats()
    );
    bob.subscribe(&video_sid, true);
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
    assert!(
        audio(&bob.stats(), "alice").is_none(),
        "audio was not asked for"
    );
    // Unsubscribing stops the flow.
    bob.subscribe(&video_sid, false);
    let (before, after) = one_second_apart(&bob, Duration::from_millis(500)).await;
    assert!(
        video(&after, "alice").unwrap().frames <= video(&before, "alice").unwrap().frames + 2,
        "video kept flowing after unsubscribe"
    );
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
async fn moderator_mutes_a_microphone() {
    let call = Call::start();
    let alice = call.join("alice", "default:mute").await;
    let mic = alice.publish(microphone()).await.unwrap();
    let bob = call.join("bob", "default:mute").await;
    bob.wait_for(WAIT, |s| audio(s, "alice").is_some_and(|a| a.frames > 20))
        .await
        .unwrap();
    let (status, _) = call
        .api(
            reqwest::Method::POST,
            "/calls/default/mute/mute_users",
            serde_json::json!({"user_ids": ["alice"], "audio": true}),
        )
        .await;
    assert_eq!(status, 200);
    bob.wait_for(WAIT, |s| s.muted.contains(&mic))
        .await
        .unwrap_or_else(|s| panic!("not shown muted: {s:?}"));
    let (before, after) = one_second_apart(&bob, Duration::from_millis(300)).await;
    assert!(
        audio(&after, "alice").unwrap().frames <= audio(&before, "alice").unwrap().frames + 2,
        "audio still flows after the mute"
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

fn is_rejoin_request(msg: &Option<lk::signal_response::Message>) -> bool {
    matches!(msg, Some(lk::signal_response::Message::Leave(l))
        if l.action == lk::leave_request::Action::Reconnect as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_participants_leave_after_the_timeout() {
    let call = Call::start_with(&["--rtc-participant-timeout", "3s"]);
    let cid = "default:vanish";
    let alice = call.join("alice", cid).await;

    // A client that joins and then says nothing (its network went away).
    let ghost = call.credentials("ghost", cid).await;
    let started = Instant::now();
    let (_ghost_ws, first) = signal::join(&ghost.url, &ghost.token).await.joined();
    assert!(matches!(first, Some(lk::signal_response::Message::Join(_))));
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("ghost"))
        .await
        .unwrap();
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("ghost"))
        .await
        .unwrap_or_else(|s| panic!("the silent participant stayed: {s:?}"));
    let silent_for = started.elapsed();
    assert!(
        silent_for >= Duration::from_secs(3),
        "removed after {silent_for:?}"
    );

    // A client whose connection closed without a goodbye may resume for the
    // timeout, then it is removed too.
    let bob = call.join("bob", cid).await;
    alice
        .wait_for(WAIT, |s| s.participants.contains_key("bob"))
        .await
        .unwrap();
    let aborted = Instant::now();
    bob.abort();
    alice
        .wait_for(WAIT, |s| !s.participants.contains_key("bob"))
        .await
        .unwrap_or_else(|s| panic!("the vanished participant stayed: {s:?}"));
    let gone_after = aborted.elapsed();
    assert!(
        gone_after >= Duration::from_secs(3),
        "removed after {gone_after:?}"
    );
    println!("silent participant removed after {silent_for:?}, closed one after {gone_after:?}");

    // Pinging participants stay, and the API lists only them.
    assert!(
        alice.stats().closed.is_none(),
        "alice (pinging) was removed"
    );
    let (status, body) = call
        .api(
            reqwest::Method::GET,
            "/calls/default/vanish/participants",
            serde_json::json!(null),
        )
        .await;
    assert_eq!(status, 200);
    let users: Vec<&str> = body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_resumes_a_session() {
    let call = Call::start();
    let cid = "default:resume-guard";
    let alice = call.join("alice", cid).await;
    let sid = alice.stats().sid;
    let creds = call.credentials("mallory", cid).await;
    for query in [
        format!("access_token={}&reconnect=1&sid={sid}", creds.token),
        format!("access_token={}&reconnect=1&sid=PA_unknown", creds.token),
    ] {
        let (_ws, first) = signal::open(&creds.url, &query).await.joined();
        assert!(is_rejoin_request(&first), "{query}: {first:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(alice.stats().closed.is_none(), "alice disturbed");
}

/// `now + secs` as RFC 3339 (UTC), without a date crate.
fn chrono_like_rfc3339(secs: u64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("+{secs} seconds"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An offer as livekit-client's `/rtc/v1` join carries it: data channels
/// and receiving m-lines (`audios`, `videos`), from a str0m peer.
fn v1_offer(audios: usize, videos: usize) -> (str0m::Rtc, str0m::change::SdpPendingOffer, String) {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::Rtc::builder().build(Instant::now());
    let mut api = rtc.sdp_api();
    api.add_channel("_reliable".into());
    for kind in std::iter::repeat_n(MediaKind::Audio, audios)
        .chain(std::iter::repeat_n(MediaKind::Video, videos))
    {
        api.add_media(kind, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().unwrap();
    let sdp = offer.to_sdp_string();
    (rtc, pending, sdp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtc_v1_joins_with_its_offer_and_refuses_bad_join_requests() {
    let call = Call::start();
    let cid = "default:v1";
    let alice = call.join("alice", cid).await;
    let video = alice.publish(camera(false)).await.unwrap();
    let audio = alice.publish(microphone()).await.unwrap();
    let bob = call.credentials("bob", cid).await;

    // Hostile or broken join requests: refused before the upgrade.
    let (status, body) =
        signal::open_at(&bob.url, "/rtc/v1", &format!("access_token={}", bob.token))
            .await
            .refused();
    assert_eq!(
        (status, body.split(':').next()),
        (400, Some("bad_join_request")),
        "{body}"
    );
    let junk = format!("access_token={}&join_request=!!!!", bob.token);
    let (status, body) = signal::open_at(&bob.url, "/rtc/v1", &junk).await.refused();
    assert_eq!(status, 400, "{body}");
    let join = lk::JoinRequest::default();
    let (status, body) = signal::open_v1(&bob.url, "forged", &join).await.refused();
    assert_eq!(status, 401, "{body}");
    let validate = format!(
        "{}/rtc/v1/validate?access_token={}",
        call.onair.url, bob.token
    );
    let res = reqwest::get(&validate).await.unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);

    // The join's offer is answered with alice's tracks on bob's two
    // receiving m-lines, named as the browser maps them.
    let (mut rtc, pending, sdp) = v1_offer(1, 1);
    let join = lk::JoinRequest {
        connection_settings: Some(lk::ConnectionSettings {
            auto_subscribe: true,
            ..Default::default()
        }),
        publisher_offer: Some(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (mut ws, first) = signal::open_v1(&bob.url, &bob.token, &join).await.joined();
    let Some(Out::Join(joined)) = first else {
        panic!("{first:?}")
    };
    assert!(
        !joined.subscriber_primary,
        "one connection: the client offers"
    );
    let answer = ws
        .find(WAIT, |m| match m {
            Out::Answer(a) => Some(a.clone()),
            _ => None,
        })
        .await
        .expect("an answer");
    assert_eq!(answer.id, 1);
    let alice_sid = alice.stats().sid;
    for track in [&video, &audio] {
        assert!(
            answer.mid_to_track_id.values().any(|t| t == track),
            "{track}: {answer:?}"
        );
        let msid = format!("a=msid:{alice_sid}|{track} {track}");
        assert!(answer.sdp.contains(&msid), "{msid} in {}", answer.sdp);
    }
    let parsed = str0m::change::SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
    rtc.sdp_api().accept_answer(pending, parsed).unwrap();

    // A third track has no m-line left: bob is asked for an offer with one more.
    alice.publish(camera(false)).await.unwrap();
    let wanted = ws
        .find(WAIT, |m| match m {
            Out::MediaSectionsRequirement(r) => Some(*r),
            _ => None,
        })
        .await
        .expect("a request for more m-lines");
    assert_eq!((wanted.num_audios, wanted.num_videos), (0, 1));

    // Bob resumes on a new socket; mallory cannot take his session.
    let resume = lk::JoinRequest {
        reconnect: true,
        participant_sid: joined.participant.as_ref().unwrap().sid.clone(),
        ..Default::default()
    };
    let (_again, first) = signal::open_v1(&bob.url, &bob.token, &resume)
        .await
        .joined();
    assert!(matches!(first, Some(Out::Reconnect(_))), "{first:?}");
    let mallory = call.credentials("mallory", cid).await;
    let (_ws, first) = signal::open_v1(&mallory.url, &mallory.token, &resume)
        .await
        .joined();
    assert!(is_rejoin_request(&first), "{first:?}");
}
