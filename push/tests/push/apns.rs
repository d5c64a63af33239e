//! The APNs client against the stand-in: what each message looks like on
//! the wire, how Apple's answers map to outcomes, and provider-token reuse.

use onair_push::{ApnsConfig, Device, Outcome, Provider, PushConfig, PushMessage, Pusher};

use crate::apns_standin::{ApnsStandIn, BUNDLE, KEY_ID, TEAM_ID};
use crate::keys::{ec_key, EcKey};

const VOIP_TOKEN: &str = "aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44";
const PLAIN_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Fixture {
    standin: ApnsStandIn,
    pusher: Pusher,
    _dir: tempfile::TempDir,
}

fn pusher(key: &EcKey, url: &str) -> Pusher {
    let config = PushConfig {
        apns: Some(ApnsConfig {
            key_path: key.p8_path.clone(),
            key_id: KEY_ID.into(),
            team_id: TEAM_ID.into(),
            bundle_id: BUNDLE.into(),
            base_url: url.into(),
        }),
        fcm: None,
    };
    Pusher::new(&config).expect("a valid APNs config")
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ec_key(dir.path(), "apns");
    let standin = ApnsStandIn::start(&key.public_pem).await;
    let pusher = pusher(&key, &standin.url);
    Fixture {
        standin,
        pusher,
        _dir: dir,
    }
}

fn device(id: &str, voip: bool) -> Device {
    Device {
        id: id.into(),
        provider: Provider::Apn,
        voip,
    }
}

fn ring() -> PushMessage {
    PushMessage::Ring {
        call_cid: "default:call-1".into(),
        caller_id: "alice".into(),
        caller_name: Some("Alice Liddell".into()),
        video: true,
    }
}

fn ended() -> PushMessage {
    PushMessage::Ended {
        call_cid: "default:call-1".into(),
        reason: "accepted".into(),
    }
}

fn missed() -> PushMessage {
    PushMessage::Missed {
        call_cid: "default:call-1".into(),
        caller_id: "alice".into(),
        caller_name: Some("Alice Liddell".into()),
        video: false,
    }
}

#[tokio::test]
async fn voip_ring_arrives_on_the_voip_topic_with_caller_and_video() {
    let f = fixture().await;
    assert!(f.pusher.is_configured(Provider::Apn));
    assert!(!f.pusher.is_configured(Provider::Firebase));
    assert_eq!(
        f.pusher.send(&device(VOIP_TOKEN, true), &ring()).await,
        Outcome::Delivered
    );
    let got = f.standin.received();
    assert_eq!(got.len(), 1, "rejected: {:?}", f.standin.rejected());
    let r = &got[0];
    assert_eq!(r.token, VOIP_TOKEN);
    assert_eq!(
        (r.topic.as_str(), r.push_type.as_str()),
        ("com.example.onair.voip", "voip")
    );
    assert_eq!(
        (r.priority, r.expiration),
        (10, 0),
        "a ring is now or never"
    );
    assert_eq!(r.body["type"], "call.ring");
    assert_eq!(r.body["call_cid"], "default:call-1");
    assert_eq!(r.body["caller_id"], "alice");
    assert_eq!(r.body["caller_name"], "Alice Liddell");
    assert_eq!(r.body["video"], true);
}

#[tokio::test]
async fn ended_push_arrives_as_voip_or_background() {
    let f = fixture().await;
    assert_eq!(
        f.pusher.send(&device(VOIP_TOKEN, true), &ended()).await,
        Outcome::Delivered
    );
    assert_eq!(
        f.pusher.send(&device(PLAIN_TOKEN, false), &ended()).await,
        Outcome::Delivered
    );
    let got = f.standin.received();
    assert_eq!(got.len(), 2, "rejected: {:?}", f.standin.rejected());
    assert_eq!(
        (got[0].topic.as_str(), got[0].push_type.as_str()),
        ("com.example.onair.voip", "voip")
    );
    assert_eq!(
        (got[1].topic.as_str(), got[1].push_type.as_str()),
        (BUNDLE, "background")
    );
    assert_eq!(got[1].priority, 5);
    for r in &got {
        assert_eq!(r.body["type"], "call.ended");
        assert_eq!(r.body["reason"], "accepted");
    }
}

