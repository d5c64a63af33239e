//! Call types: named settings plus role → capability grants.
//! The built-in types mirror Stream Video's defaults.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use onair_auth::capability::{ROLE_ADMIN, ROLE_CALL_MEMBER, ROLE_HOST, ROLE_MODERATOR, ROLE_USER};
use onair_auth::{Capability, Grants};
use serde_json::{json, Value};

use super::settings::CallSettings;

/// A call type.
#[derive(Clone, Debug, PartialEq)]
pub struct CallType {
    /// Name, e.g. `livestream`.
    pub name: String,
    /// Role → capabilities.
    pub grants: Grants,
    /// Settings every call of this type starts from.
    pub settings: CallSettings,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Names of the built-in call types.
pub const BUILT_IN: [&str; 4] = ["default", "audio_room", "livestream", "development"];

/// What the roles `user` and `call_member` may do in a built-in type.
#[derive(Clone, Copy)]
enum Audience {
    /// Join and publish audio, video and screens.
    Participants,
    /// Join, watch and react; hosts publish.
    Viewers,
    /// Viewers who also set their own name, metadata and attributes.
    Listeners,
    /// Everything; and so may every other role (for development).
    Everyone,
}

/// A built-in call type: who its users are, and its settings as a patch
/// over the defaults.
struct BuiltIn {
    name: &'static str,
    audience: Audience,
    settings: fn() -> Value,
}

/// The built-in types; they mirror Stream Video's defaults.
const BUILT_INS: [BuiltIn; 4] = [
    BuiltIn {
        name: "default",
        audience: Audience::Participants,
        // Calls between people: who is in them is theirs to know.
        settings: || json!({"private": true}),
    },
    BuiltIn {
        name: "audio_room",
        audience: Audience::Listeners,
        settings: || {
            json!({
                "backstage": {"enabled": true, "join_ahead_time_seconds": 0},
                "video": {"enabled": false, "camera_default_on": false},
                "screensharing": {"enabled": false},
                "audio": {"mic_default_on": false},
            })
        },
    },
    BuiltIn {
        name: "livestream",
        audience: Audience::Viewers,
        settings: || {
            json!({
                "backstage": {"enabled": true, "join_ahead_time_seconds": 0},
                "audio": {"mic_default_on": false},
                "video": {"camera_default_on": false},
            })
        },
    },
    BuiltIn {
        name: "development",
        audience: Audience::Everyone,
        settings: || json!({}),
    },
];

/// A participant publishes, reacts, sends events and rings the others.
const PARTICIPANT: &[Capability] = &[
    Capability::JoinCall,
    Capability::ReadCall,
    Capability::SendAudio,
    Capability::SendVideo,
    Capability::Screenshare,
    Capability::CreateReaction,
    Capability::UpdateOwnMetadata,
    Capability::SendEvent,
    Capability::RingCall,
];

/// A viewer watches and reacts.
const VIEWER: &[Capability] = &[
    Capability::JoinCall,
    Capability::ReadCall,
    Capability::CreateReaction,
];

/// A moderator publishes, keeps order and ends the call.
const MODERATOR: &[Capability] = &[
    Capability::JoinCall,
    Capability::ReadCall,
    Capability::JoinBackstage,
    Capability::SendAudio,
    Capability::SendVideo,
    Capability::Screenshare,
    Capability::CreateReaction,
    Capability::UpdateOwnMetadata,
    Capability::SendEvent,
    Capability::RingCall,
    Capability::MuteUsers,
    Capability::KickUser,
    Capability::BlockUsers,
    Capability::EndCall,
    Capability::UpdateCallMember,
];

fn set(caps: &[Capability]) -> BTreeSet<Capability> {
    caps.iter().copied().collect()
}

/// The grants of a built-in type whose users are `audience`: users may
/// also create calls; hosts may do everything but join an ended call;
/// admins everything.
fn grants(audience: Audience) -> Grants {
    let all = set(Capability::ALL);
    let members = match audience {
        Audience::Participants => set(PARTICIPANT),
        Audience::Viewers => set(VIEWER),
        // An audio room's listeners also set their own attributes (a
        // raised hand); a livestream's viewers do not.
        Audience::Listeners => {
            let mut listeners = set(VIEWER);
            listeners.insert(Capability::UpdateOwnMetadata);
            listeners
        }
        Audience::Everyone => {
            let roles = [
                ROLE_USER,
                ROLE_CALL_MEMBER,
                ROLE_HOST,
                ROLE_MODERATOR,
                ROLE_ADMIN,
            ];
            return roles.map(|r| (r.to_owned(), all.clone())).into();
        }
    };
    let mut users = members.clone();
    users.insert(Capability::CreateCall);
    let mut host = all.clone();
    host.remove(&Capability::JoinEndedCall);
    Grants::from([
        (ROLE_USER.to_owned(), users),
        (ROLE_CALL_MEMBER.to_owned(), members),
        (ROLE_HOST.to_owned(), host),
        (ROLE_MODERATOR.to_owned(), set(MODERATOR)),
        (ROLE_ADMIN.to_owned(), all),
    ])
}

/// A built-in call type, or `None` for other names.
pub fn built_in(name: &str, now: DateTime<Utc>) -> Option<CallType> {
    let spec = BUILT_INS.iter().find(|t| t.name == name)?;
    Some(CallType {
        name: name.into(),
        grants: grants(spec.audience),
        settings: CallSettings::default().merged(&(spec.settings)()).ok()?,
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_auth::capability::capabilities_in_call;
    use Capability::*;

    fn caps(t: &CallType, global: &str, member: Option<&str>) -> Vec<Capability> {
        capabilities_in_call(&t.grants, global, member, &t.settings.gate())
    }

    #[test]
    fn livestream_viewers_watch_hosts_publish() {
        let t = built_in("livestream", Utc::now()).unwrap();
        assert!(t.settings.backstage.enabled);
        let viewer = caps(&t, "user", None);
        assert!(
            viewer.contains(&JoinCall)
                && !viewer.contains(&SendVideo)
                && !viewer.contains(&JoinBackstage)
        );
        let host = caps(&t, "user", Some("host"));
        assert!(
            host.contains(&SendVideo) && host.contains(&JoinBackstage) && host.contains(&EndCall)
        );
        assert!(!host.contains(&JoinEndedCall));
    }

    #[test]
    fn audio_room_has_no_video() {
        let t = built_in("audio_room", Utc::now()).unwrap();
        assert!(!caps(&t, "admin", None).contains(&SendVideo));
        assert!(caps(&t, "admin", None).contains(&SendAudio));
    }

    #[test]
    fn development_grants_everything_to_everyone() {
        let t = built_in("development", Utc::now()).unwrap();
        assert_eq!(
            caps(&t, "user", None),
            Capability::ALL
                .to_vec()
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert!(!t.settings.backstage.enabled);
    }

    #[test]
    fn every_built_in_exists() {
        for name in BUILT_IN {
            assert!(built_in(name, Utc::now()).is_some(), "{name}");
        }
        assert_eq!(BUILT_IN, BUILT_INS.map(|t| t.name));
        assert!(built_in("mine", Utc::now()).is_none());
    }
}
