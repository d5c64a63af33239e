//! The call's state as the store has it, asked whenever a participant
//! enters (`/rtc`, a resume) and when a room starts.
//!
//! A join token says who may enter which room, but not whether the call has
//! ended since, whether its holder was blocked, or whether the call is live
//! now: those change after the token was minted. The SFU does not import
//! the API; the binary plugs in an implementation over the API's store (the
//! API and the SFU meet through the bus and the store).

use async_trait::async_trait;

/// What the SFU must know about a call to let someone in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallStatus {
    /// The call is in backstage now: only publishers exchange media.
    pub backstage: bool,
    /// Most users connected at once, if limited.
    pub max_participants: Option<u32>,
    /// The call's `custom` data as JSON: LiveKit's room metadata ("" when
    /// it has none).
    pub metadata: String,
}

/// Who knocks: what the SFU knows of a join token's holder.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The call cid (the room).
    pub cid: &'a str,
    /// The user (an ingest's identity `{user}:ingest` is its user).
    pub user: &'a str,
    /// The session the token was minted for, if it names one.
    pub session: Option<&'a str>,
    /// When the token was minted (ms since the epoch).
    pub minted_at_ms: i64,
}

/// Why a participant is refused at the door.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The call does not exist (any more).
    #[error("the call does not exist")]
    NoCall,
    /// The call has ended.
    #[error("the call has ended")]
    Ended,
    /// The session the token was minted for has ended.
    #[error("the session this token was minted for has ended")]
    SessionEnded,
    /// The user is blocked from the call.
    #[error("the user is blocked from this call")]
    Blocked,
    /// The user was kicked after the token was minted.
    #[error("the user was removed from this call after this token was minted")]
    Kicked,
    /// The call has its most participants.
    #[error("the call is full")]
    Full,
    /// A relayed copy of a participant connected to this node itself.
    #[error("the participant is connected to this node itself")]
    ConnectedHere,
    /// The store could not be asked; nobody is let in blind.
    #[error("the call's state is unavailable: {0}")]
    Unavailable(String),
}

impl Refusal {
    /// Short machine-readable reason, as the API's error codes.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoCall => "not_found",
            Refusal::Ended => "call_ended",
            Refusal::SessionEnded => "session_ended",
            Refusal::Blocked => "blocked",
            Refusal::Kicked => "kicked",
            Refusal::Full => "call_full",
            Refusal::ConnectedHere => "connected_here",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// Asks the store about a call.
#[async_trait]
pub trait CallGate: Send + Sync + 'static {
    /// Whether `entry` may enter its call, and the call's state.
    async fn admit(&self, entry: Entry<'_>) -> Result<CallStatus, Refusal>;

    /// The state of call `cid` now ([`Refusal::Ended`] or
    /// [`Refusal::NoCall`] once it is over): rooms reconcile with it, in
    /// case a bus event was missed.
    async fn status(&self, cid: &str) -> Result<CallStatus, Refusal>;
}
