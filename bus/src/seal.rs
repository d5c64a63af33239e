//! Signed bus messages. Anyone who can reach Redis could otherwise publish
//! `EgressRequested`, `UserKicked` or `CallEnded` and be obeyed by every
//! node. Each message carries an HMAC-SHA256 over its JSON with a key
//! derived from the cluster's API secret; a node drops what is unsigned,
//! badly signed, or too old to be anything but a replay, with a log line.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Event;

type HmacSha256 = Hmac<Sha256>;

/// Events older (or further in the future) than this are refused: the
/// nodes' clocks agree better than that, and a replay is older.
const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// The key that signs and checks bus messages.
#[derive(Clone)]
pub struct BusKey([u8; 32]);

impl std::fmt::Debug for BusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusKey(<redacted>)")
    }
}

/// Why a message was dropped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No signature, or not ours.
    #[error("unsigned or badly signed")]
    BadSignature,
    /// Signed, but not an event.
    #[error("not an event: {0}")]
    Malformed(String),
    /// Signed and valid, but from too long ago (or too far ahead).
    #[error("event time {0} ms is out of the accepted window")]
    Stale(i64),
}

impl BusKey {
    /// The bus key derived from an API secret (so every node with the
    /// cluster's secret has it, and the secret itself never travels).
    pub fn derive(api_secret: &str) -> Self {
        let mut mac = mac(api_secret.as_bytes());
        mac.update(b"onair-bus-v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// `event` as a signed message: `signature.json`.
    pub fn seal(&self, event: &Event) -> Result<String, serde_json::Error> {
        self.seal_json(event)
    }

    /// Any value as a signed message (a node's registry entry).
    pub fn seal_json(&self, value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
        let json = serde_json::to_string(value)?;
        let mut mac = mac(&self.0);
        mac.update(json.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{sig}.{json}"))
    }

    /// The value of a message [`BusKey::seal_json`] signed; its freshness
    /// is the caller's to check.
    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        message: &[u8],
    ) -> Result<T, SealError> {
        let dot = message
            .iter()
            .position(|b| *b == b'.')
            .ok_or(SealError::BadSignature)?;
        let (sig, json) = (&message[..dot], &message[dot + 1..]);
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SealError::BadSignature)?;
        let mut mac = mac(&self.0);
        mac.update(json);
        mac.verify_slice(&sig)
            .map_err(|_| SealError::BadSignature)?;
        serde_json::from_slice(json).map_err(|e| SealError::Malformed(e.to_string()))
    }

    /// The event of a signed message received at `now_ms`.
    pub fn open(&self, message: &[u8], now_ms: i64) -> Result<Event, SealError> {
        self.open_within(message, now_ms, MAX_AGE_MS)
    }

    /// The event of a signed message received at `now_ms`, if it is at
    /// most `max_age_ms` old. Jobs wait in their queue and are taken over
    /// long after they were offered, so they are read with a wider window
    /// (their worker asks the API whether the job is still wanted).
    pub fn open_within(
        &self,
        message: &[u8],
        now_ms: i64,
        max_age_ms: i64,
    ) -> Result<Event, SealError> {
        let event: Event = self.open_json(message)?;
        if (now_ms - event.created_at_ms).abs() > max_age_ms {
            return Err(SealError::Stale(event.created_at_ms));
        }
        Ok(event)
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    #[test]
    fn sealed_events_open_and_forgeries_do_not() {
        let key = BusKey::derive("cluster-secret");
        let event = Event::new(
            "a:b",
            1_000,
            EventKind::UserKicked {
                user_id: "x".into(),
            },
        );
        let sealed = key.seal(&event).unwrap();
        assert_eq!(key.open(sealed.as_bytes(), 2_000), Ok(event.clone()));

        // Unsigned, signed with another secret, or altered: dropped.
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            key.open(json.as_bytes(), 2_000),
            Err(SealError::BadSignature)
        );
        let other = BusKey::derive("another-secret").seal(&event).unwrap();
        assert_eq!(
            key.open(other.as_bytes(), 2_000),
            Err(SealError::BadSignature)
        );
        let altered = sealed.replace("\"x\"", "\"y\"");
        assert_eq!(
            key.open(altered.as_bytes(), 2_000),
            Err(SealError::BadSignature)
        );
        assert_eq!(key.open(b"", 2_000), Err(SealError::BadSignature));

        // A replay from long ago: dropped.
        assert_eq!(
            key.open(sealed.as_bytes(), 1_000 + MAX_AGE_MS + 1),
            Err(SealError::Stale(1_000))
        );
        // The secret is not in the message, and the key does not print.
        assert!(!sealed.contains("cluster-secret"));
        assert_eq!(format!("{key:?}"), "BusKey(<redacted>)");
    }
}
