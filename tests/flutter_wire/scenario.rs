//! Every REST request and events-socket exchange of `onair_flutter`, in
//! the order an app makes them: devices, a livestream from backstage to
//! its end (watched by a non-member's socket, HLS that a
//! `LivestreamPlayer` would play, recordings, an RTMP push, moderation,
//! reactions, custom events, permissions, members), rings accepted,
//! rejected and cancelled, a socket resumed with `after`, and a socket
//! kept open past OnAir's 60 s silence limit by answering health checks.

use std::time::Duration;

use serde_json::Value;

use super::support::call::Call;
use super::wire::{DartSocket, Wire};

const WAIT: Duration = Duration::from_secs(15);
/// HLS and recordings start GStreamer pipelines: slower on a busy machine.
const EGRESS_WAIT: Duration = Duration::from_secs(60);

struct Users {
    tokens: Vec<(String, String)>,
}

impl Users {
    fn new(call: &Call) -> Users {
        let tokens = ["alice", "bob", "carol", "dave"]
            .map(|u| {
                (
                    u.to_owned(),
                    call.token(&["user", "--user", u, "--name", &u.to_uppercase()]),
                )
            })
            .to_vec();
        Users { tokens }
    }

    fn token(&self, user: &str) -> &str {
        &self.tokens.iter().find(|(u, _)| u == user).unwrap().1
    }
}

/// Sends `name` as `user` about call `ty:id` and checks the status.
async fn expect(
    wire: &Wire,
    users: &Users,
    user: &str,
    name: &str,
    call: (&str, &str),
    extra: &[(&str, &str)],
    status: u16,
) -> Value {
    let mut vars = vec![("type", call.0), ("id", call.1)];
    vars.extend_from_slice(extra);
    let (got, body) = wire.send(name, users.token(user), &vars).await;
    assert_eq!(
        got, status,
        "{user} {name} on {}:{}: {body}",
        call.0, call.1
    );
    body
}

pub async fn run() {
    let call = Call::start_with(&["--allow-private-targets"]);
    let wire = Wire::load(&call.onair.url);
    let users = Users::new(&call);
    let mut alice = DartSocket::open(&wire, users.token("alice"), None)
        .await
        .unwrap();
    let mut bob = DartSocket::open(&wire, users.token("bob"), None)
        .await
        .unwrap();
    let mut carol = DartSocket::open(&wire, users.token("carol"), None)
        .await
        .unwrap();
    assert_eq!(bob.ok["user_id"], "bob");
    assert!(
        bob.ok["connection_id"].is_string() && bob.ok["last_event_id"].is_string(),
        "{}",
        bob.ok
    );

    devices(&wire, &users).await;
    livestream(&wire, &users, &mut alice, &mut bob, &mut carol).await;
    rings(&wire, &users, &mut alice, &mut bob).await;
    resume(&wire, &users, bob).await;
    refusals(&wire).await;

    // alice's socket has been open past OnAir's 60 s silence limit: her
    // health replies (the Dart code's) kept it.
    let open_for = Duration::from_secs(65);
    tokio::time::sleep(open_for.saturating_sub(alice.opened.elapsed())).await;
    expect(
        &wire,
        &users,
        "bob",
        "sendCustomEvent",
        ("default", "wire-ring-1"),
        &[],
        200,
    )
    .await;
    // (alice's own custom events of `resume` come first, unread till now.)
    let mut late = alice.until("custom", "default:wire-ring-1", WAIT).await;
    while late["user_id"] == "alice" {
        late = alice.until("custom", "default:wire-ring-1", WAIT).await;
    }
    assert_eq!(late["user_id"], "bob");
    assert!(
        alice.health_replies() >= 2,
        "answered {} health checks",
        alice.health_replies()
    );

    let unused = wire.unused();
    assert!(
        unused.is_empty(),
        "requests of wire.json never sent: {unused:?}"
    );
}

async fn devices(wire: &Wire, users: &Users) {
    let none = ("", "");
    expect(wire, users, "bob", "devices.add", none, &[], 201).await;
    expect(wire, users, "bob", "devices.addVoip", none, &[], 201).await;
    let list = expect(wire, users, "bob", "devices.list", none, &[], 200).await;
    let ids = |list: &Value| -> Vec<String> {
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&list), ["fcm-wire-token", "apns-voip-wire-token"]);
    assert_eq!(list["devices"][1]["voip"], true);
    expect(wire, users, "bob", "devices.remove", none, &[], 200).await;
    let list = expect(wire, users, "bob", "devices.list", none, &[], 200).await;
    assert_eq!(ids(&list), ["apns-voip-wire-token"]);
}

