//! Users, as upserted by app backends.

use chrono::{DateTime, Utc};
use onair_auth::Capability;
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

/// Capabilities granted to and revoked from one user in one call, over
/// what the user's roles give (Stream's `user_permissions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPermissions {
    /// Given on top of the roles' (the call's settings still switch them off).
    pub granted: Vec<Capability>,
    /// Taken away whatever the roles give.
    pub revoked: Vec<Capability>,
}

impl UserPermissions {
    /// `caps` (what the roles give under the call's settings) with these
    /// applied; a granted capability the settings switch off stays off.
    pub fn apply(
        &self,
        mut caps: Vec<Capability>,
        allowed: impl Fn(Capability) -> bool,
    ) -> Vec<Capability> {
        for cap in &self.granted {
            if !caps.contains(cap) && allowed(*cap) {
                caps.push(*cap);
            }
        }
        caps.retain(|c| !self.revoked.contains(c));
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    #[test]
    fn grants_add_revokes_remove_and_settings_still_win() {
        let permissions = UserPermissions {
            granted: vec![SendAudio, SendVideo],
            revoked: vec![CreateReaction],
        };
        let caps = permissions.apply(vec![JoinCall, CreateReaction], |c| c != SendVideo);
        assert_eq!(caps, vec![JoinCall, SendAudio], "video is off in this call");
        assert_eq!(
            UserPermissions::default().apply(vec![JoinCall], |_| true),
            vec![JoinCall]
        );
    }
}
