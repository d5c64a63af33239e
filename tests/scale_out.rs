//! Several SFU nodes behind one API, on a real Redis, each in a network
//! namespace of its own ([`support::cluster`]). Each SFU announces itself,
//! the API places a call's participants on the node hosting it and new
//! calls on the least-loaded node, and a node killed with SIGKILL gets no
//! one after its entry goes stale. A call whose node is full spans two
//! nodes, and the relays make it one call: each side receives the other's
//! media, also while one of the nodes drains. Recordings across nodes are
//! in `scale_out_recording.rs`.

mod support;

use std::time::{Duration, Instant};

use onair_client::files::ogg_opus;
use onair_client::{Client, Codec, LocalLayer, LocalTrack, MediaEvent, Source};
use support::call::{camera, frame_where};
use support::cluster::{within_10s, Cluster};

/// `client` publishes a microphone that sends 10 s of Opus announced as
/// silence (RFC 6464 level -127, no voice), in real time, in the task
/// returned.
async fn silent_microphone(client: &std::sync::Arc<Client>) -> tokio::task::JoinHandle<()> {
    let dir = tempfile::tempdir().unwrap();
    let frames = ogg_opus(&onair_testkit::media::opus_ogg(dir.path(), 10)).unwrap();
    let layer = LocalLayer {
        rid: None,
        width: 0,
        height: 0,
        frames: Vec::new(),
    };
    let track = LocalTrack {
        name: "mic".into(),
        source: Source::Microphone,
        codec: Codec::Opus,
        layers: vec![layer],
    };
    let sid = client.publish(track).await.unwrap();
    let sending = client.clone();
    tokio::spawn(async move {
        let mut time = Duration::ZERO;
        for frame in frames {
            sending.send_audio_frame(&sid, frame.data, time, (-127, false));
            time += frame.duration;
            tokio::time::sleep(frame.duration).await;
        }
    })
}

