//! A stand-in for api.push.apple.com: HTTP/2 only, and it refuses what
//! Apple refuses (provider token, topic, push type, priority, expiration,
//! payload), answering with Apple's status codes and reasons. Checks Apple
//! does not make (our payload's call fields) answer 400 `StandIn:…`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::http::request::Parts;
use hyper::{Request, Response, Version};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{bind, body_bytes, serve, unix_now, Protocol, Server};

/// The app the stand-in serves.
pub const BUNDLE: &str = "com.example.onair";
/// The .p8 key id.
pub const KEY_ID: &str = "ABC123DEFG";
/// The team id.
pub const TEAM_ID: &str = "TEAM123456";

/// One accepted push, as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub token: String,
    pub topic: String,
    pub push_type: String,
    pub priority: u8,
    pub expiration: u64,
    pub collapse_id: Option<String>,
    pub jwt: String,
    pub body: Value,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    rejected: Vec<(u16, String)>,
    unregistered: HashSet<String>,
    bad: HashSet<String>,
    /// Provider tokens accepted so far, in order of first use.
    jwts: Vec<String>,
}

struct State {
    key: DecodingKey,
    log: Mutex<Log>,
}

/// The running stand-in.
pub struct ApnsStandIn {
    pub url: String,
    state: Arc<State>,
    _server: Server,
}

impl ApnsStandIn {
    /// Starts a stand-in that trusts `public_pem` for [`KEY_ID`].
    pub async fn start(public_pem: &[u8]) -> Self {
        let key = DecodingKey::from_ec_pem(public_pem).expect("the test public key");
        let state = Arc::new(State {
            key,
            log: Mutex::default(),
        });
        let (listener, addr) = bind().await;
        let s = state.clone();
        let server = serve(listener, Protocol::H2c, move |req| handle(s.clone(), req));
        Self {
            url: format!("http://{addr}"),
            state,
            _server: server,
        }
    }

    /// Answers 410 Unregistered for `token` from now on.
    pub fn mark_unregistered(&self, token: &str) {
        self.log().unregistered.insert(token.to_string());
    }

    /// Answers 400 BadDeviceToken for `token` from now on.
    pub fn mark_bad(&self, token: &str) {
        self.log().bad.insert(token.to_string());
    }

    /// Pushes accepted (200) so far.
    pub fn received(&self) -> Vec<Received> {
        self.log().received.clone()
    }

    /// Refusals so far: status and reason.
    pub fn rejected(&self) -> Vec<(u16, String)> {
        self.log().rejected.clone()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.state.log.lock().expect("stand-in log")
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = body_bytes(req).await;
    let (status, reason) = match check(&state, &parts, &body) {
        Ok(received) => {
            let mut log = state.log.lock().expect("stand-in log");
            if log.unregistered.contains(&received.token) {
                (410, "Unregistered".to_string())
            } else if log.bad.contains(&received.token) {
                (400, "BadDeviceToken".to_string())
            } else {
                log.received.push(received);
                return ok();
            }
        }
        Err(refusal) => refusal,
    };
    state
        .log
        .lock()
        .expect("stand-in log")
        .rejected
        .push((status, reason.clone()));
    let mut body = json!({ "reason": reason });
    if status == 410 {
        body["timestamp"] = json!(unix_now() * 1000);
    }
    crate::server::json(status, body)
}

fn ok() -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("apns-id", "00000000-0000-0000-0000-000000000001")
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

type Refusal = (u16, String);

fn refuse(status: u16, reason: &str) -> Refusal {
    (status, reason.to_string())
}

/// Everything Apple checks, in Apple's order: path, provider token, headers, payload.
fn check(state: &State, parts: &Parts, body: &[u8]) -> Result<Received, Refusal> {
    if parts.version != Version::HTTP_2 {
        return Err(refuse(400, "StandIn:NotHttp2"));
    }
    if parts.method != "POST" {
        return Err(refuse(405, "MethodNotAllowed"));
    }
    let token = parts
        .uri
        .path()
        .strip_prefix("/3/device/")
        .ok_or(refuse(404, "BadPath"))?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(400, "BadDeviceToken"));
    }
    let jwt = check_provider_token(state, parts)?;
    let h = Headers::read(parts)?;
    let payload = check_payload(&h, body)?;
    Ok(Received {
        token: token.to_string(),
        topic: h.topic,
        push_type: h.push_type,
        priority: h.priority,
        expiration: h.expiration,
        collapse_id: h.collapse_id,
        jwt,
        body: payload,
    })
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: u64,
}

