//! Capabilities (Stream's names), roles, call-type grants, and the rule that
//! decides what a user may do in a call.
//!
//! The rule: a user's roles in a call are their global role plus, when they
//! are a member, their member role. Their capabilities are the union of the
//! call type's grants for those roles, minus what the call's settings switch
//! off (no video, no screen sharing, recording or broadcasting disabled).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role name. Built-in roles are constants below; call types may grant to others.
pub type Role = String;

/// Role of every user without another (the default global role).
pub const ROLE_USER: &str = "user";
/// The host of a call or livestream.
pub const ROLE_HOST: &str = "host";
/// A moderator.
pub const ROLE_MODERATOR: &str = "moderator";
/// An administrator.
pub const ROLE_ADMIN: &str = "admin";
/// Default role of a call member added without one.
pub const ROLE_CALL_MEMBER: &str = "call_member";

macro_rules! capabilities {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Something a user may do in a call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Capability {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl Capability {
            /// Every capability, in declaration order.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            /// The wire name (`join-call`, …).
            pub fn as_str(self) -> &'static str {
                match self { $(Capability::$variant => $name,)* }
            }
        }

        impl FromStr for Capability {
            type Err = UnknownCapability;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Capability::$variant),)*
                    _ => Err(UnknownCapability(s.to_owned())),
                }
            }
        }
    };
}

capabilities! {
    JoinCall => "join-call", "Join the call.";
    ReadCall => "read-call", "Read the call, its members and sessions.";
    CreateCall => "create-call", "Create the call.";
    JoinBackstage => "join-backstage", "Join and publish while the call is in backstage.";
    JoinEndedCall => "join-ended-call", "Join the call after it ended.";
    UpdateCall => "update-call", "Update the call; go live and back to backstage.";
    UpdateCallSettings => "update-call-settings", "Change the call's settings.";
    UpdateCallMember => "update-call-member", "Add, change and remove members.";
    UpdateCallPermissions => "update-call-permissions", "Change one's own role, and grant or revoke users' capabilities in the call.";
    SendAudio => "send-audio", "Publish audio.";
    SendVideo => "send-video", "Publish video.";
    Screenshare => "screenshare", "Share the screen.";
    StartRecordCall => "start-record-call", "Start recording.";
    StopRecordCall => "stop-record-call", "Stop recording.";
    ListRecordings => "list-recordings", "List the call's recordings and get their links.";
    StartBroadcastCall => "start-broadcast-call", "Start HLS / RTMP broadcasting.";
    StopBroadcastCall => "stop-broadcast-call", "Stop broadcasting.";
    EndCall => "end-call", "End the call for everyone.";
    MuteUsers => "mute-users", "Mute other participants.";
    KickUser => "kick-user", "Remove a participant.";
    BlockUsers => "block-users", "Block users from the call.";
    CreateReaction => "create-reaction", "Send reactions and data messages.";
    SendEvent => "send-event", "Send custom events to the call's members and participants.";
    RingCall => "ring-call", "Ring the call's members (their apps and phones).";
    UpdateOwnMetadata => "update-own-metadata", "Change one's own name, metadata and attributes in the call's media.";
}

/// A capability name that OnAir does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}`")]
pub struct UnknownCapability(pub String);

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call type's grants: role → capabilities.
pub type Grants = BTreeMap<Role, BTreeSet<Capability>>;

/// The call settings that switch capabilities off, whatever the grants say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsGate {
    /// `settings.video.enabled`.
    pub video: bool,
    /// `settings.screensharing.enabled`.
    pub screenshare: bool,
    /// `settings.recording.mode != disabled`.
    pub recording: bool,
    /// `settings.broadcasting.enabled`.
    pub broadcasting: bool,
}

impl Default for SettingsGate {
    fn default() -> Self {
        Self {
            video: true,
            screenshare: true,
            recording: true,
            broadcasting: true,
        }
    }
}

impl SettingsGate {
    /// Whether the call's settings leave `cap` on.
    pub fn allows(&self, cap: Capability) -> bool {
        use Capability::*;
        match cap {
            SendVideo => self.video,
            Screenshare => self.screenshare,
            StartRecordCall | StopRecordCall => self.recording,
            StartBroadcastCall | StopBroadcastCall => self.broadcasting,
            _ => true,
        }
    }
}

/// The capabilities of a user in a call: the union of `grants` for their
/// `global_role` and (when a member) their `member_role`, filtered by `gate`.
/// Sorted, without duplicates.
pub fn capabilities_in_call(
    grants: &Grants,
    global_role: &str,
    member_role: Option<&str>,
    gate: &SettingsGate,
) -> Vec<Capability> {
    let roles = std::iter::once(global_role).chain(member_role);
    let mut caps: BTreeSet<Capability> = BTreeSet::new();
    for role in roles {
        if let Some(granted) = grants.get(role) {
            caps.extend(granted.iter().copied());
        }
    }
    caps.into_iter().filter(|c| gate.allows(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn grants() -> Grants {
        let mut g = Grants::new();
        g.insert(ROLE_USER.into(), [JoinCall, ReadCall].into());
        g.insert(
            ROLE_HOST.into(),
            [SendVideo, SendAudio, JoinBackstage, StartRecordCall].into(),
        );
        g
    }

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(*cap));
            let json = serde_json::to_string(cap).unwrap();
            assert_eq!(json, format!("\"{}\"", cap.as_str()));
        }
        assert_eq!(Capability::ALL.len(), 25);
        assert!("fly".parse::<Capability>().is_err());
    }

    #[test]
    fn global_role_alone() {
        let caps = capabilities_in_call(&grants(), "user", None, &SettingsGate::default());
        assert_eq!(caps, vec![JoinCall, ReadCall]);
    }

    #[test]
    fn member_role_adds_to_global_role() {
        let caps = capabilities_in_call(&grants(), "user", Some("host"), &SettingsGate::default());
        assert_eq!(
            caps,
            vec![
                JoinCall,
                ReadCall,
                JoinBackstage,
                SendAudio,
                SendVideo,
                StartRecordCall
            ]
        );
    }

    #[test]
    fn unknown_role_grants_nothing() {
        let caps = capabilities_in_call(&grants(), "ghost", None, &SettingsGate::default());
        assert!(caps.is_empty());
    }

    #[test]
    fn settings_switch_capabilities_off() {
        let gate = SettingsGate {
            video: false,
            recording: false,
            ..SettingsGate::default()
        };
        let caps = capabilities_in_call(&grants(), "user", Some("host"), &gate);
        assert_eq!(caps, vec![JoinCall, ReadCall, JoinBackstage, SendAudio]);
    }
}
