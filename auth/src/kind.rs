//! Which kind a token is, told by an explicit rule over its claim names,
//! never by whether its claims happen to parse as another kind.
//!
//! The rule: a `server` claim makes a server token, a `video` claim a join
//! token, a `file` claim a download-link token; a token with none of these
//! is a user token. A token with two markers, or with a claim its kind does
//! not know, is refused: a join token is not a user token with extras, and
//! a shape nobody mints is not guessed at.

use serde_json::{Map, Value};

use crate::error::AuthError;

/// The kinds of token OnAir knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `{iss, exp, server: true}`: full access to `/v1`.
    Server,
    /// `{iss, sub, exp, …}`: acts as one user on `/v1`, WHIP and RTMP.
    User,
    /// LiveKit's claim layout (`video.roomJoin`): admits one participant at `/rtc`.
    Join,
    /// `{iss, exp, file}`: reads one stored file.
    File,
}

impl TokenKind {
    /// The name used in refusals.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Server => "server",
            TokenKind::User => "user",
            TokenKind::Join => "join",
            TokenKind::File => "file",
        }
    }

    /// The claims a token of this kind may carry.
    fn allowed(self) -> &'static [&'static str] {
        match self {
            TokenKind::Server => &["server"],
            TokenKind::User => &["sub", "name", "image", "role", "call_cids"],
            // LiveKit server SDKs add `kind`, `attributes`, `sha256`,
            // `roomPreset`, `roomConfig` and `sip`; OnAir ignores them.
            TokenKind::Join => &[
                "sub",
                "name",
                "metadata",
                "video",
                "onair",
                "kind",
                "attributes",
                "sha256",
                "roomPreset",
                "roomConfig",
                "sip",
            ],
            TokenKind::File => &["file"],
        }
    }
}

/// Registered JWT claims any kind may carry.
/// (`aud` is not among them: tokens name no audience, and one that does is
/// refused by the JWT check.)
const REGISTERED: &[&str] = &["iss", "exp", "iat", "nbf", "jti"];

/// The kind of a token with these (already verified) claims.
pub fn kind_of(claims: &Map<String, Value>) -> Result<TokenKind, AuthError> {
    let markers = [
        ("server", TokenKind::Server),
        ("video", TokenKind::Join),
        ("file", TokenKind::File),
    ];
    let mut found = markers
        .iter()
        .filter(|(name, _)| claims.contains_key(*name));
    let kind = match (found.next(), found.next()) {
        (None, _) => TokenKind::User,
        (Some((_, kind)), None) => *kind,
        (Some((a, _)), Some((b, _))) => {
            return Err(AuthError::Malformed(format!(
                "claims `{a}` and `{b}` belong to different token kinds"
            )))
        }
    };
    if let Some(extra) = claims
        .keys()
        .find(|k| !REGISTERED.contains(&k.as_str()) && !kind.allowed().contains(&k.as_str()))
    {
        return Err(AuthError::Malformed(format!(
            "claim `{extra}` is not part of a {} token",
            kind.as_str()
        )));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: Value) -> Result<TokenKind, AuthError> {
        kind_of(v.as_object().unwrap())
    }

    #[test]
    fn each_kind_by_its_marker() {
        let base = json!({"iss": "k", "exp": 1});
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        assert_eq!(kind(with("server", json!(true))), Ok(TokenKind::Server));
        assert_eq!(kind(with("sub", json!("a"))), Ok(TokenKind::User));
        assert_eq!(kind(with("video", json!({}))), Ok(TokenKind::Join));
        assert_eq!(kind(with("file", json!("x"))), Ok(TokenKind::File));
    }

    #[test]
    fn mixed_and_unknown_shapes_are_refused() {
        for v in [
            json!({"iss": "k", "server": true, "video": {}}),
            json!({"iss": "k", "sub": "a", "file": "x", "video": {}}),
            // A join token's extras do not make a user token.
            json!({"iss": "k", "sub": "a", "metadata": "{}"}),
            json!({"iss": "k", "server": true, "sub": "a"}),
            json!({"iss": "k", "sub": "a", "admin": true}),
            json!({"iss": "k", "file": "x", "sub": "a"}),
        ] {
            assert!(
                matches!(kind(v.clone()), Err(AuthError::Malformed(_))),
                "{v}"
            );
        }
    }

    #[test]
    fn registered_and_livekit_claims_are_accepted() {
        let lk = json!({"iss": "k", "sub": "a", "jti": "a", "nbf": 0, "exp": 1,
            "video": {"room": "r", "roomJoin": true}, "kind": "standard", "attributes": {}, "sha256": ""});
        assert_eq!(kind(lk), Ok(TokenKind::Join));
        let user = json!({"iss": "k", "sub": "a", "jti": "1", "iat": 0, "exp": 1});
        assert_eq!(kind(user), Ok(TokenKind::User));
    }
}
