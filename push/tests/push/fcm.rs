//! The FCM client against the stand-in: the message on the wire, access
//! token caching and renewal, and how Google's answers map to outcomes.

use onair_push::{Device, FcmConfig, Outcome, Provider, PushConfig, PushMessage, Pusher};

use crate::fcm_standin::{FcmStandIn, CLIENT_EMAIL, PROJECT};
use crate::keys::{rsa_key, service_account, RsaKey};

const TOKEN: &str = "fcm-token:APA91bH_example-registration-token";

struct Fixture {
    standin: FcmStandIn,
    pusher: Pusher,
    _dir: tempfile::TempDir,
}

fn pusher(dir: &std::path::Path, key: &RsaKey, standin: &FcmStandIn) -> Pusher {
    let path = service_account(dir, key, PROJECT, CLIENT_EMAIL, &standin.token_uri);
    let config = PushConfig {
        apns: None,
        fcm: Some(FcmConfig {
            service_account_path: path,
            base_url: standin.base_url.clone(),
        }),
    };
    Pusher::new(&config).expect("a valid FCM config")
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rsa_key(dir.path(), "sa");
    let standin = FcmStandIn::start(&key.public_pem).await;
    let pusher = pusher(dir.path(), &key, &standin);
    Fixture {
        standin,
        pusher,
        _dir: dir,
    }
}

fn device(id: &str) -> Device {
    Device {
        id: id.into(),
        provider: Provider::Firebase,
        voip: false,
    }
}

fn ring(n: u32) -> PushMessage {
    PushMessage::Ring {
        call_cid: format!("default:call-{n}"),
        caller_id: "alice".into(),
        caller_name: Some("Alice".into()),
        video: false,
    }
}

#[tokio::test]
async fn ring_is_delivered_as_high_priority_string_data() {
    let f = fixture().await;
    assert!(f.pusher.is_configured(Provider::Firebase));
    assert!(!f.pusher.is_configured(Provider::Apn));
    assert_eq!(
        f.pusher.send(&device(TOKEN), &ring(1)).await,
        Outcome::Delivered
    );
    let sent = f.standin.sent();
    assert_eq!(sent.len(), 1, "rejected: {:?}", f.standin.rejected());
    let m = &sent[0].message;
    assert_eq!(m["token"], TOKEN);
    assert_eq!(m["data"]["type"], "call.ring");
    assert_eq!(m["data"]["call_cid"], "default:call-1");
    assert_eq!(m["data"]["caller_name"], "Alice");
    assert_eq!(m["data"]["video"], "false");
    assert_eq!(m["android"]["priority"], "HIGH");
    assert_eq!(m["android"]["ttl"], "0s");
}

#[tokio::test]
async fn ended_and_missed_are_delivered() {
    let f = fixture().await;
    let ended = PushMessage::Ended {
        call_cid: "default:call-1".into(),
        reason: "cancelled".into(),
    };
    let missed = PushMessage::Missed {
        call_cid: "default:call-1".into(),
        caller_id: "alice".into(),
        caller_name: None,
        video: true,
    };
    assert_eq!(
        f.pusher.send(&device(TOKEN), &ended).await,
        Outcome::Delivered
    );
    assert_eq!(
        f.pusher.send(&device(TOKEN), &missed).await,
        Outcome::Delivered
    );
    let sent = f.standin.sent();
    assert_eq!(sent.len(), 2, "rejected: {:?}", f.standin.rejected());
    assert_eq!(sent[0].message["data"]["reason"], "cancelled");
    assert_eq!(
        sent[1].message["notification"]["body"],
        "Missed call from alice"
    );
    assert_eq!(sent[1].message["data"]["video"], "true");
}

#[tokio::test]
async fn access_token_is_fetched_once_for_several_sends() {
    let f = fixture().await;
    for n in 0..3 {
        assert_eq!(
            f.pusher.send(&device(TOKEN), &ring(n)).await,
            Outcome::Delivered
        );
    }
    assert_eq!(f.standin.token_requests(), 1);
    let sent = f.standin.sent();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|s| s.bearer == sent[0].bearer));
}

#[tokio::test]
async fn gone_tokens_are_unregistered() {
    let f = fixture().await;
    f.standin.mark_unregistered("gone-token");
    f.standin.mark_invalid("not-a-token");
    assert_eq!(
        f.pusher.send(&device("gone-token"), &ring(1)).await,
        Outcome::Unregistered
    );
    assert_eq!(
        f.pusher.send(&device("not-a-token"), &ring(1)).await,
        Outcome::Unregistered
    );
    let rejected = f.standin.rejected();
    assert_eq!(
        rejected,
        [(404, "NOT_FOUND".into()), (400, "INVALID_ARGUMENT".into())]
    );
}

#[tokio::test]
async fn a_401_renews_the_access_token_once_and_succeeds() {
    let f = fixture().await;
    assert_eq!(
        f.pusher.send(&device(TOKEN), &ring(1)).await,
        Outcome::Delivered
    );
    f.standin.revoke_tokens();
    assert_eq!(
        f.pusher.send(&device(TOKEN), &ring(2)).await,
        Outcome::Delivered
    );
    assert_eq!(f.standin.token_requests(), 2);
    assert_eq!(f.standin.rejected(), [(401, "UNAUTHENTICATED".into())]);
    let sent = f.standin.sent();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].bearer, sent[1].bearer);
}

#[tokio::test]
async fn a_second_401_is_a_failure_not_a_loop() {
    let f = fixture().await;
    f.standin.refuse_all_tokens();
    let outcome = f.pusher.send(&device(TOKEN), &ring(1)).await;
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    assert_eq!(f.standin.token_requests(), 2);
    assert_eq!(f.standin.rejected().len(), 2);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_gets_no_token() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let forger = pusher(dir.path(), &rsa_key(dir.path(), "forged"), &f.standin);
    let outcome = forger.send(&device(TOKEN), &ring(1)).await;
    assert!(
        matches!(&outcome, Outcome::Failed(why) if why.contains("invalid_grant")),
        "{outcome:?}"
    );
    assert_eq!(f.standin.rejected(), [(400, "invalid_grant".into())]);
    assert!(f.standin.sent().is_empty());
}
