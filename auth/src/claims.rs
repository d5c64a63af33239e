//! The claims of OnAir's token kinds (`docs/ARCHITECTURE.md`, "Tokens").
//!
//! Server and user tokens are minted by app backends with any JWT library;
//! join tokens are minted by `POST …/join` and follow LiveKit's claim layout
//! so that LiveKit server SDKs can mint them too.

use serde::{Deserialize, Serialize};

use crate::capability::Capability;

/// A server token: full access to `/v1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerClaims {
    /// API key that signed the token.
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued-at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Always `true`: marks the token as a server token.
    pub server: bool,
}

/// A user token: acts as one user, optionally limited to some calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserClaims {
    /// API key that signed the token.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued-at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Global role; `user` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When present, the token is valid only for these call cids (`type:id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_cids: Option<Vec<String>>,
}

impl UserClaims {
    /// Whether this token may act on call `cid`.
    pub fn allows_call(&self, cid: &str) -> bool {
        self.call_cids
            .as_ref()
            .is_none_or(|cids| cids.iter().any(|c| c == cid))
    }
}

/// A join token: admits one participant into one room on the SFU.
/// Field names are LiveKit's (`video.roomJoin`, `canPublish`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// API key that signed the token.
    pub iss: String,
    /// Participant identity (the user id).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Not-before, seconds since the Unix epoch.
    #[serde(default)]
    pub nbf: u64,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Opaque participant metadata (OnAir puts JSON with role and image here).
    #[serde(default)]
    pub metadata: String,
    /// What the participant may do in the room.
    pub video: VideoGrant,
    /// OnAir's own claims (absent in tokens minted by LiveKit server SDKs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onair: Option<OnAirGrant>,
}

/// A download link's token: its holder may read one stored file until `exp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileClaims {
    /// API key that signed the token.
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// The file's key in storage; a key ending in `/` grants every file
    /// under it.
    pub file: String,
}

/// OnAir's own join claims. The SFU takes the call's state from the store
/// when a room starts, not from here; later changes arrive on the bus.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OnAirGrant {
    /// The call was in backstage when the token was minted (informative).
    #[serde(default)]
    pub backstage: bool,
    /// The session the token was minted for: once it ends, the token no
    /// longer admits anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// When the token was minted (ms since the epoch): a kick of its holder
    /// after that voids it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_at_ms: Option<i64>,
    /// The holder is a participant of another SFU node (that node's id),
    /// published here by OnAir's relay: not counted or announced again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
}

/// LiveKit's video grant. Missing booleans take LiveKit's defaults
/// (publish/subscribe/data allowed, not hidden, not recorder, not admin).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    /// Room name: the call cid `type:id`.
    #[serde(default)]
    pub room: String,
    /// Whether the token admits the holder into `room`.
    #[serde(default)]
    pub room_join: bool,
    /// May publish tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    /// May subscribe to tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    /// May send data packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    /// Sources the holder may publish (`camera`, `microphone`, `screen_share`,
    /// `screen_share_audio`); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub can_publish_sources: Vec<String>,
    /// Invisible to other participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// A recorder (egress) participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<bool>,
    /// May moderate the room (mute, remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_admin: Option<bool>,
    /// May change its own name, metadata and attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_update_own_metadata: Option<bool>,
}

impl VideoGrant {
    /// The grant for a participant holding `caps` in call `cid`.
    ///
    /// `may_publish` is false while the call is in backstage and the holder
    /// lacks `join-backstage`: such a participant may watch but not publish.
    pub fn for_capabilities(cid: &str, caps: &[Capability], may_publish: bool) -> Self {
        let has = |c: Capability| caps.contains(&c);
        let mut sources = Vec::new();
        if has(Capability::SendVideo) {
            sources.push("camera".to_owned());
        }
        if has(Capability::SendAudio) {
            sources.push("microphone".to_owned());
        }
        if has(Capability::Screenshare) {
            sources.push("screen_share".to_owned());
            sources.push("screen_share_audio".to_owned());
        }
        let can_publish = may_publish && !sources.is_empty();
        Self {
            room: cid.to_owned(),
            room_join: true,
            can_publish: Some(can_publish),
            can_subscribe: Some(true),
            can_publish_data: Some(has(Capability::CreateReaction)),
            // An empty list means "all sources" to LiveKit, so only send it when publishing.
            can_publish_sources: if can_publish { sources } else { Vec::new() },
            hidden: None,
            recorder: None,
            room_admin: Some(has(Capability::MuteUsers) || has(Capability::KickUser)),
            can_update_own_metadata: Some(has(Capability::UpdateOwnMetadata)),
        }
    }

    /// May publish (LiveKit default: yes).
    pub fn may_publish(&self) -> bool {
        self.can_publish.unwrap_or(true)
    }

    /// May subscribe (LiveKit default: yes).
    pub fn may_subscribe(&self) -> bool {
        self.can_subscribe.unwrap_or(true)
    }

    /// May change its own name, metadata and attributes (LiveKit default: no).
    pub fn may_update_own_metadata(&self) -> bool {
        self.can_update_own_metadata.unwrap_or(false)
    }

    /// May send data packets (LiveKit default: yes).
    pub fn may_publish_data(&self) -> bool {
        self.can_publish_data.unwrap_or(true)
    }
}
