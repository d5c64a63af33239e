//! Tokens signed in the test with a key from an `onair serve` config.

use std::time::{SystemTime, UNIX_EPOCH};

use onair_auth::token::mint;
use onair_auth::{ApiKey, ServerClaims, UserClaims};

fn in_an_hour() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

/// A server token, valid an hour.
pub fn server(key: &ApiKey) -> String {
    let claims = ServerClaims {
        iss: key.key.clone(),
        exp: in_an_hour(),
        iat: None,
        server: true,
    };
    mint(key, &claims)
}

/// A token of user `sub`, valid an hour.
pub fn user(key: &ApiKey, sub: &str) -> String {
    let claims = UserClaims {
        iss: key.key.clone(),
        sub: sub.into(),
        exp: in_an_hour(),
        iat: None,
        name: None,
        image: None,
        role: None,
        call_cids: None,
    };
    mint(key, &claims)
}