#[tokio::test]
async fn missed_call_is_an_alert_to_the_bundle_topic() {
    let f = fixture().await;
    assert_eq!(
        f.pusher.send(&device(PLAIN_TOKEN, false), &missed()).await,
        Outcome::Delivered
    );
    // A VoIP token cannot show an alert: nothing is sent for it.
    let voip = f.pusher.send(&device(VOIP_TOKEN, true), &missed()).await;
    assert!(matches!(voip, Outcome::Failed(_)), "{voip:?}");
    let got = f.standin.received();
    assert_eq!(got.len(), 1, "rejected: {:?}", f.standin.rejected());
    let r = &got[0];
    assert_eq!(
        (r.topic.as_str(), r.push_type.as_str(), r.priority),
        (BUNDLE, "alert", 10)
    );
    assert_eq!(r.collapse_id.as_deref(), Some("default:call-1"));
    assert_eq!(
        r.body["aps"]["alert"]["body"],
        "Missed call from Alice Liddell"
    );
    assert_eq!(r.body["aps"]["sound"], "default");
    assert_eq!(r.body["type"], "call.missed");
    assert!(r.expiration > 0, "a missed call may wait for the phone");
}

#[tokio::test]
async fn ring_to_a_plain_token_is_an_alert() {
    let f = fixture().await;
    assert_eq!(
        f.pusher.send(&device(PLAIN_TOKEN, false), &ring()).await,
        Outcome::Delivered
    );
    let r = &f.standin.received()[0];
    assert_eq!(
        (r.topic.as_str(), r.push_type.as_str(), r.expiration),
        (BUNDLE, "alert", 0)
    );
    assert_eq!(r.body["aps"]["alert"]["body"], "Alice Liddell is calling");
}

#[tokio::test]
async fn gone_tokens_are_unregistered() {
    let f = fixture().await;
    f.standin.mark_unregistered(VOIP_TOKEN);
    f.standin.mark_bad(PLAIN_TOKEN);
    assert_eq!(
        f.pusher.send(&device(VOIP_TOKEN, true), &ring()).await,
        Outcome::Unregistered
    );
    assert_eq!(
        f.pusher.send(&device(PLAIN_TOKEN, false), &ring()).await,
        Outcome::Unregistered
    );
    let rejected = f.standin.rejected();
    assert_eq!(
        rejected,
        [(410, "Unregistered".into()), (400, "BadDeviceToken".into())]
    );
    // Not even hex: never sent, since it could not be a token.
    assert_eq!(
        f.pusher.send(&device("../../x", false), &ring()).await,
        Outcome::Unregistered
    );
    assert_eq!(f.standin.rejected().len(), 2);
}

#[tokio::test]
async fn one_provider_token_serves_several_pushes() {
    let f = fixture().await;
    let voip = device(VOIP_TOKEN, true);
    for msg in [ring(), ended(), ring()] {
        assert_eq!(f.pusher.send(&voip, &msg).await, Outcome::Delivered);
    }
    let got = f.standin.received();
    assert_eq!(got.len(), 3, "rejected: {:?}", f.standin.rejected());
    assert!(
        got.iter().all(|r| r.jwt == got[0].jwt),
        "the JWT was renewed between pushes"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Same key id and team, different private key: a forged provider token.
    let forger = pusher(&ec_key(dir.path(), "forged"), &f.standin.url);
    let outcome = forger.send(&device(VOIP_TOKEN, true), &ring()).await;
    assert!(
        matches!(&outcome, Outcome::Failed(why) if why.contains("403")),
        "{outcome:?}"
    );
    assert_eq!(f.standin.rejected(), [(403, "InvalidProviderToken".into())]);
    assert!(f.standin.received().is_empty());
    // The genuine key still gets through.
    assert_eq!(
        f.pusher.send(&device(VOIP_TOKEN, true), &ring()).await,
        Outcome::Delivered
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ec_key(dir.path(), "apns");
    // Bind then drop, so the port is free and nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let p = pusher(&key, &format!("http://127.0.0.1:{port}"));
    let outcome = p.send(&device(VOIP_TOKEN, true), &ring()).await;
    let Outcome::Failed(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        !why.contains(VOIP_TOKEN),
        "the error names the whole token: {why}"
    );
}
