//! Users, as upserted by app backends.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A user known to OnAir.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// User id (the token's `sub`).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// Global role.
    pub role: String,
    /// App-defined data (a JSON object).
    pub custom: Value,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// A bare user with role `user`, as created when first referenced.
    pub fn bare(id: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: id.to_owned(),
            name: None,
            image: None,
            role: onair_auth::capability::ROLE_USER.to_owned(),
            custom: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }
}
