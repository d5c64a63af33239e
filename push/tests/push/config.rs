//! `Pusher::new` refuses missing and malformed keys with an error (never a
//! panic) that names the file but not the key.

use std::path::{Path, PathBuf};

use onair_push::{
    ApnsConfig, Device, FcmConfig, Outcome, Provider, PushConfig, PushError, PushMessage, Pusher,
};

use crate::keys::{ec_key, rsa_key, service_account};

fn apns(key_path: PathBuf) -> PushConfig {
    PushConfig {
        apns: Some(ApnsConfig {
            key_path,
            key_id: "ABC123DEFG".into(),
            team_id: "TEAM123456".into(),
            bundle_id: "com.example.onair".into(),
            base_url: "https://api.push.apple.com".into(),
        }),
        fcm: None,
    }
}

fn fcm(service_account_path: PathBuf) -> PushConfig {
    PushConfig {
        apns: None,
        fcm: Some(FcmConfig {
            service_account_path,
            base_url: "https://fcm.googleapis.com".into(),
        }),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn error(config: &PushConfig) -> PushError {
    match Pusher::new(config) {
        Ok(_) => panic!("accepted a bad config"),
        Err(e) => e,
    }
}

#[test]
fn missing_files_are_read_errors() {
    let e = error(&apns("/nonexistent/AuthKey.p8".into()));
    assert!(matches!(e, PushError::Read { .. }), "{e}");
    let e = error(&fcm("/nonexistent/sa.json".into()));
    assert!(matches!(e, PushError::Read { .. }), "{e}");
}

#[test]
fn malformed_apns_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = write(
        dir.path(),
        "garbage.p8",
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    );
    assert!(matches!(error(&apns(garbage)), PushError::BadKey { .. }));
    // A well-formed key of the wrong kind (RSA, not P-256).
    let rsa = rsa_key(dir.path(), "rsa");
    let wrong = write(dir.path(), "rsa.p8", &rsa.private_pem);
    let e = error(&apns(wrong));
    assert!(matches!(e, PushError::BadKey { .. }), "{e}");
    assert!(
        !e.to_string().contains("PRIVATE KEY"),
        "the error shows the key: {e}"
    );
}

#[test]
fn malformed_service_accounts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_json = write(dir.path(), "a.json", "{ not json");
    assert!(matches!(
        error(&fcm(not_json)),
        PushError::BadServiceAccount { .. }
    ));
    let missing = write(
        dir.path(),
        "b.json",
        r#"{"project_id": "p", "private_key": "x"}"#,
    );
    let e = error(&fcm(missing));
    assert!(matches!(e, PushError::BadServiceAccount { .. }), "{e}");
    let secret = "MIIEvSECRETSECRET";
    let bad_key =
        serde_json::json!({"project_id": "p", "client_email": "e@x", "private_key": secret});
    let e = error(&fcm(write(dir.path(), "c.json", &bad_key.to_string())));
    assert!(matches!(e, PushError::BadKey { .. }), "{e}");
    assert!(
        !e.to_string().contains(secret),
        "the error shows the key: {e}"
    );
    // An EC key where Google's RSA key belongs.
    let ec = ec_key(dir.path(), "ec");
    let rsa_shaped = crate::keys::RsaKey {
        private_pem: std::fs::read_to_string(&ec.p8_path).expect("read"),
        public_pem: ec.public_pem,
    };
    let path = service_account(
        dir.path(),
        &rsa_shaped,
        "p",
        "e@x",
        "https://oauth2.googleapis.com/token",
    );
    assert!(matches!(error(&fcm(path)), PushError::BadKey { .. }));
}

#[test]
fn empty_ids_and_bad_urls_are_config_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ec_key(dir.path(), "ok");
    let mut config = apns(key.p8_path.clone());
    config.apns.as_mut().expect("apns").team_id.clear();
    assert!(matches!(error(&config), PushError::Config(_)));
    let mut config = apns(key.p8_path);
    config.apns.as_mut().expect("apns").base_url = "api.push.apple.com".into();
    assert!(matches!(error(&config), PushError::Config(_)));
}

#[tokio::test]
async fn nothing_configured_sends_nothing() {
    let pusher = Pusher::new(&PushConfig::default()).expect("an empty config is fine");
    assert!(!pusher.is_configured(Provider::Apn));
    assert!(!pusher.is_configured(Provider::Firebase));
    let device = Device {
        id: "abcd".into(),
        provider: Provider::Apn,
        voip: false,
    };
    let msg = PushMessage::Ended {
        call_cid: "default:1".into(),
        reason: "timeout".into(),
    };
    assert!(matches!(
        pusher.send(&device, &msg).await,
        Outcome::Failed(_)
    ));
}

#[test]
fn valid_keys_build_a_pusher_for_the_real_endpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = apns(ec_key(dir.path(), "ok").p8_path);
    let rsa = rsa_key(dir.path(), "sa");
    let sa = service_account(
        dir.path(),
        &rsa,
        "onair-test",
        "e@x",
        "https://oauth2.googleapis.com/token",
    );
    config.fcm = fcm(sa).fcm;
    // https:// bases: the rustls client with its h2 ALPN offer builds.
    let pusher = Pusher::new(&config).expect("valid keys");
    assert!(pusher.is_configured(Provider::Apn) && pusher.is_configured(Provider::Firebase));
}
