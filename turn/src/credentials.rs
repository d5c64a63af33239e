//! TURN REST API credentials (coturn's `use-auth-secret`, LiveKit's scheme).
//!
//! username = `"{expiry_unix}:{participant}"`,
//! password = base64(HMAC-SHA1(secret, username)).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// STUN limits USERNAME to 513 bytes (RFC 8489 §14.3).
const MAX_USERNAME_LEN: usize = 513;

/// Mints the TURN username and password for `participant`, valid for new
/// allocations until `expires_at_unix` (seconds since the Unix epoch).
///
/// `secret` is the one given to the server in [`crate::TurnConfig::secret`].
/// Returns `(username, password)`, ready for an `ice_servers` entry.
pub fn credentials(secret: &[u8], participant: &str, expires_at_unix: u64) -> (String, String) {
    let username = format!("{expires_at_unix}:{participant}");
    let password = password_for(secret, &username);
    (username, password)
}

/// The password the server expects for `username`: base64(HMAC-SHA1(secret, username)).
pub(crate) fn password_for(secret: &[u8], username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any size"),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A username the server understood: when it stops being good for new
/// allocations, and whom it was minted for (the per-user quota's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUsername<'a> {
    pub expires_at_unix: u64,
    pub participant: &'a str,
}

/// Parses `"{expiry_unix}:{participant}"`; `None` when it is anything else.
pub(crate) fn parse_username(username: &str) -> Option<ParsedUsername<'_>> {
    if username.len() > MAX_USERNAME_LEN {
        return None;
    }
    let (expiry, participant) = username.split_once(':')?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if participant.is_empty() || participant.chars().any(char::is_control) {
        return None;
    }
    let expires_at_unix = expiry.parse().ok()?;
    Some(ParsedUsername {
        expires_at_unix,
        participant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coturn_compatible() {
        // Same construction as coturn's `use-auth-secret`: HMAC-SHA1 over the
        // username, base64 with padding (a 20-byte MAC is 28 characters).
        let (user, pass) = credentials(b"secret", "alice", 1_700_000_000);
        assert_eq!(user, "1700000000:alice");
        assert_eq!(pass.len(), 28);
        assert_eq!(pass, password_for(b"secret", "1700000000:alice"));
        assert_ne!(pass, password_for(b"other", "1700000000:alice"));
    }

    #[test]
    fn parses() {
        let p = parse_username("42:bob:with:colons").expect("valid");
        assert_eq!(p.expires_at_unix, 42);
        assert_eq!(p.participant, "bob:with:colons");
        for bad in [
            "",
            "bob",
            ":bob",
            "42:",
            "x42:bob",
            "-1:bob",
            "99999999999999999999999:bob",
            "42:b\nob",
        ] {
            assert!(parse_username(bad).is_none(), "{bad:?}");
        }
        assert!(parse_username(&format!("1:{}", "a".repeat(600))).is_none());
    }
}