/// Waits for a frame from `identity` on `media`.
async fn frame_from(media: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>, identity: &str) {
    let within = Duration::from_secs(15);
    frame_where(media, within, identity, |f| f.identity == identity).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_placed_across_sfu_nodes_and_a_killed_node_is_left_out() {
    let mut cluster = Cluster::start(2, "").await;

    // Alice starts call A on some node; Bob, joining A, is sent to the same
    // node and receives her camera from it.
    let creds = cluster.join("alice", "default:a").await;
    let a_node = cluster.node(&creds.url);
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    let creds = cluster.join("bob", "default:a").await;
    assert_eq!(cluster.node(&creds.url), a_node, "a call stays on its node");
    let (bob, mut media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    frame_from(&mut media, "alice").await;

    // A new call goes to the other, emptier node once the load is announced
    // (every second): its participants, their tracks, what it forwards,
    // its machine's CPU, and where its media is reached.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let registry = cluster.registry().await;
    let entry = |url: &str| registry.iter().find(|n| n.url == url).unwrap();
    let (busy, idle) = (
        entry(&cluster.sfus[a_node].0),
        entry(&cluster.sfus[1 - a_node].0),
    );
    assert_eq!((busy.participants, busy.tracks), (2, 1), "{busy:?}");
    assert!(busy.forwarded_pps > 10, "alice's camera to bob: {busy:?}");
    assert_eq!(
        (idle.participants, idle.tracks, idle.forwarded_pps),
        (0, 0, 0)
    );
    for node in [busy, idle] {
        assert!(
            node.cpu.is_some_and(|c| (0.0..=1.0).contains(&c)),
            "{node:?}"
        );
        assert!(!node.media.is_empty(), "{node:?}");
    }
    assert_ne!(busy.media, idle.media);
    println!(
        "registry: the call's node {} participants, {} track, {} packets/s, CPU {:?}, media at {:?}",
        busy.participants, busy.tracks, busy.forwarded_pps, busy.cpu, busy.media
    );
    let b_node = cluster
        .placed_within("default:b", Duration::from_secs(5), |n| n != a_node)
        .await;
    let creds = cluster.join("carol", "default:b").await;
    assert_eq!(cluster.node(&creds.url), b_node);
    let carol = Client::connect(&creds.url, &creds.token).await.unwrap();

    // SIGKILL A's node: within NODE_TTL (and a second to announce) the API
    // stops sending anyone there; call A goes to the live node.
    let killed = Instant::now();
    cluster.sfus[a_node].1 = None;
    let moved = cluster
        .placed_within("default:a", Duration::from_secs(8), |n| n == b_node)
        .await;
    let after = killed.elapsed();
    assert_eq!(moved, b_node);
    let creds = cluster.join("dave", "default:a").await;
    assert_eq!(cluster.node(&creds.url), b_node);
    let dave = Client::connect(&creds.url, &creds.token).await.unwrap();
    println!("scale-out: call A placed on the live node {after:?} after its node's SIGKILL");
    for client in [dave, carol, bob, alice] {
        client.leave().await;
    }
}

/// The video track of `identity` that `client` sees.
fn video_of(client: &Client, identity: &str) -> String {
    let stats = client.stats();
    let mut theirs = stats.published.iter().filter(|(_, who)| *who == identity);
    let video = theirs.find(|(sid, _)| stats.video.contains(*sid));
    video.map(|(sid, _)| sid.clone()).expect("a video track")
}

/// Whether `client` sees a track of `identity` muted.
fn seen_muted(client: &Client, identity: &str) -> bool {
    let stats = client.stats();
    let mut theirs = stats.published.iter().filter(|(_, who)| *who == identity);
    theirs.any(|(sid, _)| stats.muted.contains(sid))
}

/// Waits until `client` sees (or no longer sees) participant `identity`.
async fn sees(client: &Client, identity: &str, seen: bool) {
    within_10s(
        || client.stats().participants.contains_key(identity) == seen,
        || format!("{identity} seen: {}", !seen),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_spans_two_nodes_and_each_side_receives_the_other() {
    let cluster = Cluster::start(2, "sfu_capacity = 2").await;
    let cid = "default:span";
    // Alice publishes and Bob watches on one node, which is then full.
    let creds = cluster.join("alice", cid).await;
    let first = cluster.node(&creds.url);
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(true)).await.unwrap();
    let creds = cluster.join("bob", cid).await;
    assert_eq!(cluster.node(&creds.url), first);
    let (bob, mut bob_media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    frame_from(&mut bob_media, "alice").await;

    // Carol goes to the other node once the first announces it is full;
    // she receives Alice's camera through the relay.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let creds = cluster.join("carol", cid).await;
    let second = cluster.node(&creds.url);
    assert_ne!(second, first, "the full node takes no one more");
    let started = Instant::now();
    let (carol, mut carol_media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    frame_from(&mut carol_media, "alice").await;
    let relayed_after = started.elapsed();
    // Alice's camera crosses in its three layers: Carol takes each there.
    let copy = video_of(&carol, "alice");
    for (quality, width) in [(0, 320), (1, 640), (2, 1280)] {
        carol.set_quality(&copy, quality);
        within_10s(
            || carol.stats().tracks.get(&copy).map(|t| t.width) == Some(width),
            || format!("no {width} wide layer across"),
        )
        .await;
    }
    // Those who publish nothing are seen across too: Bob there, Carol here.
    sees(&carol, "bob", true).await;
    sees(&bob, "carol", true).await;
    // What Carol shows of herself there is shown here, removals too.
    for (hand, metadata) in [("up", r#"{"seat":3}"#), ("", r#"{"seat":4}"#)] {
        let attributes = std::collections::HashMap::from([("hand".to_owned(), hand.to_owned())]);
        carol.update_profile("Carol C.", metadata, attributes);
        let shown = || {
            bob.stats()
                .profiles
                .get("carol")
                .cloned()
                .unwrap_or_default()
        };
        within_10s(
            || {
                let shown = shown();
                let raised = shown.attributes.get("hand").map_or("", String::as_str);
                (shown.name.as_str(), shown.metadata.as_str(), raised)
                    == ("Carol C.", metadata, hand)
            },
            || format!("Carol's profile not shown across: {:?}", shown()),
        )
        .await;
    }
    // Alice's microphone, announced as silence: Carol hears that level,
    // not a relay's made-up one, so she is not told Alice speaks.
    let alice = std::sync::Arc::new(alice);
    let sending = silent_microphone(&alice).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let event = tokio::time::timeout_at(deadline, carol_media.recv()).await;
        match event.expect("Alice's microphone across the relay") {
            Some(MediaEvent::Frame(f)) if f.identity == "alice" && f.codec == Codec::Opus => {
                assert_eq!(f.audio_level, Some((-127, false)), "the level crosses");
                break;
            }
            Some(_) => {}
            None => panic!("Carol's media ended"),
        }
    }
    sending.abort();
    let _ = sending.await;
    let alice = std::sync::Arc::try_unwrap(alice).unwrap_or_else(|_| panic!("Alice is shared"));
    // And what Carol publishes there reaches Bob here.
    let carol_camera = carol.publish(camera(false)).await.unwrap();
    frame_from(&mut bob_media, "carol").await;
    // Her camera muted there is muted here.
    for muted in [true, false] {
        carol.set_muted(&carol_camera, muted);
        within_10s(
            || seen_muted(&bob, "carol") == muted,
            || format!("muted {muted} not seen across"),
        )
        .await;
    }
    println!("scale-out: a call on two nodes; Alice's camera reached Carol across the relay {relayed_after:?} after she connected");
    // The API counts each user once: the copies relays publish are not
    // participants of their own, so Carol leaving (and with her the
    // relayed copy of Alice on her node) leaves Alice in the call.
    assert_eq!(cluster.participants(cid).await, 3);
    carol.leave().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.participants(cid).await != 2 {
        assert!(Instant::now() < deadline, "Carol's leave not counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sees(&bob, "carol", false).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.participants(cid).await,
        2,
        "Alice and Bob are still in"
    );
    for client in [bob, alice] {
        client.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_keeps_its_side_of_a_spanning_call_and_takes_no_one_new() {
    let mut cluster = Cluster::start(2, "sfu_capacity = 1").await;
    let cid = "default:drain";
    let creds = cluster.join("alice", cid).await;
    let first = cluster.node(&creds.url);
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let creds = cluster.join("bob", cid).await;
    assert_ne!(
        cluster.node(&creds.url),
        first,
        "the full node takes no one more"
    );
    let (bob, mut media) = Client::connect_receiving(&creds.url, &creds.token)
        .await
        .unwrap();
    frame_from(&mut media, "alice").await;

    // Alice's node drains (SIGTERM): it keeps her call, so its registry
    // entry stays, and Bob's node goes on relaying her camera after the
    // time a withdrawn entry would have taken the relay down.
    let draining = cluster.sfus[first].1.as_ref().expect("the node runs");
    draining.sigterm();
    tokio::time::sleep(Duration::from_secs(4)).await;
    while media.try_recv().is_ok() {}
    frame_from(&mut media, "alice").await;
    // No one new goes there, even with every other node full.
    let creds = cluster.join("carol", cid).await;
    assert_ne!(
        cluster.node(&creds.url),
        first,
        "placed on the draining node"
    );
    // Once Alice leaves, the drained node exits.
    alice.leave().await;
    let node = cluster.sfus[first].1.as_mut().expect("the node runs");
    let status = tokio::task::block_in_place(|| node.exited(Duration::from_secs(20)));
    assert!(status.is_some(), "the drained node did not exit");
    cluster.sfus[first].1 = None;
    println!("scale-out: a draining node's participant stayed in the call across nodes; the node exited once she left");
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livestream_fans_out_over_three_nodes() {
    let cluster = Cluster::start(3, "sfu_capacity = 2").await;
    let cid = "default:fanout";
    let creds = cluster.join("host", cid).await;
    let home = cluster.node(&creds.url);
    let host = Client::connect(&creds.url, &creds.token).await.unwrap();
    host.publish(camera(false)).await.unwrap();
    // Viewers join one by one; each node takes two participants of its
    // own (relays do not count), so the host's node, then a second, then
    // a third fill up.
    let mut viewers = Vec::new();
    let mut nodes = vec![home];
    for n in 1..=4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let creds = cluster.join(&format!("viewer{n}"), cid).await;
        nodes.push(cluster.node(&creds.url));
        let (viewer, mut media) = Client::connect_receiving(&creds.url, &creds.token)
            .await
            .unwrap();
        frame_from(&mut media, "host").await;
        viewers.push((viewer, media));
    }
    assert_eq!(nodes[1], home, "the host's node first: {nodes:?}");
    assert!(
        nodes[2] != home && nodes[3] == nodes[2],
        "then a second: {nodes:?}"
    );
    assert!(
        nodes[4] != home && nodes[4] != nodes[2],
        "then a third: {nodes:?}"
    );
    // Every viewer still receives the host (the first ones did not lose it
    // as the call grew).
    for (_, media) in &mut viewers {
        frame_from(media, "host").await;
    }
    println!("scale-out: a livestream on three nodes, participants placed on {nodes:?}");
    for (viewer, _) in viewers {
        viewer.leave().await;
    }
    host.leave().await;
}

/// With `signal_proxy`, clients signal through the API node, which pipes
/// their socket to the SFU node the URL names, or, once that node is gone,
/// to a live one. So connecting again to the very URL and token a client
/// was given (what livekit-client's full reconnect does) after its node
/// was killed puts it back in the call, on the live node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalling_through_the_api_survives_the_sfu_node_dying() {
    let api_extra = "signal_url = \"ws://{host}:{port}\"\nsignal_proxy = true";
    let mut cluster = Cluster::start_with(2, "", api_extra).await;
    let (a, b) = (
        cluster.join("alice", "default:p").await,
        cluster.join("bob", "default:p").await,
    );
    assert!(a.url.contains("/sfu/sfu-"), "{}", a.url);
    // No token, or a forged one: refused at the API node, nothing piped.
    let http = &cluster.api.url;
    for query in ["", "?access_token=eyJhbGciOiJIUzI1NiJ9.e30.forged"] {
        let validate = reqwest::get(format!("{http}/sfu/sfu-x/rtc/validate{query}"));
        assert_eq!(validate.await.unwrap().status(), 401, "validate{query}");
        let ws = format!("{}/sfu/sfu-x/rtc{query}", http.replacen("http", "ws", 1));
        match tokio_tungstenite::connect_async(ws).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("socket{query}: {:?}", other.map(|_| ())),
        }
    }
    let a_node = cluster.node(&cluster.own_url(&a.url).await);

    let alice = Client::connect(&a.url, &a.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    let (_bob, mut media) = Client::connect_receiving(&b.url, &b.token).await.unwrap();
    frame_from(&mut media, "alice").await;

    let killed = Instant::now();
    cluster.sfus[a_node].1 = None;
    let alice = Client::connect(&a.url, &a.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    let (_bob, mut media) = Client::connect_receiving(&b.url, &b.token).await.unwrap();
    frame_from(&mut media, "alice").await;
    let back = killed.elapsed();
    println!("signal proxy: bob hears alice again {back:?} after their node's SIGKILL");
    assert!(back < Duration::from_secs(5), "{back:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let registry = cluster.registry().await;
    let live = registry
        .iter()
        .find(|n| n.url == cluster.sfus[1 - a_node].0);
    assert_eq!(live.map(|n| n.participants), Some(2), "{registry:?}");
}
