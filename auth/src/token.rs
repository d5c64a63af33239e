//! Minting and verifying tokens. HS256 only; the `iss` claim picks the secret.
//!
//! Verification order: header (`alg` must be exactly `HS256`), then `iss`
//! (must be a known key), then the signature, then `exp`/`nbf` against the
//! `now` the caller passes, then the claim shape.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::claims::{FileClaims, JoinClaims, ServerClaims, UserClaims};
pub use crate::error::AuthError;
use crate::keys::{ApiKey, KeySet};
use crate::kind::{kind_of, TokenKind};

/// A verified API token: either a server token or a user token.
#[derive(Clone, Debug, PartialEq)]
pub enum Verified {
    /// Full access.
    Server(ServerClaims),
    /// Acts as one user.
    User(UserClaims),
}

/// Signs `claims` with `key` (HS256, `typ: JWT`).
pub fn mint<C: Serialize>(key: &ApiKey, claims: &C) -> String {
    let header = Header::new(Algorithm::HS256);
    // HS256 encoding of a serializable struct cannot fail: the only error
    // paths are RSA/EC key parsing and serializer errors on non-string map keys.
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key.secret.as_bytes()),
    )
    .unwrap_or_else(|e| unreachable!("HS256 encoding failed: {e}"))
}

/// Verifies an API token (server or user) at time `now` (Unix seconds).
pub fn verify_api(token: &str, keys: &KeySet, now: u64) -> Result<Verified, AuthError> {
    let (kind, value) = verify_raw(token, keys, now)?;
    match kind {
        TokenKind::Server => {
            let claims: ServerClaims = from_value(value)?;
            if !claims.server {
                return Err(AuthError::Malformed("`server` must be true".into()));
            }
            Ok(Verified::Server(claims))
        }
        TokenKind::User => {
            let claims: UserClaims = from_value(value)?;
            if claims.sub.is_empty() {
                return Err(AuthError::Malformed("`sub` must name the user".into()));
            }
            Ok(Verified::User(claims))
        }
        other => Err(wrong_kind(other, "server or user")),
    }
}

/// Verifies a join token at time `now` (Unix seconds).
pub fn verify_join(token: &str, keys: &KeySet, now: u64) -> Result<JoinClaims, AuthError> {
    let (kind, value) = verify_raw(token, keys, now)?;
    if kind != TokenKind::Join {
        return Err(wrong_kind(kind, "join"));
    }
    let claims: JoinClaims = from_value(value)?;
    if !claims.video.room_join || claims.video.room.is_empty() || claims.sub.is_empty() {
        return Err(AuthError::Malformed(
            "not a join token (video.roomJoin, video.room, sub)".into(),
        ));
    }
    Ok(claims)
}

/// Verifies a download link's token at time `now` (Unix seconds).
pub fn verify_file(token: &str, keys: &KeySet, now: u64) -> Result<FileClaims, AuthError> {
    let (kind, value) = verify_raw(token, keys, now)?;
    if kind != TokenKind::File {
        return Err(wrong_kind(kind, "file"));
    }
    let claims: FileClaims = from_value(value)?;
    if claims.file.is_empty() {
        return Err(AuthError::Malformed("not a file token (file)".into()));
    }
    Ok(claims)
}

fn wrong_kind(got: TokenKind, expected: &'static str) -> AuthError {
    AuthError::WrongKind {
        got: got.as_str(),
        expected,
    }
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
}

#[derive(Deserialize)]
struct Times {
    iss: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
}

fn decode_part<T: DeserializeOwned>(part: &str, what: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|e| AuthError::Malformed(format!("{what}: {e}")))
}

