//! What the SFU asks the store when someone enters a call's media: does
//! the call still admit this user with a token minted for this session,
//! and what state is the call in now. A token outlives the moment it was
//! minted; kicks, blocks, ends and go-lives after it must still hold.

use crate::context::effective_settings;
use crate::domain::lifecycle::{self, CallState};
use crate::domain::{Call, CallSettings};
use crate::store::{Store, StoreError};

/// The call as the SFU must see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaAdmission {
    /// In backstage now.
    pub backstage: bool,
    /// Most users at once, if limited.
    pub max_participants: Option<u32>,
    /// The call's `custom` data as JSON ("" when empty): LiveKit's room
    /// metadata.
    pub metadata: String,
}

/// What a join token says of itself.
#[derive(Clone, Copy, Debug)]
pub struct TokenFacts<'a> {
    /// The session it was minted for, if it names one.
    pub session: Option<&'a str>,
    /// When it was minted (ms since the epoch).
    pub minted_at_ms: i64,
}

/// Why the SFU must refuse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefusal {
    /// No such call.
    #[error("no such call")]
    NoCall,
    /// The call ended (and the token names no session still open).
    #[error("the call has ended")]
    Ended,
    /// The token's session ended.
    #[error("the session of the token has ended")]
    SessionEnded,
    /// The user is blocked from the call.
    #[error("the user is blocked from the call")]
    Blocked,
    /// The user was kicked after the token was minted.
    #[error("the user was kicked after the token was minted")]
    Kicked,
    /// The store failed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for MediaRefusal {
    fn from(e: StoreError) -> Self {
        MediaRefusal::Unavailable(e.to_string())
    }
}

/// Call `cid` and its effective settings.
async fn load(store: &dyn Store, cid: &str) -> Result<(Call, CallSettings), MediaRefusal> {
    let call = store.get_call(cid).await?.ok_or(MediaRefusal::NoCall)?;
    let call_type = store
        .get_call_type(&call.cid.call_type)
        .await?
        .ok_or_else(|| MediaRefusal::Unavailable(format!("call type of `{cid}` is gone")))?;
    let settings = effective_settings(&call_type, &call);
    Ok((call, settings))
}

/// The state of call `cid` now: refused once it ended or is gone.
pub async fn call_status(store: &dyn Store, cid: &str) -> Result<MediaAdmission, MediaRefusal> {
    let (call, settings) = load(store, cid).await?;
    let state = lifecycle::state(&call, &settings);
    if state == CallState::Ended && !reopened(store, &call).await? {
        return Err(MediaRefusal::Ended);
    }
    Ok(MediaAdmission {
        backstage: state == CallState::Backstage,
        max_participants: settings.limits.max_participants,
        metadata: room_metadata(&call.custom),
    })
}

/// Whether an ended call has a session opened since (by a
/// `join-ended-call` holder), which its room serves.
async fn reopened(store: &dyn Store, call: &Call) -> Result<bool, MediaRefusal> {
    let Some(id) = &call.current_session_id else {
        return Ok(false);
    };
    Ok(store
        .get_session(id)
        .await?
        .is_some_and(|s| s.ended_at.is_none()))
}

/// Whether `user` may enter call `cid` with `token`.
///
/// A token that names a session admits while that session is open (a
/// token minted after `end` by a `join-ended-call` holder names the new
/// session); one that names none (LiveKit-minted, recorders) admits while
/// the call has not ended.
pub async fn media_admission(
    store: &dyn Store,
    cid: &str,
    user: &str,
    token: TokenFacts<'_>,
) -> Result<MediaAdmission, MediaRefusal> {
    let (call, settings) = load(store, cid).await?;
    if store.is_blocked(cid, user).await? {
        return Err(MediaRefusal::Blocked);
    }
    let kicked = store.kicked_at(cid, user).await?;
    if kicked.is_some_and(|at| token.minted_at_ms <= at.timestamp_millis()) {
        return Err(MediaRefusal::Kicked);
    }
    let call_state = lifecycle::state(&call, &settings);
    match token.session {
        Some(id) => {
            let open = store
                .get_session(id)
                .await?
                .is_some_and(|s| s.ended_at.is_none() && s.call_cid == cid);
            if !open {
                return Err(MediaRefusal::SessionEnded);
            }
        }
        None if call_state == CallState::Ended => return Err(MediaRefusal::Ended),
        None => {}
    }
    Ok(MediaAdmission {
        backstage: call_state == CallState::Backstage,
        max_participants: settings.limits.max_participants,
        metadata: room_metadata(&call.custom),
    })
}

/// The call's `custom` data as LiveKit room metadata: its JSON, or "" when
/// it holds nothing.
fn room_metadata(custom: &serde_json::Value) -> String {
    match custom {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}
