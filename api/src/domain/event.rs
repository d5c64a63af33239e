//! Events as apps and backends hear them (Stream's `call.*` names): one
//! envelope `{id, type, created_at, call_cid, …payload}`. They are stored
//! with the change that caused them, so what a socket, a webhook or
//! `GET /v1/events` tells is exactly what happened, in order.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// An event about to be stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Unique per event where it was made: storing it twice stores it once.
    pub origin_id: String,
    /// Its type (`call.created`, …).
    pub event_type: String,
    /// The call it concerns.
    pub call_cid: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Its own fields (an object).
    pub payload: Value,
}

impl NewEvent {
    /// A new event of `event_type` about `call_cid`, now.
    pub fn new(call_cid: &str, event_type: &str, payload: Value) -> Self {
        Self {
            origin_id: uuid::Uuid::new_v4().to_string(),
            event_type: event_type.to_owned(),
            call_cid: call_cid.to_owned(),
            created_at: Utc::now(),
            payload,
        }
    }
}

/// An event as stored: its id orders it among all events.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Its id: unique, and larger for every later event.
    pub id: i64,
    /// Its type.
    pub event_type: String,
    /// The call it concerns.
    pub call_cid: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Its own fields.
    pub payload: Value,
}

impl StoredEvent {
    /// The event as it goes out: `{id, type, created_at, call_cid, …}`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), self.id.to_string().into());
        out.insert("type".into(), self.event_type.clone().into());
        let at = self.created_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        out.insert("created_at".into(), at.into());
        out.insert("call_cid".into(), self.call_cid.clone().into());
        if let Value::Object(fields) = &self.payload {
            for (k, v) in fields {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Value::Object(out)
    }

    /// Whether `pattern` (`call.*`, `call.ring`, `*`) names this event's type.
    pub fn matches(&self, pattern: &str) -> bool {
        type_matches(pattern, &self.event_type)
    }
}

/// Whether `pattern` names `event_type`: exactly, or with a trailing `*`
/// standing for any rest (`call.*`, `*`).
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_comes_first_and_payload_cannot_override_it() {
        let e = StoredEvent {
            id: 42,
            event_type: "call.ended".into(),
            call_cid: "default:a".into(),
            created_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            payload: serde_json::json!({"reason": "timeout", "id": "forged"}),
        };
        assert_eq!(
            e.to_json(),
            serde_json::json!({"id": "42", "type": "call.ended",
                "created_at": "2023-11-14T22:13:20.123Z", "call_cid": "default:a", "reason": "timeout"})
        );
    }

    #[test]
    fn patterns_match_by_prefix_or_exactly() {
        assert!(type_matches("*", "call.ring"));
        assert!(type_matches("call.*", "call.ring"));
        assert!(type_matches("call.ring", "call.ring"));
        assert!(!type_matches("call.ring", "call.rejected"));
        assert!(!type_matches("call.recording_*", "call.ring"));
    }
}
