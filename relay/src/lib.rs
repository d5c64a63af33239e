//! Calls that span SFU nodes. The API places a call's participants on the
//! node that hosts it while that node has room, then on another; from then
//! on two nodes host the call, and each must show its participants the
//! other's. A relay does that for its node, as an app would:
//!
//! - [`links`]: every second it reads the SFU registry and keeps one
//!   [`link`] per (call, other node) that [`want`] says it needs, closing
//!   those no longer needed.
//! - [`link`]: joins the call on the other node as a hidden participant
//!   that receives every track once (one connection per node pair and
//!   call, however many here watch; one more per lower simulcast layer);
//!   each of that node's own participants joins here under their
//!   identity, and publishers publish their tracks packet by packet as
//!   they arrive, in the same layers (`here`, `copy`); keyframe requests
//!   go back the same way.
//! - [`token`]: the join tokens it signs for both ends.
//!
//! Only a node's own participants cross (the registry names them), so
//! what a relay published on a node is never relayed back or onwards.

#![deny(missing_docs)]

mod copy;
mod here;
pub mod link;
pub mod links;
mod receivers;
pub mod token;
pub mod want;

pub use links::start;

use onair_auth::ApiKey;

/// Who the relay works for.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Signs the relay's join tokens.
    pub key: ApiKey,
    /// This SFU node's id in the registry.
    pub node: String,
    /// Where this node's `/rtc` is reached (relayed participants join here).
    pub url: String,
}
