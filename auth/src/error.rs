//! Why a token was refused, shared by the kind rule and verification (and
//! turned into HTTP answers by the API and the SFU).

/// Why a token was refused. [`AuthError::code`] is the reason given to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("a token is required (Authorization: Bearer <token>)")]
    Missing,
    /// Not a JWT, or its claims are not of any OnAir token kind.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` is not HS256 (this includes `none`).
    #[error("token algorithm must be HS256, got {0}")]
    BadAlgorithm(String),
    /// `iss` names no configured API key.
    #[error("unknown API key `{0}`")]
    UnknownKey(String),
    /// The signature does not match the key's secret.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not valid yet")]
    NotYetValid,
    /// A user token used for a call outside its `call_cids`.
    #[error("token is not valid for call `{0}`")]
    WrongCall(String),
    /// A valid token of a kind this endpoint does not take (a join token
    /// on REST, a user token at `/rtc`).
    #[error("a {got} token is not accepted here; this takes {expected} tokens")]
    WrongKind {
        /// What the token is.
        got: &'static str,
        /// What the endpoint takes.
        expected: &'static str,
    },
}

impl AuthError {
    /// Short machine-readable reason (`expired`, `bad_signature`, …).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::Malformed(_) => "malformed_token",
            AuthError::BadAlgorithm(_) => "bad_algorithm",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongCall(_) => "wrong_call",
            AuthError::WrongKind { .. } => "wrong_token_kind",
        }
    }
}