fn verify_raw(
    token: &str,
    keys: &KeySet,
    now: u64,
) -> Result<(TokenKind, serde_json::Value), AuthError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header: JwtHeader = decode_part(header, "header")?;
    if header.alg != "HS256" {
        return Err(AuthError::BadAlgorithm(header.alg));
    }
    let times: Times = decode_part(payload, "payload")?;
    let iss = times
        .iss
        .ok_or_else(|| AuthError::Malformed("missing `iss` (the API key)".into()))?;
    let key = keys.get(&iss).ok_or(AuthError::UnknownKey(iss))?;

    let mut validation = Validation::new(Algorithm::HS256);
    // Times are checked below against the caller's clock, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(key.secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::BadSignature,
        _ => AuthError::Malformed(e.to_string()),
    })?;

    let exp = times
        .exp
        .ok_or_else(|| AuthError::Malformed("missing `exp`".into()))?;
    if exp <= now {
        return Err(AuthError::Expired);
    }
    if times.nbf.is_some_and(|nbf| nbf > now) {
        return Err(AuthError::NotYetValid);
    }
    let kind = match &data.claims {
        serde_json::Value::Object(map) => kind_of(map)?,
        _ => return Err(AuthError::Malformed("claims must be a JSON object".into())),
    };
    Ok((kind, data.claims))
}

fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AuthError> {
    serde_json::from_value(value).map_err(|e| AuthError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Capability;
    use crate::claims::VideoGrant;

    const NOW: u64 = 1_800_000_000;

    fn keys() -> KeySet {
        KeySet::new([
            ApiKey::new("APIkey", "s3cret"),
            ApiKey::new("APIother", "other"),
        ])
    }

    fn user(exp: u64) -> UserClaims {
        UserClaims {
            iss: "APIkey".into(),
            sub: "alice".into(),
            exp,
            iat: Some(NOW - 10),
            name: Some("Alice".into()),
            image: None,
            role: Some("admin".into()),
            call_cids: Some(vec!["livestream:abc".into()]),
        }
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn file_tokens_name_one_file_and_expire() {
        let claims = FileClaims {
            iss: "APIkey".into(),
            exp: NOW + 60,
            file: "recordings/default_a/rec.mp4".into(),
        };
        let token = mint(keys().get("APIkey").unwrap(), &claims);
        assert_eq!(verify_file(&token, &keys(), NOW), Ok(claims.clone()));
        assert_eq!(
            verify_file(&token, &keys(), NOW + 61),
            Err(AuthError::Expired)
        );
        // A join or user token is not a file token.
        let user = mint(keys().get("APIkey").unwrap(), &user(NOW + 60));
        assert!(matches!(
            verify_file(&user, &keys(), NOW),
            Err(AuthError::WrongKind { got: "user", .. })
        ));
    }

    #[test]
    fn server_token_round_trips() {
        let claims = ServerClaims {
            iss: "APIkey".into(),
            exp: NOW + 60,
            iat: None,
            server: true,
        };
        let token = mint(keys().get("APIkey").unwrap(), &claims);
        assert_eq!(
            verify_api(&token, &keys(), NOW),
            Ok(Verified::Server(claims))
        );
    }

    #[test]
    fn user_token_round_trips_and_scopes_calls() {
        let claims = user(NOW + 60);
        let token = mint(keys().get("APIkey").unwrap(), &claims);
        let Ok(Verified::User(got)) = verify_api(&token, &keys(), NOW) else {
            panic!("refused")
        };
        assert_eq!(got, claims);
        assert!(got.allows_call("livestream:abc"));
        assert!(!got.allows_call("livestream:other"));
        let unscoped = UserClaims {
            call_cids: None,
            ..claims
        };
        assert!(unscoped.allows_call("default:anything"));
    }

    #[test]
    fn expired_is_refused() {
        let token = mint(keys().get("APIkey").unwrap(), &user(NOW));
        assert_eq!(verify_api(&token, &keys(), NOW), Err(AuthError::Expired));
    }

    #[test]
    fn missing_exp_is_refused() {
        let token = mint(
            keys().get("APIkey").unwrap(),
            &serde_json::json!({"iss": "APIkey", "sub": "a"}),
        );
        assert!(matches!(
            verify_api(&token, &keys(), NOW),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_secret_is_bad_signature() {
        let token = mint(&ApiKey::new("APIkey", "guess"), &user(NOW + 60));
        assert_eq!(
            verify_api(&token, &keys(), NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn signed_by_another_known_key_is_bad_signature() {
        // Claims say APIkey, signature made with APIother's secret.
        let token = mint(keys().get("APIother").unwrap(), &user(NOW + 60));
        assert_eq!(
            verify_api(&token, &keys(), NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn unknown_key_is_refused() {
        let claims = UserClaims {
            iss: "APInobody".into(),
            ..user(NOW + 60)
        };
        let token = mint(&ApiKey::new("APInobody", "x"), &claims);
        assert_eq!(
            verify_api(&token, &keys(), NOW),
            Err(AuthError::UnknownKey("APInobody".into()))
        );
    }

    #[test]
    fn tampered_payload_is_bad_signature() {
        let token = mint(keys().get("APIkey").unwrap(), &user(NOW + 60));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = user(NOW + 60);
        forged.sub = "mallory".into();
        let payload = b64(&serde_json::to_string(&forged).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(
            verify_api(&tampered, &keys(), NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = b64(&serde_json::to_string(&user(NOW + 60)).unwrap());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let got = verify_api(&token, &keys(), NOW);
            assert!(
                matches!(
                    got,
                    Err(AuthError::BadAlgorithm(_)) | Err(AuthError::Malformed(_))
                ),
                "{got:?}"
            );
        }
        assert_eq!(
            verify_api(&format!("{header}.{payload}."), &keys(), NOW),
            Err(AuthError::BadAlgorithm("none".into()))
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        for alg in ["HS384", "HS512", "RS256", "ES256", "hs256"] {
            let header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let payload = b64(&serde_json::to_string(&user(NOW + 60)).unwrap());
            let token = format!("{header}.{payload}.c2ln");
            assert_eq!(
                verify_api(&token, &keys(), NOW),
                Err(AuthError::BadAlgorithm(alg.into()))
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for token in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.???.###",
            "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.x",
        ] {
            assert!(
                matches!(
                    verify_api(token, &keys(), NOW),
                    Err(AuthError::Malformed(_))
                ),
                "{token}"
            );
        }
    }

    #[test]
    fn join_token_round_trips_and_needs_room_join() {
        let caps = [
            Capability::JoinCall,
            Capability::SendVideo,
            Capability::CreateReaction,
        ];
        let claims = JoinClaims {
            iss: "APIkey".into(),
            sub: "alice".into(),
            exp: NOW + 60,
            nbf: NOW - 1,
            name: "Alice".into(),
            metadata: "{}".into(),
            video: VideoGrant::for_capabilities("default:x", &caps, true),
            onair: Some(crate::claims::OnAirGrant {
                backstage: true,
                session: Some("s1".into()),
                minted_at_ms: Some(1),
                relay: None,
            }),
        };
        let key = keys().get("APIkey").unwrap().clone();
        let got = verify_join(&mint(&key, &claims), &keys(), NOW).unwrap();
        assert_eq!(got, claims);
        assert!(got.video.may_publish());
        assert_eq!(got.video.can_publish_sources, vec!["camera"]);

        let not_yet = JoinClaims {
            nbf: NOW + 30,
            ..claims.clone()
        };
        assert_eq!(
            verify_join(&mint(&key, &not_yet), &keys(), NOW),
            Err(AuthError::NotYetValid)
        );
        // An API token is not a join token, and a join token is no API token.
        assert!(matches!(
            verify_join(&mint(&key, &user(NOW + 60)), &keys(), NOW),
            Err(AuthError::WrongKind { got: "user", .. })
        ));
        assert!(matches!(
            verify_api(&mint(&key, &claims), &keys(), NOW),
            Err(AuthError::WrongKind { got: "join", .. })
        ));
    }

    #[test]
    fn backstage_grant_cannot_publish() {
        let grant = VideoGrant::for_capabilities("livestream:x", &[Capability::SendVideo], false);
        assert!(!grant.may_publish());
        assert!(grant.can_publish_sources.is_empty());
        assert!(grant.may_subscribe());
    }
}