/// `authorization: bearer <ES256 JWT {kid}{iss, iat}>`, not older than an
/// hour, and not renewed within 20 minutes of the previous one.
fn check_provider_token(state: &State, parts: &Parts) -> Result<String, Refusal> {
    let auth = header(parts, "authorization").ok_or(refuse(403, "MissingProviderToken"))?;
    let jwt = auth
        .strip_prefix("bearer ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .ok_or(refuse(403, "MissingProviderToken"))?;
    let invalid = || refuse(403, "InvalidProviderToken");
    let head = jsonwebtoken::decode_header(jwt).map_err(|_| invalid())?;
    if head.alg != Algorithm::ES256 || head.kid.as_deref() != Some(KEY_ID) {
        return Err(invalid());
    }
    let mut v = Validation::new(Algorithm::ES256);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &state.key, &v)
        .map_err(|_| invalid())?
        .claims;
    let now = unix_now();
    if claims.iss != TEAM_ID || claims.iat > now + 60 {
        return Err(invalid());
    }
    if now - claims.iat > 3600 {
        return Err(refuse(403, "ExpiredProviderToken"));
    }
    let mut log = state.log.lock().expect("stand-in log");
    if !log.jwts.iter().any(|j| j == jwt) {
        // Every test runs well within 20 minutes: a second token is too soon.
        if !log.jwts.is_empty() {
            return Err(refuse(429, "TooManyProviderTokenUpdates"));
        }
        log.jwts.push(jwt.to_string());
    }
    Ok(jwt.to_string())
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The apns-* headers, checked against each other.
struct Headers {
    topic: String,
    push_type: String,
    priority: u8,
    expiration: u64,
    collapse_id: Option<String>,
}

impl Headers {
    fn read(parts: &Parts) -> Result<Self, Refusal> {
        let topic = header(parts, "apns-topic").ok_or(refuse(400, "MissingTopic"))?;
        let push_type = header(parts, "apns-push-type").ok_or(refuse(400, "InvalidPushType"))?;
        let wanted_topic = match push_type {
            "voip" => format!("{BUNDLE}.voip"),
            "alert" | "background" => BUNDLE.to_string(),
            _ => return Err(refuse(400, "InvalidPushType")),
        };
        if topic != wanted_topic {
            return Err(refuse(
                400,
                if topic.starts_with(BUNDLE) {
                    "BadTopic"
                } else {
                    "TopicDisallowed"
                },
            ));
        }
        let priority = match header(parts, "apns-priority") {
            Some("10") if push_type != "background" => 10,
            Some("5") => 5,
            _ => return Err(refuse(400, "BadPriority")),
        };
        // Apple defaults a missing expiration; the stand-in insists on one.
        let expiration = header(parts, "apns-expiration")
            .and_then(|e| e.parse().ok())
            .ok_or(refuse(400, "BadExpirationDate"))?;
        let collapse_id = header(parts, "apns-collapse-id").map(str::to_string);
        if collapse_id.as_ref().is_some_and(|c| c.len() > 64) {
            return Err(refuse(400, "BadCollapseId"));
        }
        Ok(Self {
            topic: topic.to_string(),
            push_type: push_type.to_string(),
            priority,
            expiration,
            collapse_id,
        })
    }
}

/// The JSON payload: size, `aps` for the push type, and OnAir's call fields.
fn check_payload(h: &Headers, body: &[u8]) -> Result<Value, Refusal> {
    if body.is_empty() {
        return Err(refuse(400, "PayloadEmpty"));
    }
    let limit = if h.push_type == "voip" { 5120 } else { 4096 };
    if body.len() > limit {
        return Err(refuse(413, "PayloadTooLarge"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| refuse(400, "StandIn:NotJson"))?;
    let aps = v["aps"].as_object().ok_or(refuse(400, "StandIn:NoAps"))?;
    let aps_ok = match h.push_type.as_str() {
        "alert" => {
            aps["alert"]["title"].is_string()
                && aps["alert"]["body"].is_string()
                && aps.get("sound").is_some_and(Value::is_string)
        }
        "background" => {
            aps.get("content-available") == Some(&json!(1)) && !aps.contains_key("alert")
        }
        _ => true,
    };
    if !aps_ok {
        return Err(refuse(400, "StandIn:ApsDoesNotMatchPushType"));
    }
    call_fields_ok(&v).map_err(|what| refuse(400, &format!("StandIn:{what}")))?;
    Ok(v)
}

fn call_fields_ok(v: &Value) -> Result<(), &'static str> {
    if !v["call_cid"].is_string() {
        return Err("call_cid");
    }
    match v["type"].as_str() {
        Some("call.ring" | "call.missed") => {
            let name_ok = v.get("caller_name").is_none_or(Value::is_string);
            (v["caller_id"].is_string() && v["video"].is_boolean() && name_ok)
                .then_some(())
                .ok_or("caller fields")
        }
        Some("call.ended") => v["reason"].is_string().then_some(()).ok_or("reason"),
        _ => Err("type"),
    }
}
