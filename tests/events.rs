//! Events end to end against `onair dev`: stored with the changes that
//! caused them and paged with `GET /v1/events`; heard live on the app's
//! socket (`/v1/connect`), resumed with `after` after a drop; custom
//! events and reactions; abuse of each.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::call::{request, Call};
use support::events::Socket;

const WAIT: Duration = Duration::from_secs(10);

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect()
}

async fn events_of(call: &Call, token: &str, query: &str) -> (u16, Value) {
    request(
        &call.onair.url,
        token,
        Method::GET,
        &format!("/events?{query}"),
        Value::Null,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_stored_with_their_events_and_paged() {
    let call = Call::start();
    let server = call.token(&["server"]);
    let alice = call.token(&["user", "--user", "alice"]);
    let members = json!({"data": {"members": [{"user_id": "alice"}, {"user_id": "bob"}]}});
    let (status, _) = call.api(Method::POST, "/calls/default/ev", members).await;
    assert_eq!(status, 201);
    call.api(
        Method::PATCH,
        "/calls/default/ev",
        json!({"custom": {"topic": "rust"}}),
    )
    .await;
    let add = json!({"update_members": [{"user_id": "carol", "role": "host"}]});
    call.api(Method::POST, "/calls/default/ev/members", add)
        .await;
    let remove = json!({"remove_members": ["carol"]});
    call.api(Method::POST, "/calls/default/ev/members", remove)
        .await;
    let (status, _) = call
        .api(Method::POST, "/calls/default/ev/end", json!({}))
        .await;
    assert_eq!(status, 200);
    call.api(Method::POST, "/calls/default/elsewhere", json!({}))
        .await;

    let (status, body) = events_of(&call, &server, "call_cid=default:ev").await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    println!("stored: {:?}", types(events));
    assert_eq!(
        types(events),
        [
            "call.created",
            "call.updated",
            "call.member_added",
            "call.member_updated",
            "call.member_removed",
            "call.ended"
        ]
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(events[1]["custom"]["topic"], "rust");
    assert_eq!(events[0]["members"][1]["user_id"], "bob");
    assert!(events
        .iter()
        .all(|e| e["call_cid"] == "default:ev" && e["created_at"].is_string()));

    // Pages: two at a time, from where the last page stopped.
    let (_, page) = events_of(&call, &server, "call_cid=default:ev&limit=2").await;
    assert_eq!(
        types(page["events"].as_array().unwrap()),
        ["call.created", "call.updated"]
    );
    let next = page["next"].as_str().unwrap();
    let (_, page) = events_of(
        &call,
        &server,
        &format!("call_cid=default:ev&limit=2&after={next}"),
    )
    .await;
    assert_eq!(page["events"][0]["type"], "call.member_added");

    // A user reads the events of their calls only.
    let (_, mine) = events_of(&call, &alice, "").await;
    let mine = mine["events"].as_array().unwrap();
    assert!(!mine.is_empty() && mine.iter().all(|e| e["call_cid"] == "default:ev"));

    // Abuse: each refusal is a 4xx with {code, message}.
    for (token, query, status) in [
        (server.as_str(), "limit=0", 422),
        (server.as_str(), "limit=5000", 422),
        (server.as_str(), "after=abc", 422),
        (server.as_str(), "after=-1", 422),
        (server.as_str(), "colour=red", 422),
        (server.as_str(), "call_cid=not-a-cid", 422),
        (alice.as_str(), "call_cid=default:nope", 404),
        ("", "", 401),
    ] {
        let (got, body) = events_of(&call, token, query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_hear_their_calls_live_and_catch_up_after_a_drop() {
    let call = Call::start();
    let base = call.onair.url.clone();
    let token = |u: &str| call.token(&["user", "--user", u]);
    let (alice_t, bob_t, carol_t) = (token("alice"), token("bob"), token("carol"));
    let mut alice = Socket::open(&base, &alice_t, None, true).await.unwrap();
    let mut bob = Socket::open(&base, &bob_t, None, false).await.unwrap();
    let mut carol = Socket::open(&base, &carol_t, None, false).await.unwrap();
    assert_eq!(bob.ok["user_id"], "bob");

    let members = json!({"data": {"members": [{"user_id": "alice"}, {"user_id": "bob"}]}});
    call.api(Method::POST, "/calls/default/sock", members).await;
    for socket in [&mut alice, &mut bob] {
        let seen = socket.until("call.created", WAIT).await;
        assert_eq!(seen.last().unwrap()["call_cid"], "default:sock");
    }
    // Carol is no member: she hears nothing of it…
    let heard = carol.drain(Duration::from_millis(500)).await;
    assert!(heard.is_empty(), "carol heard {heard:?}");
    // …until she watches it.
    let conn = carol.ok["connection_id"].as_str().unwrap().to_owned();
    let watch = format!("/calls/default/sock?connection_id={conn}");
    let (status, body) = request(&base, &carol_t, Method::GET, &watch, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    call.api(
        Method::PATCH,
        "/calls/default/sock",
        json!({"custom": {"n": 0}}),
    )
    .await;
    let last = carol.until("call.updated", WAIT).await.pop().unwrap();
    assert_eq!(last["custom"]["n"], 0);

    // Bob drops; what happens meanwhile reaches him when he comes back
    // with `after`, in order, before what happens next.
    let seen_by_bob = bob.until("call.updated", WAIT).await.pop().unwrap();
    drop(bob);
    for n in 1..=3 {
        call.api(
            Method::PATCH,
            "/calls/default/sock",
            json!({"custom": {"n": n}}),
        )
        .await;
    }
    let after = seen_by_bob["id"].as_str().unwrap();
    let mut bob = Socket::open(&base, &bob_t, Some(after), true)
        .await
        .unwrap();
    call.api(
        Method::PATCH,
        "/calls/default/sock",
        json!({"custom": {"n": 4}}),
    )
    .await;
    let mut ns = Vec::new();
    while ns.len() < 4 {
        let e = bob.until("call.updated", WAIT).await.pop().unwrap();
        ns.push(e["custom"]["n"].as_i64().unwrap());
    }
    println!("bob, back after a drop, heard n = {ns:?}");
    assert_eq!(ns, [1, 2, 3, 4]);

    // Carol, who only watched the call, drops too; back with `after` and
    // `watch`, she hears what she missed of it, in order. A call her token
    // does not reach is left out of her watches.
    let heard_by_carol = carol.drain(Duration::from_millis(500)).await;
    let seen_by_carol = heard_by_carol.last().unwrap().clone();
    assert_eq!(seen_by_carol["custom"]["n"], 4, "{heard_by_carol:?}");
    drop(carol);
    let other = json!({"data": {"members": [{"user_id": "alice"}]}});
    call.api(Method::POST, "/calls/default/secret", other).await;
    for n in [10, 11] {
        let change = json!({"custom": {"n": n}});
        call.api(Method::PATCH, "/calls/default/sock", change.clone())
            .await;
        call.api(Method::PATCH, "/calls/default/secret", change)
            .await;
    }
    let resume = format!(
        "{}&watch=default:sock,default:secret",
        seen_by_carol["id"].as_str().unwrap()
    );
    let scoped = call.token(&["user", "--user", "carol", "--call", "default:sock"]);
    let mut carol = Socket::open(&base, &scoped, Some(&resume), false)
        .await
        .unwrap();
    assert_eq!(
        carol.ok["watching"],
        json!(["default:sock"]),
        "{}",
        carol.ok
    );
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let e = carol.until("call.updated", WAIT).await.pop().unwrap();
        assert_eq!(e["call_cid"], "default:sock", "{e}");
        heard.push(e["custom"]["n"].as_i64().unwrap());
    }
    assert_eq!(heard, [10, 11]);
    let too_many = vec!["default:x"; 101].join(",");
    let url = format!(
        "{}/v1/connect?watch={too_many}",
        base.replacen("http", "ws", 1)
    );
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "101 watches accepted"
    );

    // Abuse: a bad token, a watch of a connection that is not open, a
    // plain GET on the socket route.
    let refused = Socket::open(&base, "not-a-token", None, false)
        .await
        .err()
        .unwrap();
    assert_eq!(refused["type"], "connection.error");
    assert!(refused["error"]["code"].is_string(), "{refused}");
    let bad_watch = "/calls/default/sock?connection_id=nope";
    let (status, body) = request(&base, &carol_t, Method::GET, bad_watch, Value::Null).await;
    assert_eq!(status, 404, "{body}");
    let plain = reqwest::get(format!("{base}/v1/connect")).await.unwrap();
    assert_eq!(plain.status().as_u16(), 400);
    // A client that floods its socket is dropped; the others are served.
    carol.drain(Duration::from_millis(500)).await;
    for _ in 0..700 {
        carol.say("{}").await;
    }
    carol.drain(Duration::from_secs(2)).await;
    call.api(
        Method::PATCH,
        "/calls/default/sock",
        json!({"custom": {"n": 5}}),
    )
    .await;
    let flooded = carol.drain(Duration::from_secs(1)).await;
    assert!(flooded.iter().all(|e| e["custom"]["n"] != 5), "{flooded:?}");
    loop {
        let e = alice.until("call.updated", WAIT).await.pop().unwrap();
        if e["custom"]["n"] == 5 {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_events_and_reactions_reach_members() {
    let call = Call::start();
    let base = call.onair.url.clone();
    let alice_t = call.token(&["user", "--user", "alice"]);
    let bob_t = call.token(&["user", "--user", "bob"]);
    let members = json!({"data": {"members": [{"user_id": "alice"}, {"user_id": "bob"}]}});
    call.api(Method::POST, "/calls/default/fun", members).await;
    let mut bob = Socket::open(&base, &bob_t, None, true).await.unwrap();
    let post = |path: &'static str, body: Value| {
        let (base, t) = (base.clone(), alice_t.clone());
        async move {
            request(
                &base,
                &t,
                Method::POST,
                &format!("/calls/default/fun/{path}"),
                body,
            )
            .await
        }
    };
    let (status, body) = post("event", json!({"custom": {"kind": "wave"}})).await;
    assert_eq!(status, 200, "{body}");
    let got = bob.until("custom", WAIT).await.pop().unwrap();
    assert_eq!(
        (got["user_id"].as_str(), got["custom"]["kind"].as_str()),
        (Some("alice"), Some("wave"))
    );
    let (status, _) = post("reaction", json!({"type": "like", "emoji_code": ":+1:"})).await;
    assert_eq!(status, 200);
    let got = bob.until("call.reaction_new", WAIT).await.pop().unwrap();
    assert_eq!(got["reaction"]["type"], "like");

    // Abuse: too big, not an object, unknown fields, no capability, floods.
    let big = "x".repeat(6000);
    for (path, body, status) in [
        ("event", json!({"custom": {"big": big}}), 422),
        ("event", json!({"custom": "text"}), 422),
        ("event", json!({"custom": {}, "extra": 1}), 422),
        ("reaction", json!({"type": ""}), 422),
        ("reaction", json!({"type": "x".repeat(65)}), 422),
    ] {
        let (got, body) = post(path, body).await;
        assert_eq!(got, status, "{body}");
        assert!(body["code"].is_string(), "{body}");
    }
    let eve_t = call.token(&["user", "--user", "eve"]);
    let (status, _) = request(
        &base,
        &eve_t,
        Method::POST,
        "/calls/livestream/nope/event",
        json!({"custom": {}}),
    )
    .await;
    assert!(status == 403 || status == 404);
    let mut limited = 0;
    for _ in 0..40 {
        if post("reaction", json!({"type": "like"})).await.0 == 429 {
            limited += 1;
        }
    }
    println!("40 reactions at once: {limited} refused with 429");
    assert!(limited >= 15, "{limited}");
}
