//! One push to Apple: the headers and payload APNs wants for each message
//! and device kind, and what its answer means for the device.

use serde_json::{json, Map, Value};

use crate::config::{base_url, ApnsConfig};
use crate::error::{describe_http, PushError};
use crate::jwt::{unix_now, ApnsSigner};
use crate::message::{Field, PushMessage};
use crate::{Device, Outcome};

/// How long an "ended" push may wait for an offline phone: long enough to
/// stop a ring over a flaky link, short enough not to arrive as news later.
const ENDED_TTL_SECS: u64 = 60;
/// How long a missed-call alert may wait for an offline phone.
const MISSED_TTL_SECS: u64 = 24 * 3600;

/// The APNs client for one app.
pub(crate) struct ApnsClient {
    http: reqwest::Client,
    signer: ApnsSigner,
    bundle_id: String,
    base: String,
}

/// The APNs headers and body of one push.
#[derive(Debug, PartialEq)]
struct ApnsPush {
    topic: String,
    push_type: &'static str,
    priority: u8,
    /// Unix seconds; 0 means deliver now or never.
    expiration: u64,
    collapse_id: Option<String>,
    body: Value,
}

impl ApnsClient {
    /// Loads the signing key and builds an HTTP/2-only client.
    pub fn new(config: &ApnsConfig) -> Result<Self, PushError> {
        if config.bundle_id.is_empty() {
            return Err(PushError::Config("apns bundle_id is required".into()));
        }
        let base = base_url(&config.base_url, "apns base_url")?;
        let signer = ApnsSigner::load(&config.key_path, &config.key_id, &config.team_id)?;
        // APNs speaks only HTTP/2: prior knowledge gives h2c on http:// and
        // an ALPN offer of exactly "h2" on https://.
        let http = reqwest::Client::builder()
            .http2_prior_knowledge()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            signer,
            bundle_id: config.bundle_id.clone(),
            base,
        })
    }

    /// Sends `msg` to `device`.
    pub async fn send(&self, device: &Device, msg: &PushMessage) -> Outcome {
        // APNs tokens are hex; anything else cannot be delivered and must not
        // reach the URL path.
        if !is_hex_token(&device.id) {
            return Outcome::Unregistered;
        }
        let Some(push) = build(msg, device.voip, &self.bundle_id) else {
            return Outcome::Failed("a VoIP token cannot receive a missed-call alert".into());
        };
        let jwt = match self.signer.token() {
            Ok(jwt) => jwt,
            Err(e) => return Outcome::Failed(format!("signing the APNs token: {e}")),
        };
        let mut req = self
            .http
            .post(format!("{}/3/device/{}", self.base, device.id))
            .bearer_auth(&jwt)
            .header("apns-topic", &push.topic)
            .header("apns-push-type", push.push_type)
            .header("apns-priority", push.priority.to_string())
            .header("apns-expiration", push.expiration.to_string())
            .json(&push.body);
        if let Some(id) = &push.collapse_id {
            req = req.header("apns-collapse-id", id);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return Outcome::Failed(format!("APNs request: {}", describe_http(e))),
        };
        let status = resp.status().as_u16();
        if status == 200 {
            return Outcome::Delivered;
        }
        let reason = reason_of(&resp.text().await.unwrap_or_default());
        if status == 403 && reason == "ExpiredProviderToken" {
            self.signer.forget(&jwt);
        }
        classify(status, &reason)
    }
}

/// The push for `msg`; `None` for a missed call to a VoIP token.
fn build(msg: &PushMessage, voip: bool, bundle: &str) -> Option<ApnsPush> {
    let now = unix_now();
    let cid = msg.call_cid();
    // A collapse id is at most 64 bytes; a longer cid simply goes without.
    let collapse = (cid.len() <= 64).then(|| cid.to_string());
    let voip_topic = format!("{bundle}.voip");
    let (topic, push_type, priority, expiration, collapse_id, aps) = match (msg, voip) {
        (PushMessage::Ring { .. }, true) => (voip_topic, "voip", 10, 0, None, json!({})),
        (PushMessage::Ended { .. }, true) => (
            voip_topic,
            "voip",
            10,
            now + ENDED_TTL_SECS,
            None,
            json!({}),
        ),
        (PushMessage::Missed { .. }, true) => return None,
        (PushMessage::Ring { .. }, false) => (bundle.into(), "alert", 10, 0, collapse, alert(msg)),
        (PushMessage::Missed { .. }, false) => (
            bundle.into(),
            "alert",
            10,
            now + MISSED_TTL_SECS,
            collapse,
            alert(msg),
        ),
        // Background pushes must go at priority 5; the app clears its ring.
        (PushMessage::Ended { .. }, false) => (
            bundle.into(),
            "background",
            5,
            now + ENDED_TTL_SECS,
            None,
            json!({"content-available": 1}),
        ),
    };
    Some(ApnsPush {
        topic,
        push_type,
        priority,
        expiration,
        collapse_id,
        body: body(msg, aps),
    })
}

