//! One push to Google (FCM HTTP v1): the message JSON for each kind of push,
//! the one retry after a refused access token, and what the answer means for
//! the device.

use serde_json::{json, Map, Value};

use crate::config::{base_url, FcmConfig};
use crate::error::{describe_http, PushError};
use crate::message::{Field, PushMessage};
use crate::oauth::{clip, TokenSource};
use crate::{Device, Outcome};

/// The FCM client for one Firebase project.
pub(crate) struct FcmClient {
    http: reqwest::Client,
    tokens: TokenSource,
    send_url: String,
}

/// One send attempt: done, or refused for its access token.
enum Attempt {
    Done(Outcome),
    Unauthorized(String),
}

impl FcmClient {
    /// Loads the service account and builds the client.
    pub fn new(config: &FcmConfig) -> Result<Self, PushError> {
        let base = base_url(&config.base_url, "fcm base_url")?;
        let tokens = TokenSource::load(&config.service_account_path)?;
        let project = tokens.project_id();
        // Project ids are lowercase letters, digits and hyphens; anything
        // else would change the URL path.
        if !project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(PushError::BadServiceAccount {
                path: config.service_account_path.clone(),
                reason: format!("project_id {project:?} is not a Firebase project id"),
            });
        }
        let send_url = format!("{base}/v1/projects/{project}/messages:send");
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            tokens,
            send_url,
        })
    }

    /// Sends `msg` to `device`; a 401 renews the access token and retries once.
    pub async fn send(&self, device: &Device, msg: &PushMessage) -> Outcome {
        let body = message(&device.id, msg);
        match self.attempt(&body).await {
            Attempt::Done(outcome) => outcome,
            Attempt::Unauthorized(token) => {
                self.tokens.forget(&token).await;
                match self.attempt(&body).await {
                    Attempt::Done(outcome) => outcome,
                    Attempt::Unauthorized(_) => {
                        Outcome::Failed("FCM 401 with a renewed access token".into())
                    }
                }
            }
        }
    }

    async fn attempt(&self, body: &Value) -> Attempt {
        let token = match self.tokens.token(&self.http).await {
            Ok(token) => token,
            Err(e) => return Attempt::Done(Outcome::Failed(format!("FCM access token: {e}"))),
        };
        let sent = self
            .http
            .post(&self.send_url)
            .bearer_auth(&token)
            .json(body)
            .send();
        let resp = match sent.await {
            Ok(resp) => resp,
            Err(e) => {
                return Attempt::Done(Outcome::Failed(format!(
                    "FCM request: {}",
                    describe_http(e)
                )))
            }
        };
        match resp.status().as_u16() {
            200 => Attempt::Done(Outcome::Delivered),
            401 => Attempt::Unauthorized(token),
            status => {
                let text = resp.text().await.unwrap_or_default();
                Attempt::Done(classify(status, &text))
            }
        }
    }
}

/// `{message: {token, data, android[, notification]}}`.
fn message(token: &str, msg: &PushMessage) -> Value {
    // FCM data values must all be strings.
    let data: Map<String, Value> = msg
        .fields()
        .into_iter()
        .map(|(key, field)| {
            let value = match field {
                Field::Str(s) => s.to_string(),
                Field::Bool(b) => b.to_string(),
            };
            (key.to_string(), Value::String(value))
        })
        .collect();
    // A ring is now or never; an "ended" may wait a minute, a missed call a day.
    let ttl = match msg {
        PushMessage::Ring { .. } => "0s",
        PushMessage::Ended { .. } => "60s",
        PushMessage::Missed { .. } => "86400s",
    };
    let mut android = json!({"priority": "HIGH", "ttl": ttl});
    let mut message = json!({"token": token, "data": data});
    if let (PushMessage::Missed { call_cid, .. }, Some(alert)) = (msg, msg.alert()) {
        android["collapse_key"] = json!(call_cid);
        message["notification"] = json!({"title": alert.title, "body": alert.body});
    }
    message["android"] = android;
    json!({ "message": message })
}

/// What a non-200, non-401 answer means for the device.
fn classify(status: u16, body: &str) -> Outcome {
    let error = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null);
    let details = error["details"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let code = details.iter().find_map(|d| d["errorCode"].as_str());
    // INVALID_ARGUMENT is also our own payload's fault; only a violation on
    // `message.token` condemns the device.
    let token_invalid = details.iter().any(|d| {
        let violations = d["fieldViolations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        violations.iter().any(|v| v["field"] == "message.token")
    });
    match (status, code) {
        (404 | 400, Some("UNREGISTERED")) => Outcome::Unregistered,
        (400, _) if token_invalid => Outcome::Unregistered,
        _ => {
            let what = code.or(error["status"].as_str()).unwrap_or("");
            let message = clip(error["message"].as_str().unwrap_or(""));
            Outcome::Failed(
                format!("FCM {status} {what} {message}")
                    .trim_end()
                    .to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fcm_error(status: &str, details: Value) -> String {
        json!({"error": {"code": 400, "message": "m", "status": status, "details": details}})
            .to_string()
    }

    /// The Flutter SDK's push fixture (`sdk-clients/flutter/test/fixtures/
    /// pushes.json`, which its Dart tests parse) is FCM's data.
    #[test]
    fn flutter_fixture_is_what_fcm_carries() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk-clients/flutter/test/fixtures/pushes.json"
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        let fcm: Vec<&Value> = cases.iter().filter(|c| c["provider"] == "fcm").collect();
        assert!(fcm.len() >= 3, "the fixture covers FCM");
        for case in fcm {
            let msg: PushMessage = serde_json::from_value(case["message"].clone()).unwrap();
            let m = message("tok", &msg);
            assert_eq!(m["message"]["data"], case["payload"], "{}", case["name"]);
        }
    }

    #[test]
    fn ring_is_high_priority_string_data_now_or_never() {
        let ring = PushMessage::Ring {
            call_cid: "default:c1".into(),
            caller_id: "alice".into(),
            caller_name: None,
            video: true,
        };
        let m = message("tok", &ring);
        assert_eq!(m["message"]["data"]["video"], "true");
        assert_eq!(
            m["message"]["android"],
            json!({"priority": "HIGH", "ttl": "0s"})
        );
        assert!(m["message"].get("notification").is_none());
    }

    #[test]
    fn unregistered_and_bad_token_remove_the_device() {
        let unreg = json!([{"@type": "x.FcmError", "errorCode": "UNREGISTERED"}]);
        assert_eq!(
            classify(404, &fcm_error("NOT_FOUND", unreg)),
            Outcome::Unregistered
        );
        let bad_token = json!([
            {"@type": "x.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "x.BadRequest", "fieldViolations": [{"field": "message.token"}]}
        ]);
        let body = fcm_error("INVALID_ARGUMENT", bad_token);
        assert_eq!(classify(400, &body), Outcome::Unregistered);
    }

    #[test]
    fn other_errors_are_retryable_failures() {
        let bad_payload = json!([
            {"@type": "x.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "x.BadRequest", "fieldViolations": [{"field": "message.data"}]}
        ]);
        let body = fcm_error("INVALID_ARGUMENT", bad_payload);
        assert!(matches!(classify(400, &body), Outcome::Failed(_)));
        assert!(matches!(classify(404, "not json"), Outcome::Failed(_)));
        assert!(matches!(classify(429, ""), Outcome::Failed(_)));
        assert!(matches!(classify(503, ""), Outcome::Failed(_)));
    }
}
