//! The probes of issue 10, run against the real binary: join tokens that
//! outlive kicks, blocks and ends; a room state taken from a token; full
//! calls; clients that flood, hoard or stop reading; tokens in logs;
//! private files; the dev token route under DNS rebinding; weak secrets.
//! The REST side (token kinds, self-promotion, who reads what, push
//! targets) is in `api/tests/access.rs`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use onair_auth::token::verify_join;
use onair_auth::{ApiKey, KeySet};
use onair_client::{api, Client};
use reqwest::Method;
use serde_json::json;
use support::call::{camera, Call};
use support::signal::{self, is_leave, Opened};

const WAIT: Duration = Duration::from_secs(20);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn api(
    call: &Call,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (status, body) = call.api(method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_blocks_and_ends_hold_at_the_sfu() {
    let call = Call::start();
    let cid = "default:held";
    let alice = call.join("alice", cid).await;

    // Kicked: the join token in hand no longer admits; a new REST join does.
    let bob = call.credentials("bob", cid).await;
    let (mut ws, first) = signal::join(&bob.url, &bob.token).await.joined();
    assert!(matches!(first, Some(Out::Join(_))), "{first:?}");
    api(
        &call,
        Method::POST,
        "/calls/default/held/kick_user",
        json!({"user_id": "bob"}),
    )
    .await;
    assert!(ws
        .find(WAIT, |m| is_leave(&Some(m.clone())).then_some(()))
        .await
        .is_some());
    let (status, body) = signal::join(&bob.url, &bob.token).await.refused();
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("kicked"), "{body}");
    let again = call.credentials("bob", cid).await;
    let (_ws, first) = signal::join(&again.url, &again.token).await.joined();
    assert!(
        matches!(first, Some(Out::Join(_))),
        "kicked users may come back: {first:?}"
    );

    // Blocked: refused at REST and at the SFU, whatever token they hold.
    api(
        &call,
        Method::POST,
        "/calls/default/held/kick_user",
        json!({"user_id": "bob", "block": true}),
    )
    .await;
    let (status, body) = signal::join(&again.url, &again.token).await.refused();
    assert_eq!(
        (status, body.split(':').next()),
        (403, Some("blocked")),
        "{body}"
    );
    let user = call.token(&["user", "--user", "bob"]);
    let refused = api::join(&call.onair.url, &user, cid, false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A user token is no join token.
    let (status, body) = signal::join(&again.url, &user).await.refused();
    assert_eq!(status, 401, "{body}");
    assert!(body.starts_with("wrong_token_kind"), "{body}");

    // Ended: a token minted before the end no longer admits.
    let carol = call.credentials("carol", cid).await;
    api(&call, Method::POST, "/calls/default/held/end", json!({})).await;
    alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("alice stayed after the end: {s:?}"));
    let (status, body) = signal::join(&carol.url, &carol.token).await.refused();
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("session_ended"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_takes_the_calls_state_not_a_tokens() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/livestream/stage",
        json!({"data": {"members": [{"user_id": "host", "role": "host"}]}}),
    )
    .await;
    // The host's token is minted in backstage and used after go_live.
    let host = call.credentials("host", "livestream:stage").await;
    let keys = KeySet::new([dev_key(call.data.path())]);
    let claims = verify_join(&host.token, &keys, unix_now()).unwrap();
    assert!(claims.onair.unwrap().backstage, "minted in backstage");
    api(
        &call,
        Method::POST,
        "/calls/livestream/stage/go_live",
        json!({}),
    )
    .await;
    let host = Client::connect(&host.url, &host.token).await.unwrap();
    host.publish(camera(false)).await.unwrap();
    let viewer = call.join("viewer", "livestream:stage").await;
    viewer
        .wait_for(WAIT, |s| {
            s.tracks
                .values()
                .any(|t| t.identity == "host" && t.kind == "video" && t.frames > 10)
        })
        .await
        .unwrap_or_else(|s| panic!("the room kept the token's backstage: {s:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_refuses_at_the_sfu() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/default/small",
        json!({"data": {"settings_override": {"limits": {"max_participants": 1}}}}),
    )
    .await;
    // Both get join tokens while the call is empty; only one gets in.
    let alice = call.credentials("alice", "default:small").await;
    let bob = call.credentials("bob", "default:small").await;
    let (_alice, first) = signal::join(&alice.url, &alice.token).await.joined();
    assert!(matches!(first, Some(Out::Join(_))));
    let (mut ws, first) = signal::join(&bob.url, &bob.token).await.joined();
    let Some(Out::Leave(leave)) = first else {
        panic!("bob got into a full call: {first:?}");
    };
    assert_eq!(leave.reason, lk::DisconnectReason::JoinFailure as i32);
    assert!(ws.closed_within(WAIT).await);
    // And REST says so before anyone tries.
    let user = call.token(&["user", "--user", "carol"]);
    let refused = api::join(&call.onair.url, &user, "default:small", false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("call_full"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_itself_at_its_max_duration() {
    let call = Call::start();
    api(
        &call,
        Method::POST,
        "/calls/default/short",
        json!({"data": {"settings_override": {"limits": {"max_duration_seconds": 3}}}}),
    )
    .await;
    let started = std::time::Instant::now();
    let alice = call.join("alice", "default:short").await;
    let s = alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("the call outlived its max duration: {s:?}"));
    let lasted = started.elapsed();
    println!(
        "max_duration_seconds = 3: ended after {lasted:?} ({:?})",
        s.closed
    );
    assert!(lasted >= Duration::from_secs(3), "ended after {lasted:?}");
    let body = api(&call, Method::GET, "/calls/default/short", json!(null)).await;
    assert!(body["call"]["ended_at"].is_string(), "{body}");
    let user = call.token(&["user", "--user", "bob"]);
    let refused = api::join(&call.onair.url, &user, "default:short", false)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 409, "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_bus_event_is_repaired_from_the_store() {
    let call = Call::start();
    let alice = call.join("alice", "default:lost").await;
    // The call ends in the store while its event never travels (as when a
    // subscriber lagged or Redis was down).
    let db = call.data.path().join("onair.db");
    let ended = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], timeout=10); \
             t = int(time.time() * 1000); \
             c.execute(\"UPDATE calls SET ended_at = ? WHERE cid = 'default:lost'\", (t,)); \
             c.execute(\"UPDATE sessions SET ended_at = ? WHERE call_cid = 'default:lost'\", (t,)); c.commit()",
        ])
        .arg(&db)
        .status()
        .unwrap();
    assert!(ended.success());
    let started = std::time::Instant::now();
    alice
        .wait_for(WAIT, |s| s.closed.is_some())
        .await
        .unwrap_or_else(|s| panic!("the room never learnt the call ended: {s:?}"));
    println!(
        "a call ended without its event: room closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_stop_is_repaired_from_the_store() {
    let call = Call::start();
    let alice = call.join("alice", "default:nostop").await;
    alice.publish(camera(false)).await.unwrap();
    let path = "/calls/default/nostop";
    api(
        &call,
        Method::POST,
        &format!("{path}/recordings/start"),
        json!({}),
    )
    .await;
    let token = call.token(&["server"]);
    support::call::recording_in(&call.onair.url, &token, path, "active", WAIT).await;
    // The API moves the job to `ending` while its stop event never travels.
    let db = call.data.path().join("onair.db");
    let stopped = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); \
             c.execute(\"UPDATE egress SET state = 'ending' WHERE call_cid = 'default:nostop'\"); c.commit()",
        ])
        .arg(&db)
        .status()
        .unwrap();
    assert!(stopped.success());
    let recording =
        support::call::recording_in(&call.onair.url, &token, path, "complete", WAIT).await;
    println!(
        "a stop without its event: recording complete, {} s",
        recording["duration"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_jobs_in_an_empty_call_all_start() {
    // Five jobs at once in a call nobody is in: the first recorder starts
    // the room while the bus already carries the next jobs' requests for
    // that call (those events closed the new room before its first join).
    let call = Call::start_with(&["--allow-private-targets"]);
    api(&call, Method::POST, "/calls/default/burst", json!({})).await;
    let dead = onair_testkit::free_port();
    let mut requests = vec![
        (
            "/calls/default/burst/recordings/start".to_owned(),
            json!({}),
        ),
        ("/calls/default/burst/hls/start".to_owned(), json!({})),
    ];
    for i in 0..3 {
        let push = json!({"name": format!("t{i}"), "stream_url": format!("rtmp://127.0.0.1:{dead}/live"), "stream_key": "k"});
        requests.push(("/calls/default/burst/rtmp_broadcasts".to_owned(), push));
    }
    let sent = requests
        .iter()
        .map(|(path, body)| call.api(Method::POST, path, body.clone()));
    for (status, body) in futures::future::join_all(sent).await {
        assert_eq!(status, 201, "{body}");
    }
    let token = call.token(&["server"]);
    let path = "/calls/default/burst";
    support::call::recording_in(&call.onair.url, &token, path, "active", WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let body = api(&call, Method::GET, path, json!(null)).await;
        let hls = body["call"]["egress"]["hls"]["state"].clone();
        assert_ne!(hls, "failed", "{body}");
        if hls == "active" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "HLS never active: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The dev key pair `onair dev` keeps in its data dir.
fn dev_key(data: &Path) -> ApiKey {
    let text = std::fs::read_to_string(data.join("keys.toml")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.split('"').nth(1))
            .unwrap()
            .to_owned()
    };
    ApiKey::new(field("key"), field("secret"))
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_and_files() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("onair.log");
    let onair = support::dev_logged(&data.path().join("data"), &[], Some(&log));
    let call_dir = data.path().join("data");
    let key = dev_key(&call_dir);
    let user = support::tokens::user(&key, "alice");
    let creds = api::join(&onair.url, &user, "default:quiet", true)
        .await
        .unwrap();
    let (_ws, _) = signal::join(&creds.url, &creds.token).await.joined();
    // Refused tokens are logged by reason, never verbatim.
    let forged = format!("{}x", creds.token);
    assert!(matches!(
        signal::join(&creds.url, &forged).await,
        Opened::Refused(401, _)
    ));
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/v1/calls/default/quiet", onair.url))
        .bearer_auth(&creds.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A token in the query is not read by REST.
    let resp = client
        .get(format!("{}/v1/calls/default/quiet?token={user}", onair.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The dev token route answers its own host only (DNS rebinding).
    let resp = client
        .post(format!("{}/dev/token", onair.url))
        .header("host", "rebind.example:80")
        .json(&json!({"user_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client
        .post(format!("{}/dev/token", onair.url))
        .json(&json!({"user_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(onair);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 10,
        "the log is too thin to tell: {text}"
    );
    for (what, secret) in [
        ("user token", user.as_str()),
        ("join token", creds.token.as_str()),
        ("API secret", key.secret.as_str()),
    ] {
        // The signature part alone must not appear either.
        let tail = secret.rsplit('.').next().unwrap();
        assert!(!text.contains(tail), "the {what} is in the log");
    }

    // Data dir 0700, database and keys 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&call_dir), 0o700);
    for name in ["keys.toml", "onair.db"] {
        assert_eq!(mode(&call_dir.join(name)), 0o600, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_recordings() {
    let Call { mut onair, data } = Call::start();
    let token = support::tokens::server(&dev_key(data.path()));
    let user = support::tokens::user(&dev_key(data.path()), "alice");
    let creds = api::join(&onair.url, &user, "default:term", true)
        .await
        .unwrap();
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    alice.publish(support::call::microphone()).await.unwrap();
    let path = "/calls/default/term";
    let (status, body) = support::call::request(
        &onair.url,
        &token,
        Method::POST,
        &format!("{path}/recordings/start"),
        json!({"preset": "360p"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    support::call::recording_in(&onair.url, &token, path, "active", WAIT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // SIGTERM: new work is refused while the recording finishes.
    let url = onair.url.clone();
    let exited = tokio::task::spawn_blocking(move || {
        let status = onair.terminate(Duration::from_secs(40));
        (onair, status)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(resp) = reqwest::get(format!("{url}/readyz")).await {
        assert_eq!(resp.status(), 503, "ready while shutting down");
    }
    let (onair, status) = exited.await.unwrap();
    let status = status.expect("no exit within 40 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(onair);
    alice.abort();

    // The next start finds the recording complete and playable.
    let onair = support::dev(data.path(), &[]);
    let recording = support::call::recording_in(&onair.url, &token, path, "complete", WAIT).await;
    let id = recording["id"].as_str().unwrap();
    let file = data
        .path()
        .join(format!("recordings/default_term/{id}.mp4"));
    let info = support::probe::probe(&file);
    let duration = support::probe::number(&info["format"]["duration"]);
    println!("SIGTERM 4 s into a recording: job complete, {duration:.2} s playable");
    assert!(duration >= 3.0, "only {duration} s");
    assert_eq!(support::probe::codecs(&info), ["aac", "h264"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_recording_starts_on_a_full_disk() {
    // Ask for more free space than any disk has.
    let call = Call::start_with(&["--min-free-space", "1000000000000000000"]);
    let alice = call.join("alice", "default:full").await;
    alice.publish(camera(false)).await.unwrap();
    let body = api(
        &call,
        Method::POST,
        "/calls/default/full/recordings/start",
        json!({}),
    )
    .await;
    assert_eq!(body["recording"]["state"], "starting", "{body}");
    let token = call.token(&["server"]);
    let failed = support::call::recording_in(
        &call.onair.url,
        &token,
        "/calls/default/full",
        "failed",
        WAIT,
    )
    .await;
    let why = failed["error"].as_str().unwrap_or("");
    assert!(why.starts_with("not enough disk space"), "{failed}");
    println!("recording refused: {why}");
}

#[test]
fn serve_refuses_short_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n[[api_keys]]\nkey = \"APIweak\"\nsecret = \"short-secret\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(support::bin())
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("ONAIR_API_KEY")
        .env_remove("ONAIR_API_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shorter than 32 bytes"), "{err}");
    assert!(
        !err.contains("short-secret"),
        "the secret was printed: {err}"
    );
}
