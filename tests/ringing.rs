//! Ringing end to end against `onair dev`, heard on the users' events
//! sockets: accept, reject, everyone rejects, the caller cancels, nobody
//! answers (→ missed), busy, ringing again, refusals, and a ring whose
//! timer falls due while the server is down.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::call::{request, Call};
use support::events::Socket;

const WAIT: Duration = Duration::from_secs(10);

/// Creates `default:{id}` with alice, bob and carol as members and ring
/// timeouts of `timeout_ms`.
async fn ring_call(call: &Call, id: &str, timeout_ms: u32) {
    let ring = json!({"auto_cancel_timeout_ms": timeout_ms, "incoming_call_timeout_ms": timeout_ms,
        "missed_call_timeout_ms": timeout_ms});
    let members = ["alice", "bob", "carol"].map(|u| json!({"user_id": u}));
    let data = json!({"data": {"members": members, "settings_override": {"ring": ring}}});
    let (status, body) = call
        .api(Method::POST, &format!("/calls/default/{id}"), data)
        .await;
    assert_eq!(status, 201, "{body}");
}

struct Users {
    base: String,
    tokens: Vec<(String, String)>,
}

impl Users {
    fn new(call: &Call) -> Users {
        let tokens = ["alice", "bob", "carol", "dave"]
            .map(|u| (u.to_owned(), call.token(&["user", "--user", u])))
            .to_vec();
        Users {
            base: call.onair.url.clone(),
            tokens,
        }
    }

    fn token(&self, user: &str) -> &str {
        &self.tokens.iter().find(|(u, _)| u == user).unwrap().1
    }

    async fn post(&self, user: &str, path: &str, body: Value) -> (u16, Value) {
        request(&self.base, self.token(user), Method::POST, path, body).await
    }

    async fn socket(&self, user: &str) -> Socket {
        Socket::open(&self.base, self.token(user), None, true)
            .await
            .unwrap()
    }
}

