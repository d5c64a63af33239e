//! A stand-in for Google's OAuth token endpoint and FCM HTTP v1 (HTTP/1.1):
//! the token endpoint checks the JWT-bearer grant and its RS256 assertion,
//! the send endpoint the bearer token, project and message, answering with
//! Google's error shapes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::http::request::Parts;
use hyper::{Request, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{bind, body_bytes, serve, unix_now, Protocol, Server};

/// The Firebase project.
pub const PROJECT: &str = "onair-test";
/// The service account's email.
pub const CLIENT_EMAIL: &str = "push@onair-test.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub bearer: String,
    pub message: Value,
}

#[derive(Default)]
struct Log {
    token_requests: usize,
    issued: usize,
    valid: HashSet<String>,
    refuse_all_tokens: bool,
    unregistered: HashSet<String>,
    invalid: HashSet<String>,
    sent: Vec<Sent>,
    rejected: Vec<(u16, String)>,
}

struct State {
    key: DecodingKey,
    token_uri: String,
    log: Mutex<Log>,
}

/// The running stand-in.
pub struct FcmStandIn {
    pub base_url: String,
    pub token_uri: String,
    state: Arc<State>,
    _server: Server,
}

impl FcmStandIn {
    /// Starts a stand-in that trusts `public_pem` for [`CLIENT_EMAIL`].
    pub async fn start(public_pem: &[u8]) -> Self {
        let (listener, addr) = bind().await;
        let token_uri = format!("http://{addr}/token");
        let state = Arc::new(State {
            key: DecodingKey::from_rsa_pem(public_pem).expect("the test public key"),
            token_uri: token_uri.clone(),
            log: Mutex::default(),
        });
        let s = state.clone();
        let server = serve(listener, Protocol::Http1, move |req| handle(s.clone(), req));
        Self {
            base_url: format!("http://{addr}"),
            token_uri,
            state,
            _server: server,
        }
    }

    /// Forgets every access token issued so far (as if they expired early).
    pub fn revoke_tokens(&self) {
        self.log().valid.clear();
    }

    /// Answers 401 to every send, whatever the token.
    pub fn refuse_all_tokens(&self) {
        self.log().refuse_all_tokens = true;
    }

    /// Answers 404 UNREGISTERED for this device token.
    pub fn mark_unregistered(&self, token: &str) {
        self.log().unregistered.insert(token.to_string());
    }

    /// Answers 400 INVALID_ARGUMENT on `message.token` for this device token.
    pub fn mark_invalid(&self, token: &str) {
        self.log().invalid.insert(token.to_string());
    }

    /// How many times the token endpoint was asked.
    pub fn token_requests(&self) -> usize {
        self.log().token_requests
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.log().sent.clone()
    }

    /// Refusals so far: status and Google's status or error string.
    pub fn rejected(&self) -> Vec<(u16, String)> {
        self.log().rejected.clone()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.state.log.lock().expect("stand-in log")
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = body_bytes(req).await;
    let send_path = format!("/v1/projects/{PROJECT}/messages:send");
    let (status, body) = match (parts.method.as_str(), parts.uri.path()) {
        ("POST", "/token") => token_endpoint(&state, &parts, &body),
        ("POST", p) if p == send_path => send_endpoint(&state, &parts, &body),
        _ => google_error(404, "NOT_FOUND", None, None),
    };
    if status != 200 {
        let what = body["error"]["status"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("");
        let mut log = state.log.lock().expect("stand-in log");
        log.rejected.push((status, what.to_string()));
    }
    crate::server::json(status, body)
}

type Answer = (u16, Value);

fn oauth_error(error: &str, description: &str) -> Answer {
    (
        400,
        json!({"error": error, "error_description": description}),
    )
}

#[derive(Deserialize)]
struct Assertion {
    scope: String,
    iat: u64,
    exp: u64,
}

/// The JWT-bearer grant: form fields, then the assertion's signature and claims.
fn token_endpoint(state: &State, parts: &Parts, body: &[u8]) -> Answer {
    state.log.lock().expect("stand-in log").token_requests += 1;
    let form_ok = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !form_ok || field("grant_type") != Some(GRANT) {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = field("assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[&state.token_uri]);
    v.set_issuer(&[CLIENT_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Assertion>(assertion, &state.key, &v) {
        Ok(data) => data.claims,
        Err(e) => return oauth_error("invalid_grant", &format!("Invalid JWT: {e}")),
    };
    let now = unix_now();
    if claims.iat > now + 60 || claims.exp <= claims.iat || claims.exp - claims.iat > 3600 {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token",
        );
    }
    if !claims.scope.split(' ').any(|s| s == SCOPE) {
        return oauth_error("invalid_scope", "Invalid OAuth scope");
    }
    let mut log = state.log.lock().expect("stand-in log");
    log.issued += 1;
    let token = format!("ya29.standin-{}", log.issued);
    log.valid.insert(token.clone());
    (
        200,
        json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

fn google_error(code: u16, status: &str, error_code: Option<&str>, field: Option<&str>) -> Answer {
    let mut details = vec![];
    if let Some(c) = error_code {
        details.push(
            json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c}),
        );
    }
    if let Some(f) = field {
        details.push(json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [{"field": f, "description": "invalid"}]}));
    }
    let body = json!({"error": {"code": code, "message": "stand-in", "status": status, "details": details}});
    (code, body)
}

/// Bearer token, then the message, then the device token's fate.
fn send_endpoint(state: &State, parts: &Parts, body: &[u8]) -> Answer {
    let bearer = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    let mut log = state.log.lock().expect("stand-in log");
    if log.refuse_all_tokens || !log.valid.contains(&bearer) {
        return google_error(401, "UNAUTHENTICATED", None, None);
    }
    let parsed = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let message = parsed["message"].clone();
    if let Err(field) = check_message(&message) {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            Some(field),
        );
    }
    let token = message["token"].as_str().unwrap_or("");
    if log.unregistered.contains(token) {
        return google_error(404, "NOT_FOUND", Some("UNREGISTERED"), None);
    }
    if log.invalid.contains(token) {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            Some("message.token"),
        );
    }
    log.sent.push(Sent { bearer, message });
    let n = log.sent.len();
    (
        200,
        json!({"name": format!("projects/{PROJECT}/messages/{n}")}),
    )
}

/// FCM's rules (a token, string-only data, a valid android block) plus
/// OnAir's (call fields, HIGH priority). Errs with the offending field.
fn check_message(m: &Value) -> Result<(), &'static str> {
    if m["token"].as_str().is_none_or(str::is_empty) {
        return Err("message.token");
    }
    let data = m["data"].as_object().ok_or("message.data")?;
    if !data.values().all(Value::is_string) {
        return Err("message.data");
    }
    let s = |k: &str| data.get(k).and_then(Value::as_str);
    let fields_ok = s("call_cid").is_some()
        && match s("type") {
            Some("call.ring" | "call.missed") => {
                s("caller_id").is_some() && matches!(s("video"), Some("true" | "false"))
            }
            Some("call.ended") => s("reason").is_some(),
            _ => false,
        };
    if !fields_ok {
        return Err("message.data");
    }
    let android = &m["android"];
    if android["priority"] != "HIGH" {
        return Err("message.android.priority");
    }
    let ttl_ok = android["ttl"]
        .as_str()
        .and_then(|t| t.strip_suffix('s'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ttl_ok {
        return Err("message.android.ttl");
    }
    Ok(())
}
