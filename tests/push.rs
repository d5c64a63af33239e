//! Rings reach phones: `onair serve` with APNs configured against a local
//! stand-in for Apple's server (HTTP/2; it verifies the ES256 provider
//! token with the test key, the VoIP topic and push type, and the payload,
//! as Apple does — Apple itself cannot be reached from here). A ring pushes
//! a VoIP push to the callee's phone; the caller's cancel pushes "ended";
//! a token Apple calls unregistered is forgotten. Devices are registered
//! through `/v1/devices`, with abuse refused.

mod support;

#[path = "../push/tests/push/apns_standin.rs"]
#[allow(dead_code)]
mod apns_standin;
#[path = "../push/tests/push/keys.rs"]
#[allow(dead_code)]
mod keys;
#[path = "../push/tests/push/server.rs"]
#[allow(dead_code)]
mod server;

use std::time::Duration;

use apns_standin::{ApnsStandIn, BUNDLE, KEY_ID, TEAM_ID};
use onair_auth::ApiKey;
use reqwest::Method;
use serde_json::{json, Value};
use support::call::request;

const VOIP: &str = "aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44";
const GONE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SECRET: &str = "push-test-secret-push-test-secret-01";

/// Waits until the stand-in accepted `n` pushes.
async fn pushes(standin: &ApnsStandIn, n: usize) -> Vec<apns_standin::Received> {
    for _ in 0..100 {
        let got = standin.received();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stand-in got {:?}", standin.received());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_push_to_phones_and_gone_tokens_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let key = keys::ec_key(dir.path(), "apns");
    let standin = ApnsStandIn::start(&key.public_pem).await;
    standin.mark_unregistered(GONE);
    let port = onair_testkit::free_port();
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\n\
             database_url = \"sqlite://{db}\"\ndata_dir = \"{data}\"\n\
             [push.apns]\nkey_path = \"{p8}\"\nkey_id = \"{KEY_ID}\"\nteam_id = \"{TEAM_ID}\"\n\
             bundle_id = \"{BUNDLE}\"\nbase_url = \"{url}\"\n\
             [[api_keys]]\nkey = \"APIpush\"\nsecret = \"{SECRET}\"\n",
            db = dir.path().join("onair.db").display(),
            data = dir.path().display(),
            p8 = key.p8_path.display(),
            url = standin.url,
        ),
    )
    .unwrap();
    let onair = tokio::task::spawn_blocking(move || support::serve(&config, port))
        .await
        .unwrap();
    let api_key = ApiKey::new("APIpush", SECRET);
    let server = support::tokens::server(&api_key);
    let alice = support::tokens::user(&api_key, "alice");
    let bob = support::tokens::user(&api_key, "bob");
    let call = |token: &str, method: Method, path: &str, body: Value| {
        let (base, token, path) = (onair.url.clone(), token.to_owned(), path.to_owned());
        async move { request(&base, &token, method, &path, body).await }
    };

    // Bob's phone: a VoIP token and a regular one Apple no longer knows.
    let voip = json!({"id": VOIP, "push_provider": "apn", "voip_token": true});
    assert_eq!(call(&bob, Method::POST, "/devices", voip).await.0, 201);
    let gone = json!({"id": GONE, "push_provider": "apn"});
    assert_eq!(call(&bob, Method::POST, "/devices", gone).await.0, 201);
    for (token, body, status) in [
        (&bob, json!({"id": "", "push_provider": "apn"}), 422),
        (
            &bob,
            json!({"id": "x".repeat(600), "push_provider": "apn"}),
            422,
        ),
        (&bob, json!({"id": "abc", "push_provider": "pigeon"}), 422),
        (
            &bob,
            json!({"id": "abc", "push_provider": "firebase", "voip_token": true}),
            422,
        ),
        (
            &bob,
            json!({"id": "abc", "push_provider": "apn", "extra": 1}),
            422,
        ),
        (&server, json!({"id": "abc", "push_provider": "apn"}), 403),
    ] {
        let (got, answer) = call(token, Method::POST, "/devices", body).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    assert_eq!(
        call(
            &alice,
            Method::DELETE,
            &format!("/devices?id={VOIP}"),
            Value::Null
        )
        .await
        .0,
        404
    );

    // Alice calls bob: his VoIP token rings.
    let members = json!({"data": {"members": [{"user_id": "alice"}, {"user_id": "bob"}]}});
    call(&server, Method::POST, "/calls/default/phone", members).await;
    let (status, body) = call(
        &alice,
        Method::POST,
        "/calls/default/phone/ring",
        json!({"video": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ring = pushes(&standin, 1).await.remove(0);
    println!(
        "ring push: topic {} type {} body {}",
        ring.topic, ring.push_type, ring.body
    );
    assert_eq!(
        (ring.token.as_str(), ring.topic.as_str()),
        (VOIP, format!("{BUNDLE}.voip").as_str())
    );
    assert_eq!(ring.push_type, "voip");
    assert_eq!(ring.body["call_cid"], "default:phone");
    assert_eq!(ring.body["caller_id"], "alice");
    assert_eq!(ring.body["video"], true);

    // She cancels: the phone is told to stop ringing.
    call(
        &alice,
        Method::POST,
        "/calls/default/phone/reject",
        json!({"reason": "cancel"}),
    )
    .await;
    let ended = pushes(&standin, 2).await.remove(1);
    assert_eq!(ended.body["type"], "call.ended", "{}", ended.body);
    assert_eq!(ended.token, VOIP);

    // The token Apple answered 410 for is gone from bob's devices.
    let (_, devices) = call(&bob, Method::GET, "/devices", Value::Null).await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [VOIP], "{devices}");
    assert!(standin.rejected().iter().any(|(status, _)| *status == 410));
    assert_eq!(
        call(
            &bob,
            Method::DELETE,
            &format!("/devices?id={VOIP}"),
            Value::Null
        )
        .await
        .0,
        200
    );
}