fn alert(msg: &PushMessage) -> Value {
    match msg.alert() {
        Some(a) => json!({"alert": {"title": a.title, "body": a.body}, "sound": "default"}),
        None => json!({}),
    }
}

/// `{aps, type, call_cid, …}`: the custom keys sit beside `aps`.
fn body(msg: &PushMessage, aps: Value) -> Value {
    let mut map = Map::new();
    map.insert("aps".into(), aps);
    for (key, field) in msg.fields() {
        let value = match field {
            Field::Str(s) => Value::from(s),
            Field::Bool(b) => Value::from(b),
        };
        map.insert(key.into(), value);
    }
    Value::Object(map)
}

fn is_hex_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 200 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `reason` of an APNs error body, or "" when there is none.
fn reason_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("reason")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What a non-200 answer means for the device.
fn classify(status: u16, reason: &str) -> Outcome {
    const GONE: [&str; 3] = ["BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"];
    match status {
        410 => Outcome::Unregistered,
        400 if GONE.contains(&reason) => Outcome::Unregistered,
        _ => Outcome::Failed(format!("APNs {status} {reason}").trim_end().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(video: bool) -> PushMessage {
        PushMessage::Ring {
            call_cid: "default:c1".into(),
            caller_id: "alice".into(),
            caller_name: Some("Alice".into()),
            video,
        }
    }

    /// The Flutter SDK's push fixture (`sdk-clients/flutter/test/fixtures/
    /// pushes.json`, which its Dart tests parse) is what APNs carries.
    #[test]
    fn flutter_fixture_is_what_apns_carries() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk-clients/flutter/test/fixtures/pushes.json"
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        let apns: Vec<&Value> = cases.iter().filter(|c| c["provider"] == "apns").collect();
        assert!(apns.len() >= 3, "the fixture covers APNs");
        for case in apns {
            let msg: PushMessage = serde_json::from_value(case["message"].clone()).unwrap();
            let voip = case["voip"].as_bool().unwrap();
            let p = build(&msg, voip, "com.x").unwrap();
            assert_eq!(p.body, case["payload"], "{}", case["name"]);
        }
    }

    #[test]
    fn voip_ring_goes_to_the_voip_topic_now_or_never() {
        let p = build(&ring(true), true, "com.x").unwrap();
        assert_eq!(
            (p.topic.as_str(), p.push_type, p.priority),
            ("com.x.voip", "voip", 10)
        );
        assert_eq!(p.expiration, 0);
        assert_eq!(p.body["type"], "call.ring");
        assert_eq!(p.body["video"], true);
        assert_eq!(p.body["caller_name"], "Alice");
    }

    #[test]
    fn plain_token_ring_is_an_alert_and_ended_is_background() {
        let p = build(&ring(false), false, "com.x").unwrap();
        assert_eq!((p.topic.as_str(), p.push_type), ("com.x", "alert"));
        assert_eq!(p.body["aps"]["alert"]["body"], "Alice is calling");
        assert_eq!(p.collapse_id.as_deref(), Some("default:c1"));
        let ended = PushMessage::Ended {
            call_cid: "default:c1".into(),
            reason: "accepted".into(),
        };
        let p = build(&ended, false, "com.x").unwrap();
        assert_eq!((p.push_type, p.priority), ("background", 5));
        assert_eq!(p.body["aps"]["content-available"], 1);
    }

    #[test]
    fn missed_to_a_voip_token_is_not_built() {
        let missed = PushMessage::Missed {
            call_cid: "default:c1".into(),
            caller_id: "alice".into(),
            caller_name: None,
            video: false,
        };
        assert!(build(&missed, true, "com.x").is_none());
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(classify(410, "Unregistered"), Outcome::Unregistered);
        assert_eq!(classify(400, "BadDeviceToken"), Outcome::Unregistered);
        assert_eq!(
            classify(400, "DeviceTokenNotForTopic"),
            Outcome::Unregistered
        );
        assert!(matches!(classify(400, "BadTopic"), Outcome::Failed(_)));
        assert!(matches!(
            classify(403, "InvalidProviderToken"),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            classify(429, "TooManyRequests"),
            Outcome::Failed(_)
        ));
        assert!(matches!(classify(503, ""), Outcome::Failed(_)));
        assert_eq!(
            reason_of(r#"{"reason":"BadDeviceToken"}"#),
            "BadDeviceToken"
        );
        assert_eq!(reason_of("not json"), "");
    }

    #[test]
    fn only_hex_tokens_reach_the_path() {
        assert!(is_hex_token("0a1B"));
        assert!(!is_hex_token("../x"));
        assert!(!is_hex_token(""));
    }
}
