//! Webhook endpoints and the rules of delivering to them, as pure functions:
//! which endpoints are valid, which events an endpoint wants, what an
//! attempt's outcome means (delivered, retry later, park) and how long to
//! wait before the next attempt. The sending itself is in
//! [`crate::webhooks`]; the delivery state in [`crate::store::WebhookStore`].

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::event::{type_matches, StoredEvent};

/// Endpoints one `PUT /v1/webhooks` (or the config) may name.
pub const MAX_ENDPOINTS: usize = 20;
/// Event-type patterns one endpoint may list.
pub const MAX_PATTERNS: usize = 50;
/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest event-type pattern.
pub const MAX_PATTERN_LEN: usize = 128;
/// The wait after a first failed attempt; it doubles after each failure…
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// …up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long an event is retried by default before it is parked.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(24 * 3600);

/// Where events are POSTed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Event types to send (`call.*`, `call.ended`, `*`); every event when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

impl Endpoint {
    /// Whether this endpoint wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        match &self.events {
            None => true,
            Some(patterns) => patterns.iter().any(|p| type_matches(p, event_type)),
        }
    }

    /// The URL as it may be logged: scheme, host, port and path, never
    /// the query (it may hold a token) nor user info.
    pub fn loggable_url(&self) -> String {
        loggable_url(&self.url)
    }
}

/// `url` without user info, query and fragment ("invalid URL" if unreadable).
pub fn loggable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "invalid URL".into(),
    }
}

/// Who set an endpoint up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The config file (`[[webhooks]]`): changed by editing it.
    Config,
    /// `PUT /v1/webhooks`.
    Api,
}

impl Source {
    /// Its name in the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Api => "api",
        }
    }

    /// The source named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "config" => Some(Source::Config),
            "api" => Some(Source::Api),
            _ => None,
        }
    }
}

/// What the deployment says about webhooks (`[[webhooks]]`, `webhook_retry_for`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Endpoints from the config file.
    pub endpoints: Vec<Endpoint>,
    /// How long an event is retried (from its first attempt) before it is parked.
    pub retry_for: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            retry_for: DEFAULT_RETRY_FOR,
        }
    }
}

/// Why a set of endpoints is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEndpoints {
    /// More than [`MAX_ENDPOINTS`].
    #[error("at most {MAX_ENDPOINTS} webhook endpoints")]
    TooMany,
    /// Not an absolute http(s) URL with a host, or too long.
    #[error("webhook URL #{0} is not an http:// or https:// URL with a host (of at most {MAX_URL_LEN} bytes)")]
    BadUrl(usize),
    /// The same URL twice.
    #[error("webhook URL #{0} is listed twice")]
    DuplicateUrl(usize),
    /// More than [`MAX_PATTERNS`] patterns, or none.
    #[error("webhook #{0} lists no event types or more than {MAX_PATTERNS}; leave `events` out for every event")]
    BadPatternCount(usize),
    /// A pattern that is not a type name with an optional trailing `*`.
    #[error("webhook #{0}: an event type is letters, digits, `.`, `_` or `-` with an optional trailing `*` (at most {MAX_PATTERN_LEN} bytes)")]
    BadPattern(usize),
}

impl InvalidEndpoints {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidEndpoints::TooMany => "too_many_webhooks",
            InvalidEndpoints::BadUrl(_) => "invalid_webhook_url",
            InvalidEndpoints::DuplicateUrl(_) => "duplicate_webhook_url",
            InvalidEndpoints::BadPatternCount(_) => "invalid_webhook_events",
            InvalidEndpoints::BadPattern(_) => "invalid_event_pattern",
        }
    }
}

/// Checks a set of endpoints (numbered from 0 in errors).
pub fn validate(endpoints: &[Endpoint]) -> Result<(), InvalidEndpoints> {
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(InvalidEndpoints::TooMany);
    }
    let mut seen = HashSet::new();
    for (i, e) in endpoints.iter().enumerate() {
        if !valid_url(&e.url) {
            return Err(InvalidEndpoints::BadUrl(i));
        }
        if !seen.insert(e.url.as_str()) {
            return Err(InvalidEndpoints::DuplicateUrl(i));
        }
        if let Some(patterns) = &e.events {
            if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
                return Err(InvalidEndpoints::BadPatternCount(i));
            }
            if !patterns.iter().all(|p| valid_pattern(p)) {
                return Err(InvalidEndpoints::BadPattern(i));
            }
        }
    }
    Ok(())
}

