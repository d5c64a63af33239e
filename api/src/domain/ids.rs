//! Validated identifiers: call types, call ids, user ids. They are checked
//! where they enter (paths, bodies, rows), so the rest of the crate can
//! put them in URLs, keys and tokens as they are.

use std::fmt;

/// Longest accepted id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// An id that is empty, too long, or has characters outside `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: use 1-64 letters, digits, `-` or `_`")]
pub struct InvalidId {
    /// Which id (`call type`, `call id`, `user id`).
    pub what: &'static str,
    /// The refused value (truncated).
    pub value: String,
}

/// Checks an id: 1–64 of `[A-Za-z0-9_-]`.
pub fn validate(what: &'static str, value: &str) -> Result<(), InvalidId> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvalidId {
            what,
            value: value.chars().take(MAX_ID_LEN + 1).collect(),
        })
    }
}

/// The user behind a participant identity: an ingest session (RTMP, WHIP)
/// joins as `{user}:ingest`; user ids have no colon.
pub fn owner_of(identity: &str) -> &str {
    identity.split(':').next().unwrap_or(identity)
}

/// Checks a user id: like [`validate`] but also allows `@` and `.`, as
/// app backends often use e-mail-like ids; max 128.
pub fn validate_user_id(value: &str) -> Result<(), InvalidId> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'@' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(InvalidId {
            what: "user id",
            value: value.chars().take(129).collect(),
        })
    }
}

/// A call's identity: its type and id; displayed as the cid `type:id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallCid {
    /// Call type name.
    pub call_type: String,
    /// Call id, unique within its type.
    pub id: String,
}

impl CallCid {
    /// A validated cid.
    pub fn new(call_type: &str, id: &str) -> Result<Self, InvalidId> {
        validate("call type", call_type)?;
        validate("call id", id)?;
        Ok(Self {
            call_type: call_type.to_owned(),
            id: id.to_owned(),
        })
    }

    /// Parses `type:id`.
    pub fn parse(cid: &str) -> Result<Self, InvalidId> {
        let (t, i) = cid.split_once(':').ok_or_else(|| InvalidId {
            what: "call cid",
            value: cid.chars().take(MAX_ID_LEN * 2 + 2).collect(),
        })?;
        Self::new(t, i)
    }
}

impl fmt::Display for CallCid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.call_type, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate("call id", "abc-DEF_123").is_ok());
        assert!(validate("call id", &"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a:b", "é", "a/b", "../x", &"a".repeat(65)] {
            assert!(validate("call id", bad).is_err(), "{bad}");
        }
        assert!(validate_user_id("john.doe@example.com").is_ok());
        assert!(validate_user_id("bad id").is_err());
    }

    #[test]
    fn cids() {
        let cid = CallCid::parse("livestream:abc").unwrap();
        assert_eq!(
            (cid.call_type.as_str(), cid.id.as_str()),
            ("livestream", "abc")
        );
        assert_eq!(cid.to_string(), "livestream:abc");
        assert!(CallCid::parse("livestream").is_err());
        assert!(CallCid::parse("a:b:c").is_err());
    }
}
