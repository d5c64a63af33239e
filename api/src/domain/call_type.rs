//! Call types: named settings plus role → capability grants.
//! The built-in types mirror Stream Video's defaults.

use chrono::{DateTime, Utc};
use onair_auth::capability::{ROLE_ADMIN, ROLE_CALL_MEMBER, ROLE_HOST, ROLE_MODERATOR, ROLE_USER};
use onair_auth::{Capability, Grants};
use serde_json::json;

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

fn set(caps: &[Capability]) -> std::collections::BTreeSet<Capability> {
    caps.iter().copied().collect()
}

/// A built-in call type, or `None` for other names.
pub fn built_in(name: &str, now: DateTime<Utc>) -> Option<CallType> {
    use Capability::*;
    let all: Vec<Capability> = Capability::ALL.to_vec();
    let host: Vec<Capability> = all
        .iter()
        .copied()
        .filter(|c| *c != JoinEndedCall)
        .collect();
    let moderator = [
        JoinCall,
        ReadCall,
        JoinBackstage,
        SendAudio,
        SendVideo,
        Screenshare,
        CreateReaction,
        MuteUsers,
        KickUser,
        BlockUsers,
        EndCall,
        UpdateCallMember,
    ];
    let participant = [
        JoinCall,
        ReadCall,
        SendAudio,
        SendVideo,
        Screenshare,
        CreateReaction,
    ];
    let viewer = [JoinCall, ReadCall, CreateReaction];

    let mut grants = Grants::new();
    let defaults = CallSettings::default();
    let settings = match name {
        "default" => {
            grants.insert(
                ROLE_USER.into(),
                set(&[&participant[..], &[CreateCall]].concat()),
            );
            grants.insert(ROLE_CALL_MEMBER.into(), set(&participant));
            // Calls between people: who is in them is theirs to know.
            defaults.merged(&json!({"private": true})).ok()?
        }
        "audio_room" => {
            grants.insert(
                ROLE_USER.into(),
                set(&[&viewer[..], &[CreateCall]].concat()),
            );
            grants.insert(ROLE_CALL_MEMBER.into(), set(&viewer));
            let patch = json!({
                "backstage": {"enabled": true, "join_ahead_time_seconds": 0},
                "video": {"enabled": false, "camera_default_on": false},
                "screensharing": {"enabled": false},
                "audio": {"mic_default_on": false},
            });
            defaults.merged(&patch).ok()?
        }
        "livestream" => {
            grants.insert(
                ROLE_USER.into(),
                set(&[&viewer[..], &[CreateCall]].concat()),
            );
            grants.insert(ROLE_CALL_MEMBER.into(), set(&viewer));
            let patch = json!({
                "backstage": {"enabled": true, "join_ahead_time_seconds": 0},
                "audio": {"mic_default_on": false},
                "video": {"camera_default_on": false},
            });
            defaults.merged(&patch).ok()?
        }
        "development" => {
            for role in [ROLE_USER, ROLE_CALL_MEMBER] {
                grants.insert(role.into(), set(&all));
            }
            defaults
        }
        _ => return None,
    };
    grants.insert(ROLE_HOST.into(), set(&host));
    grants.insert(ROLE_MODERATOR.into(), set(&moderator));
    grants.insert(ROLE_ADMIN.into(), set(&all));
    if name == "development" {
        grants.insert(ROLE_HOST.into(), set(&all));
        grants.insert(ROLE_MODERATOR.into(), set(&all));
    }
    Some(CallType {
        name: name.into(),
        grants,
        settings,
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
        assert!(built_in("mine", Utc::now()).is_none());
    }
}