fn valid_url(text: &str) -> bool {
    if text.len() > MAX_URL_LEN || text.trim() != text {
        return false;
    }
    match url::Url::parse(text) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

fn valid_pattern(p: &str) -> bool {
    let name = p.strip_suffix('*').unwrap_or(p);
    p.len() <= MAX_PATTERN_LEN
        && (p == "*" || !name.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An endpoint as stored, with its place in the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEndpoint {
    /// Its id in the store (kept while its URL stays in its set).
    pub id: String,
    /// Who set it up.
    pub source: Source,
    /// Where and what.
    pub endpoint: Endpoint,
    /// Every event up to this id is queued for it (or not wanted).
    pub queued_through: i64,
}

/// One event waiting to be delivered to one endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event: StoredEvent,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the first attempt started, if one did.
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
}

/// A failed attempt at one endpoint, as the store records it.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedAttempt {
    /// The event.
    pub event_id: i64,
    /// The event's call.
    pub call_cid: String,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// When the first attempt started.
    pub first_attempt_at: DateTime<Utc>,
    /// When this one ended.
    pub at: DateTime<Utc>,
    /// What went wrong (no URL, no secret).
    pub error: String,
    /// Retry at this time, or `None`: park it.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A delivery given up on: it waits for `POST /v1/webhooks/failed/redeliver`.
#[derive(Clone, Debug, PartialEq)]
pub struct Parked {
    /// The endpoint's id.
    pub endpoint_id: String,
    /// The endpoint's URL.
    pub url: String,
    /// The event's id.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// The event's call.
    pub call_cid: String,
    /// Attempts made.
    pub attempts: u32,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When the last attempt ended.
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// How far behind one endpoint is (for `/metrics`).
#[derive(Clone, Debug, PartialEq)]
pub struct Backlog {
    /// The endpoint's id.
    pub endpoint_id: String,
    /// Events queued for it and not delivered yet (parked ones apart).
    pub pending: i64,
    /// When the oldest of those was made (Unix ms).
    pub oldest_ms: Option<i64>,
    /// Events in the log it has not looked at yet.
    pub unqueued: i64,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// Worth trying again (connection error, timeout, 408, 429, 5xx).
    Retry(String),
    /// Pointless to try again (another status): parked at once.
    Park(String),
}

/// The outcome of an HTTP answer with `status`.
pub fn outcome_of_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry(format!("HTTP {status}")),
        _ => Outcome::Park(format!("HTTP {status}")),
    }
}

/// The wait after the `attempts`-th failed attempt: [`FIRST_BACKOFF`]
/// doubling, at most [`MAX_BACKOFF`], times `jitter` (0.75 to 1.25 spreads
/// retries of many events apart).
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    let base = FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.5, 1.5))
}

/// When to try again after a failed attempt that ended at `now`, or
/// `None` (park): a retryable failure is retried until `retry_for` has
/// passed since the first attempt.
pub fn retry_at(
    outcome: &Outcome,
    attempts: u32,
    first_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
    retry_for: Duration,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if !matches!(outcome, Outcome::Retry(_)) {
        return None;
    }
    let elapsed = (now - first_attempt_at).to_std().unwrap_or_default();
    if elapsed >= retry_for {
        return None;
    }
    let wait = chrono::Duration::from_std(backoff(attempts, jitter)).ok()?;
    Some(now + wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, events: Option<&[&str]>) -> Endpoint {
        Endpoint {
            url: url.into(),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn endpoints_are_checked() {
        let ok = endpoint("https://example.com/hook?token=x", Some(&["call.*", "*"]));
        assert_eq!(validate(std::slice::from_ref(&ok)), Ok(()));
        assert_eq!(validate(&[endpoint("http://127.0.0.1:9/h", None)]), Ok(()));
        let bad = |e: Endpoint| validate(&[e]).unwrap_err();
        assert_eq!(bad(endpoint("ftp://x/", None)), InvalidEndpoints::BadUrl(0));
        assert_eq!(
            bad(endpoint("/relative", None)),
            InvalidEndpoints::BadUrl(0)
        );
        assert_eq!(
            bad(endpoint(" http://x/", None)),
            InvalidEndpoints::BadUrl(0)
        );
        let long = format!("http://x/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(bad(endpoint(&long, None)), InvalidEndpoints::BadUrl(0));
        assert_eq!(
            bad(endpoint("http://x/", Some(&[]))),
            InvalidEndpoints::BadPatternCount(0)
        );
        for p in ["", "call.*.x", "call ended", "*call", "**"] {
            assert_eq!(
                bad(endpoint("http://x/", Some(&[p]))),
                InvalidEndpoints::BadPattern(0),
                "{p}"
            );
        }
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("t{i}")).collect();
        let e = Endpoint {
            url: "http://x/".into(),
            events: Some(many),
        };
        assert_eq!(bad(e), InvalidEndpoints::BadPatternCount(0));
        let dup = [ok.clone(), ok.clone()];
        assert_eq!(validate(&dup), Err(InvalidEndpoints::DuplicateUrl(1)));
        let all: Vec<Endpoint> = (0..=MAX_ENDPOINTS)
            .map(|i| endpoint(&format!("http://x/{i}"), None))
            .collect();
        assert_eq!(validate(&all), Err(InvalidEndpoints::TooMany));
    }

    #[test]
    fn endpoints_want_what_their_patterns_name() {
        assert!(endpoint("http://x/", None).wants("call.ended"));
        let some = endpoint("http://x/", Some(&["call.recording_*", "call.ended"]));
        assert!(some.wants("call.recording_ready"));
        assert!(some.wants("call.ended"));
        assert!(!some.wants("call.created"));
    }

    #[test]
    fn logs_never_see_the_query_or_user_info() {
        let e = endpoint(
            "https://user:pw@hooks.example.com:8443/in?token=secret#x",
            None,
        );
        assert_eq!(e.loggable_url(), "https://hooks.example.com:8443/in");
    }

    #[test]
    fn statuses_decide_retry_or_park() {
        assert_eq!(outcome_of_status(204), Outcome::Delivered);
        for s in [408, 429, 500, 503] {
            assert!(matches!(outcome_of_status(s), Outcome::Retry(_)), "{s}");
        }
        for s in [301, 400, 401, 404, 410] {
            assert!(matches!(outcome_of_status(s), Outcome::Park(_)), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_and_retries_stop_after_retry_for() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(40, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(2, 1.25), Duration::from_millis(2500));
        let t0 = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let retry = Outcome::Retry("HTTP 500".into());
        let day = Duration::from_secs(86_400);
        let later = t0 + chrono::Duration::seconds(10);
        assert_eq!(
            retry_at(&retry, 3, t0, later, day, 1.0),
            Some(later + chrono::Duration::seconds(4))
        );
        let after = t0 + chrono::Duration::seconds(86_400);
        assert_eq!(retry_at(&retry, 30, t0, after, day, 1.0), None);
        assert_eq!(
            retry_at(&Outcome::Park("HTTP 400".into()), 1, t0, t0, day, 1.0),
            None
        );
    }
}