/// The next event of `event_type` about call `cid`.
async fn next_of(socket: &mut Socket, event_type: &str, cid: &str) -> Value {
    loop {
        let e = socket.until(event_type, WAIT).await.pop().unwrap();
        if e["call_cid"] == cid {
            return e;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_are_accepted_rejected_cancelled_and_missed() {
    let call = Call::start();
    let users = Users::new(&call);
    let (mut alice, mut bob, mut carol) = (
        users.socket("alice").await,
        users.socket("bob").await,
        users.socket("carol").await,
    );

    // Ring → accept.
    ring_call(&call, "one", 30_000).await;
    let (status, body) = users
        .post(
            "alice",
            "/calls/default/one/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let ring = next_of(&mut bob, "call.ring", "default:one").await;
    assert_eq!(
        (ring["user_id"].as_str(), ring["ringing"][0].as_str()),
        (Some("alice"), Some("bob"))
    );
    let (status, body) = users
        .post("bob", "/calls/default/one/accept", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let accepted = next_of(&mut alice, "call.accepted", "default:one").await;
    assert_eq!(accepted["user_id"], "bob");
    let (_, view) = request(
        &users.base,
        users.token("alice"),
        Method::GET,
        "/calls/default/one",
        Value::Null,
    )
    .await;
    let session = &view["call"]["session"];
    println!("session after the accept: {session}");

    // Ring → every callee rejects: the ring ends.
    ring_call(&call, "two", 30_000).await;
    users
        .post("alice", "/calls/default/two/ring", json!({}))
        .await;
    next_of(&mut carol, "call.ring", "default:two").await;
    users
        .post(
            "bob",
            "/calls/default/two/reject",
            json!({"reason": "decline"}),
        )
        .await;
    let (status, _) = users
        .post("carol", "/calls/default/two/reject", json!({}))
        .await;
    assert_eq!(status, 200);
    let rejected = next_of(&mut alice, "call.rejected", "default:two").await;
    assert_eq!(rejected["reason"], "decline");
    let (status, body) = users
        .post("bob", "/calls/default/two/accept", json!({}))
        .await;
    assert_eq!(status, 409, "the ring is over: {body}");
    // …and the same call may ring again.
    let (status, body) = users
        .post(
            "alice",
            "/calls/default/two/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201, "ringing again: {body}");
    users
        .post(
            "alice",
            "/calls/default/two/reject",
            json!({"reason": "cancel"}),
        )
        .await;

    // The caller cancels: every phone stops, the callees missed it.
    ring_call(&call, "three", 30_000).await;
    users
        .post("alice", "/calls/default/three/ring", json!({}))
        .await;
    let (status, _) = users
        .post(
            "alice",
            "/calls/default/three/reject",
            json!({"reason": "cancel"}),
        )
        .await;
    assert_eq!(status, 200);
    let stop = next_of(&mut bob, "call.rejected", "default:three").await;
    assert_eq!(
        (stop["user_id"].as_str(), stop["ring_ended"].as_bool()),
        (Some("alice"), Some(true))
    );
    let missed = next_of(&mut carol, "call.missed", "default:three").await;
    assert_eq!(missed["members"], json!(["bob", "carol"]));

    // Nobody answers: rejected on their behalf with `timeout`, then missed.
    ring_call(&call, "four", 1_000).await;
    users
        .post(
            "alice",
            "/calls/default/four/ring",
            json!({"members_ids": ["carol"]}),
        )
        .await;
    let timeout = next_of(&mut alice, "call.rejected", "default:four").await;
    assert_eq!(timeout["reason"], "timeout");
    let missed = next_of(&mut alice, "call.missed", "default:four").await;
    assert_eq!(missed["members"], json!(["carol"]));

    // Busy: bob rings in call five; a ring from call six gets `busy` at once.
    ring_call(&call, "five", 30_000).await;
    ring_call(&call, "six", 30_000).await;
    users
        .post(
            "alice",
            "/calls/default/five/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    users
        .post(
            "carol",
            "/calls/default/six/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    let busy = next_of(&mut carol, "call.rejected", "default:six").await;
    assert_eq!(
        (busy["user_id"].as_str(), busy["reason"].as_str()),
        (Some("bob"), Some("busy"))
    );
    let (_, view) = request(
        &users.base,
        users.token("carol"),
        Method::GET,
        "/calls/default/six",
        Value::Null,
    )
    .await;
    println!("call six: rejected_by {}", view["call"]["session"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_requests_are_checked() {
    let call = Call::start();
    let users = Users::new(&call);
    ring_call(&call, "abuse", 30_000).await;
    let path = "/calls/default/abuse";
    for (user, route, body, status) in [
        ("alice", "ring", json!({"members_ids": ["dave"]}), 422), // not a member
        ("alice", "ring", json!({"members_ids": ["../x"]}), 422),
        ("alice", "ring", json!({"members_ids": ["alice"]}), 422), // nobody else
        ("alice", "ring", json!({"color": "red"}), 422),
        ("dave", "ring", json!({}), 403), // no member, and a private call
        ("bob", "accept", json!({}), 404), // it never rang
        ("alice", "ring", json!({"members_ids": ["bob"]}), 201),
        ("alice", "ring", json!({"members_ids": ["carol"]}), 409), // still ringing
        ("carol", "accept", json!({}), 409),                       // not rung
        ("bob", "reject", json!({"reason": "bored"}), 422),
    ] {
        let (got, answer) = users
            .post(user, &format!("{path}/{route}"), body.clone())
            .await;
        assert_eq!(got, status, "{user} {route} {body}: {answer}");
        if got >= 400 {
            assert!(
                answer["code"].is_string() && answer["message"].is_string(),
                "{answer}"
            );
        }
    }
    let (status, body) = call
        .api(Method::POST, &format!("{path}/ring"), json!({}))
        .await;
    assert_eq!(status, 403, "a server token rings nobody: {body}");
    // Livestream viewers may not ring.
    call.api(
        Method::POST,
        "/calls/livestream/show",
        json!({"data": {"members": [{"user_id": "bob"}]}}),
    )
    .await;
    let (status, _) = users
        .post(
            "dave",
            "/calls/livestream/show/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_timer_due_while_the_server_was_down_fires_when_it_is_back() {
    let mut call = Call::start();
    let users = Users::new(&call);
    ring_call(&call, "restart", 3_000).await;
    let mut alice = users.socket("alice").await;
    users
        .post(
            "alice",
            "/calls/default/restart/ring",
            json!({"members_ids": ["bob"]}),
        )
        .await;
    let rang = next_of(&mut alice, "call.ring", "default:restart").await;
    // SIGKILL, down past the timeout, back on the same store.
    call.onair.kill();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    call.onair = support::dev(call.data.path(), &[]);
    let users = Users::new(&call);
    let after = rang["id"].as_str().unwrap();
    let mut alice = Socket::open(&users.base, users.token("alice"), Some(after), true)
        .await
        .unwrap();
    let timeout = next_of(&mut alice, "call.rejected", "default:restart").await;
    assert_eq!(
        (timeout["user_id"].as_str(), timeout["reason"].as_str()),
        (Some("bob"), Some("timeout"))
    );
    next_of(&mut alice, "call.missed", "default:restart").await;
}
