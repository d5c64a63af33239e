//! Clients that flood, hoard or stop reading are held to their limits; connected ones get fresh join tokens.

use super::*;

/// An `onair serve` with tight client limits, and its key.
struct Limited {
    onair: support::Onair,
    key: ApiKey,
    _dir: tempfile::TempDir,
}

fn limited() -> Limited {
    let dir = tempfile::tempdir().unwrap();
    let port = onair_testkit::free_port();
    let key = ApiKey::new("APIlimits", "limits-test-secret-limits-test-secret");
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             rtc_participant_timeout = \"5s\"\n\
             [limits]\noutbox = 16\nmessages_per_second = 200\nmessage_burst = 400\nids_per_message = 50\n\
             [[api_keys]]\nkey = \"{}\"\nsecret = \"{}\"\n",
            dir.path().join("data").display(),
            key.key,
            key.secret
        ),
    )
    .unwrap();
    let onair = support::serve(&config, port);
    Limited {
        onair,
        key,
        _dir: dir,
    }
}

impl Limited {
    async fn join(&self, user: &str, cid: &str) -> (signal::RawSignal, api::Credentials) {
        let token = support::tokens::user(&self.key, user);
        let creds = api::join(&self.onair.url, &token, cid, true).await.unwrap();
        let (ws, first) = signal::join(&creds.url, &creds.token).await.joined();
        assert!(matches!(first, Some(Out::Join(_))), "{first:?}");
        (ws, creds)
    }
}

