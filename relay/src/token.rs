//! The join tokens a relay signs: one to receive a call on another node
//! (hidden, allowed to receive in backstage too), one per participant it
//! publishes here under that participant's identity (marked relayed, so
//! this node neither counts nor announces it again).

use onair_auth::token::mint;
use onair_auth::{ApiKey, JoinClaims, OnAirGrant, VideoGrant};

/// How long a relay's tokens last (a link reconnects with fresh ones).
const TTL_SECS: u64 = 24 * 3600;

fn claims(
    key: &ApiKey,
    sub: String,
    name: String,
    video: VideoGrant,
    relay: Option<String>,
) -> String {
    let now = onair_auth::clock::unix_secs();
    let claims = JoinClaims {
        iss: key.key.clone(),
        sub,
        exp: now + TTL_SECS,
        nbf: now.saturating_sub(10),
        name,
        metadata: String::new(),
        video,
        onair: Some(OnAirGrant {
            backstage: true,
            session: None,
            minted_at_ms: None,
            relay,
        }),
    };
    mint(key, &claims)
}

/// Node `node`'s hidden receiver `n` in call `cid` on another node (one
/// identity each: each is a connection of its own).
pub fn receiver(key: &ApiKey, node: &str, cid: &str, n: u8) -> String {
    let video = VideoGrant {
        room: cid.to_owned(),
        room_join: true,
        // Publishers receive in backstage: a relay must carry that too.
        can_publish: Some(true),
        can_subscribe: Some(true),
        can_publish_data: Some(false),
        hidden: Some(true),
        ..Default::default()
    };
    let identity = format!("relay:{node}:{n}");
    claims(key, identity, "Relay".into(), video, None)
}

/// Participant `identity` (named `name`) of node `from`, published here.
pub fn relayed(key: &ApiKey, from: &str, cid: &str, identity: &str, name: &str) -> String {
    let video = VideoGrant {
        room: cid.to_owned(),
        room_join: true,
        can_publish: Some(true),
        can_subscribe: Some(false),
        can_publish_data: Some(false),
        // It shows the far participant's name, metadata and attributes.
        can_update_own_metadata: Some(true),
        ..Default::default()
    };
    claims(
        key,
        identity.to_owned(),
        name.to_owned(),
        video,
        Some(from.to_owned()),
    )
}