async fn livestream(
    wire: &Wire,
    users: &Users,
    alice: &mut DartSocket,
    bob: &mut DartSocket,
    carol: &mut DartSocket,
) {
    let show = ("livestream", "wire-show");
    let cid = "livestream:wire-show";
    let conn = |s: &DartSocket| s.ok["connection_id"].as_str().unwrap().to_owned();
    let (alice_conn, carol_conn) = (conn(alice), conn(carol));
    let created = expect(
        wire,
        users,
        "alice",
        "getOrCreate",
        show,
        &[("connection_id", &alice_conn)],
        201,
    )
    .await;
    assert_eq!(
        (
            created["created"].as_bool(),
            created["call"]["backstage"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let roles: Vec<(&str, &str)> = created["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert!(
        roles.contains(&("alice", "host")) && roles.iter().any(|(u, _)| *u == "bob"),
        "{roles:?}"
    );

    // carol is no member: `get` with her connection makes her socket watch.
    expect(
        wire,
        users,
        "carol",
        "get",
        show,
        &[("connection_id", &carol_conn)],
        200,
    )
    .await;
    expect(wire, users, "alice", "update", show, &[], 200).await;
    let updated = carol.until("call.updated", cid, WAIT).await;
    assert_eq!(updated["custom"]["topic"], "updated");

    let joined = expect(wire, users, "alice", "join", show, &[], 200).await;
    let credentials = &joined["credentials"];
    assert!(
        credentials["url"].as_str().unwrap().starts_with("ws") && credentials["token"].is_string(),
        "{joined}"
    );
    assert!(
        credentials["ice_servers"].is_array()
            && joined["role"] == "host"
            && joined["waiting"] == false,
        "{joined}"
    );
    let refused = expect(wire, users, "bob", "join.existing", show, &[], 403).await;
    assert_eq!(
        (refused["code"].as_str(), refused["message"].is_string()),
        (Some("backstage"), true)
    );

    let live = expect(wire, users, "alice", "goLive", show, &[], 200).await;
    assert_eq!(live["call"]["backstage"], false);
    carol.until("call.live_started", cid, WAIT).await;
    hls(wire, users, show, carol).await;
    recordings_and_rtmp(wire, users, show, carol).await;
    moderation(wire, users, show, alice, bob).await;

    expect(wire, users, "alice", "updateMembers", show, &[], 200).await;
    let members = expect(wire, users, "alice", "members", show, &[], 200).await;
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == "dave" && m["role"] == "call_member"),
        "{members}"
    );
    let participants = expect(wire, users, "alice", "participants", show, &[], 200).await;
    assert!(participants["participants"].is_array(), "{participants}");
    expect(wire, users, "alice", "stopLive", show, &[], 200).await;
    carol.until("call.live_stopped", cid, WAIT).await;
    let ended = expect(wire, users, "alice", "end", show, &[], 200).await;
    assert!(ended["call"]["ended_at"].is_string(), "{ended}");
    carol.until("call.ended", cid, WAIT).await;
}

/// `goLive(startHls: true)` started HLS: the playlist reaches the call's
/// `egress.hls.playlist_url` (what `LivestreamPlayer` falls back to) and
/// plays without a token, as `video_player` fetches it.
async fn hls(wire: &Wire, users: &Users, show: (&str, &str), carol: &mut DartSocket) {
    let cid = format!("{}:{}", show.0, show.1);
    let started = carol
        .until("call.hls_broadcasting_started", &cid, EGRESS_WAIT)
        .await;
    let url = started["playlist_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_owned();
    let (status, body) = wire
        .send(
            "get",
            users.token("carol"),
            &[
                ("type", show.0),
                ("id", show.1),
                ("connection_id", carol.ok["connection_id"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Each answer signs the URL anew (its expiry is counted from now), so
    // only the file it names must be the same.
    let file = |u: &str| u.rsplit_once("/hls/").map(|(_, f)| f.to_owned());
    let listed = body["call"]["egress"]["hls"]["playlist_url"].as_str();
    assert_eq!(listed.and_then(file), file(&url), "{body}");
    let mut playlist = String::new();
    let deadline = std::time::Instant::now() + EGRESS_WAIT;
    while !playlist.starts_with("#EXTM3U") && std::time::Instant::now() < deadline {
        let resp = reqwest::get(&url).await.unwrap();
        playlist = if resp.status().is_success() {
            resp.text().await.unwrap()
        } else {
            String::new()
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(playlist.starts_with("#EXTM3U"), "no playlist at {url}");
    expect(wire, users, "alice", "stopHls", show, &[], 200).await;
    // A new broadcast waits until the last one has finished its files.
    carol
        .until("call.hls_broadcasting_stopped", &cid, EGRESS_WAIT)
        .await;
    let again = expect(wire, users, "alice", "startHls", show, &[], 201).await;
    assert!(again["hls"]["id"].is_string(), "{again}");
    expect(wire, users, "alice", "stopHls", show, &[], 200).await;
}

async fn recordings_and_rtmp(
    wire: &Wire,
    users: &Users,
    show: (&str, &str),
    carol: &mut DartSocket,
) {
    let cid = format!("{}:{}", show.0, show.1);
    expect(wire, users, "alice", "stopRecording", show, &[], 200).await;
    carol
        .until("call.recording_stopped", &cid, EGRESS_WAIT)
        .await;
    let listed = expect(wire, users, "alice", "listRecordings", show, &[], 200).await;
    assert!(
        !listed["recordings"].as_array().unwrap().is_empty(),
        "{listed}"
    );
    let started = expect(wire, users, "alice", "startRecording", show, &[], 201).await;
    assert!(started["recording"]["id"].is_string(), "{started}");
    expect(wire, users, "alice", "stopRecording", show, &[], 200).await;
    // Nothing listens there: the push retries until stopped.
    let rtmp_url = [("rtmp_url", "rtmp://127.0.0.1:9/live")];
    let pushing = expect(
        wire,
        users,
        "alice",
        "startRtmpBroadcast",
        show,
        &rtmp_url,
        201,
    )
    .await;
    assert_eq!(pushing["rtmp"]["name"], "youtube");
    assert!(
        !pushing.to_string().contains("wire-key"),
        "the stream key is never echoed: {pushing}"
    );
    expect(wire, users, "alice", "stopRtmpBroadcast", show, &[], 200).await;
}

async fn moderation(
    wire: &Wire,
    users: &Users,
    show: (&str, &str),
    alice: &mut DartSocket,
    bob: &mut DartSocket,
) {
    let cid = format!("{}:{}", show.0, show.1);
    expect(wire, users, "bob", "join.existing", show, &[], 200).await;
    expect(wire, users, "bob", "sendReaction", show, &[], 200).await;
    let reaction = alice.until("call.reaction_new", &cid, WAIT).await;
    assert_eq!(
        (
            reaction["reaction"]["type"].as_str(),
            reaction["reaction"]["emoji_code"].as_str()
        ),
        (Some("like"), Some(":heart:"))
    );
    expect(wire, users, "alice", "sendCustomEvent", show, &[], 200).await;
    let custom = bob.until("custom", &cid, WAIT).await;
    assert_eq!(custom["custom"]["question"], "Coffee?");
    expect(wire, users, "bob", "requestPermissions", show, &[], 200).await;
    let asked = alice.until("call.permission_request", &cid, WAIT).await;
    assert_eq!(asked["permissions"][0], "send-audio");
    expect(
        wire,
        users,
        "alice",
        "updateUserPermissions",
        show,
        &[],
        200,
    )
    .await;
    let granted = bob.until("call.permissions_updated", &cid, WAIT).await;
    assert_eq!(granted["granted"][0], "send-audio");
    expect(wire, users, "alice", "muteUsers", show, &[], 200).await;
    let muted = bob.until("call.user_muted", &cid, WAIT).await;
    assert_eq!(
        (muted["user_ids"][0].as_str(), muted["audio"].as_bool()),
        (Some("bob"), Some(true))
    );
    expect(wire, users, "alice", "kickUser", show, &[], 200).await;
    bob.until("call.kicked_user", &cid, WAIT).await;
    let blocked = expect(wire, users, "alice", "blockUsers", show, &[], 200).await;
    assert_eq!(blocked["blocked_user_ids"][0], "bob");
    let refused = expect(wire, users, "bob", "join.existing", show, &[], 403).await;
    assert_eq!(refused["code"], "blocked");
    let unblocked = expect(wire, users, "alice", "unblockUsers", show, &[], 200).await;
    assert_eq!(unblocked["blocked_user_ids"], serde_json::json!([]));
}

/// Rings as `Call.getOrCreate(ring: true)`, `ring()`, `accept()`,
/// `reject()` and `leave(reject: true)` by the caller (`cancel`) send them.
async fn rings(wire: &Wire, users: &Users, alice: &mut DartSocket, bob: &mut DartSocket) {
    let one = ("default", "wire-ring-1");
    expect(wire, users, "alice", "getOrCreate.ring", one, &[], 201).await;
    let ring = bob.until("call.ring", "default:wire-ring-1", WAIT).await;
    assert_eq!(
        (ring["user_id"].as_str(), ring["video"].as_bool()),
        (Some("alice"), Some(false))
    );
    assert_eq!(ring["ringing"], serde_json::json!(["bob"]));
    expect(wire, users, "bob", "accept", one, &[], 200).await;
    let accepted = alice
        .until("call.accepted", "default:wire-ring-1", WAIT)
        .await;
    assert_eq!(
        (accepted["user_id"].as_str(), &accepted["stop_ringing"]),
        (Some("bob"), &serde_json::json!(["bob"]))
    );

    let alice_conn = alice.ok["connection_id"].as_str().unwrap().to_owned();
    let two = ("default", "wire-ring-2");
    expect(
        wire,
        users,
        "alice",
        "getOrCreate",
        two,
        &[("connection_id", &alice_conn)],
        201,
    )
    .await;
    expect(wire, users, "alice", "ring", two, &[], 201).await;
    assert_eq!(
        bob.until("call.ring", "default:wire-ring-2", WAIT).await["video"],
        true
    );
    expect(wire, users, "bob", "reject", two, &[], 200).await;
    let rejected = alice
        .until("call.rejected", "default:wire-ring-2", WAIT)
        .await;
    assert_eq!(
        (
            rejected["reason"].as_str(),
            rejected["ring_ended"].as_bool()
        ),
        (Some("decline"), Some(true))
    );

    let three = ("default", "wire-ring-3");
    expect(
        wire,
        users,
        "alice",
        "getOrCreate",
        three,
        &[("connection_id", &alice_conn)],
        201,
    )
    .await;
    expect(wire, users, "alice", "ring", three, &[], 201).await;
    bob.until("call.ring", "default:wire-ring-3", WAIT).await;
    expect(wire, users, "alice", "reject.cancel", three, &[], 200).await;
    let cancelled = bob
        .until("call.rejected", "default:wire-ring-3", WAIT)
        .await;
    assert_eq!(
        (cancelled["reason"].as_str(), &cancelled["stop_ringing"]),
        (Some("cancel"), &serde_json::json!(["bob"]))
    );
    let missed = bob.until("call.missed", "default:wire-ring-3", WAIT).await;
    assert_eq!(missed["members"], serde_json::json!(["bob"]));
}

/// `EventSocket` after a dropped connection: `?after=<last id>`, the
/// missed event replayed before a new one, nothing twice (`DartSocket`
/// checks every id is after the last).
async fn resume(wire: &Wire, users: &Users, bob: DartSocket) {
    let last = bob.close().await.expect("bob saw events");
    let one = ("default", "wire-ring-1");
    expect(wire, users, "alice", "sendCustomEvent", one, &[], 200).await;
    let mut bob = DartSocket::open(wire, users.token("bob"), Some(&last))
        .await
        .unwrap();
    assert_eq!(bob.ok["last_event_id"].as_str(), Some(last.as_str()));
    bob.reply_health(wire);
    // Events of egress jobs finishing may come first; the missed one comes
    // before anything sent after the reconnection.
    let missed = bob.until("custom", "default:wire-ring-1", WAIT).await;
    expect(wire, users, "alice", "sendCustomEvent", one, &[], 200).await;
    let live = bob.until("custom", "default:wire-ring-1", WAIT).await;
    assert!(super::wire::id_after(
        live["id"].as_str().unwrap(),
        missed["id"].as_str().unwrap()
    ));
}

/// What `EventSocket` reads from a refused socket: `connection.error`
/// with the code it switches on (a token problem: refresh once).
async fn refusals(wire: &Wire) {
    let refused = DartSocket::open(wire, "not-a-token", None)
        .await
        .err()
        .expect("let in");
    assert_eq!(
        (refused["type"].as_str(), refused["error"]["code"].as_str()),
        (Some("connection.error"), Some("malformed_token"))
    );
    let (status, body) = wire
        .send(
            "get",
            "not-a-token",
            &[
                ("type", "default"),
                ("id", "wire-ring-1"),
                ("connection_id", "x"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("malformed_token")),
        "{body}"
    );
}