/// A microphone with a long (but allowed) name, so updates are large.
fn add_track(cid: usize) -> In {
    In::AddTrack(lk::AddTrackRequest {
        cid: format!("t{cid}"),
        name: format!("mic {cid} {}", "x".repeat(200)),
        r#type: lk::TrackType::Audio as i32,
        source: lk::TrackSource::Microphone as i32,
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_held_to_their_limits() {
    let server = tokio::task::spawn_blocking(limited).await.unwrap();
    let cid = "default:limits";
    let (mut alice, _) = server.join("alice", cid).await;

    // 20 tracks asked for: 16 published, the rest refused.
    for i in 0..20 {
        assert!(alice.send(add_track(i)).await);
        tokio::time::sleep(Duration::from_millis(60)).await; // under the rate
    }
    let (mut published, mut refused) = (0, 0);
    while published + refused < 20 {
        match alice.next(WAIT).await {
            Some(Out::TrackPublished(_)) => published += 1,
            Some(Out::RequestResponse(_)) => refused += 1,
            Some(_) => {}
            None => panic!("alice was cut off after {published} + {refused}"),
        }
    }
    assert_eq!((published, refused), (16, 4));

    // Huge subscription and settings messages are cut to the limit, and
    // hold no memory; another user still joins at once.
    let before = server.onair.rss_kib();
    let ids: Vec<String> = (0..50_000).map(|i| format!("TR_{i:012}")).collect();
    for _ in 0..4 {
        alice
            .send(In::Subscription(lk::UpdateSubscription {
                track_sids: ids.clone(),
                subscribe: true,
                ..Default::default()
            }))
            .await;
        alice
            .send(In::TrackSetting(lk::UpdateTrackSettings {
                track_sids: ids.clone(),
                quality: 2,
                ..Default::default()
            }))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let joining = std::time::Instant::now();
    let (_bob, _) = server.join("bob", cid).await;
    let join_took = joining.elapsed();
    let grown = server.onair.rss_kib().saturating_sub(before);
    println!("RSS after 4 x (50 000-id subscription + settings): +{grown} KiB; bob joined in {join_took:?}");
    assert!(grown < 20 * 1024, "the server kept {grown} KiB");

    // A flood of messages is dropped, then the client is disconnected.
    let (mut flooder, _) = server.join("flooder", cid).await;
    for _ in 0..1000 {
        if !flooder.send(In::Ping(1)).await {
            break;
        }
    }
    assert!(flooder.closed_within(WAIT).await, "the flooder stayed");
    let (_carol, _) = server.join("carol", cid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_costs_little_and_is_removed() {
    let server = tokio::task::spawn_blocking(limited).await.unwrap();
    let cid = "default:deaf";
    let (mut talker, _) = server.join("talker", cid).await;
    for i in 0..16 {
        talker.send(add_track(i)).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut sids = Vec::new();
    while sids.len() < 16 {
        if let Some(Out::TrackPublished(p)) = talker.next(WAIT).await {
            sids.push(p.track.unwrap().sid);
        }
    }
    // deaf joins and never reads (nor writes) again; talker mutes and
    // unmutes its tracks. Updates about talker coalesce in deaf's queue once
    // its socket is full; the write times out and deaf, silent, is removed.
    let (deaf, _) = server.join("deaf", cid).await;
    let before = server.onair.rss_kib();
    let mut sent = 0;
    for round in 0..3000 {
        let sid = &sids[round % sids.len()];
        let muted = (round / sids.len()) % 2 == 0;
        talker
            .send(In::Mute(lk::MuteTrackRequest {
                sid: sid.clone(),
                muted,
            }))
            .await;
        sent += 1;
        if round % 10 == 9 {
            // Stay under the rate limit; read what talker is sent.
            while talker.next(Duration::from_millis(1)).await.is_some() {}
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        if round % 200 == 199 && is_gone(&server, cid, "deaf").await {
            break;
        }
    }
    let deadline = std::time::Instant::now() + WAIT;
    while !is_gone(&server, cid, "deaf").await {
        assert!(
            std::time::Instant::now() < deadline,
            "deaf stayed after {sent} updates"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let grown = server.onair.rss_kib().saturating_sub(before);
    println!("deaf removed after {sent} mute toggles; RSS +{grown} KiB");
    assert!(grown < 20 * 1024, "the server kept {grown} KiB");
    drop(deaf);
}

async fn is_gone(server: &Limited, cid: &str, user: &str) -> bool {
    let (ty, id) = cid.split_once(':').unwrap();
    let token = support::tokens::server(&server.key);
    let (_, body) = support::call::request(
        &server.onair.url,
        &token,
        Method::GET,
        &format!("/calls/{ty}/{id}/participants"),
        json!(null),
    )
    .await;
    !body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["user_id"] == user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_clients_get_fresh_join_tokens() {
    let call = Call::start_with(&["--join-token-ttl", "10s"]);
    let keys = KeySet::new([dev_key(call.data.path())]);
    let creds = call.credentials("alice", "default:fresh").await;
    let old = verify_join(&creds.token, &keys, unix_now()).unwrap();
    assert!(old.exp <= unix_now() + 10, "join tokens live 10 s here");
    let (mut ws, first) = signal::join(&creds.url, &creds.token).await.joined();
    let Some(Out::Join(join)) = first else {
        panic!("{first:?}")
    };
    let sid = join.participant.unwrap().sid;
    let fresh = ws
        .find(Duration::from_secs(8), |m| match m {
            Out::RefreshToken(t) => Some(t.clone()),
            _ => None,
        })
        .await
        .expect("no refresh_token within 8 s");
    let claims = verify_join(&fresh, &keys, unix_now()).unwrap();
    assert!(claims.exp > old.exp, "{} <= {}", claims.exp, old.exp);
    assert_eq!(
        (claims.sub.as_str(), claims.video.room.as_str()),
        ("alice", "default:fresh")
    );
    // Past the old token's life, the fresh one still resumes the session.
    tokio::time::sleep(Duration::from_secs(old.exp - unix_now() + 1)).await;
    let (status, body) = signal::join(&creds.url, &creds.token).await.refused();
    assert_eq!(status, 401, "{body}");
    let query = format!("access_token={fresh}&reconnect=1&sid={sid}");
    let (_resumed, first) = signal::open(&creds.url, &query).await.joined();
    assert!(matches!(first, Some(Out::Reconnect(_))), "{first:?}");
}
