//! The call domain: ids, settings, call types, users, members, sessions,
//! egress jobs, and the call lifecycle (backstage → live → ended) with its
//! join rule.

pub mod call;
pub mod call_type;
pub mod egress;
pub mod ids;
pub mod lifecycle;
pub mod settings;
pub mod user;

pub use call::{Call, Member, Participant, Session};
pub use call_type::CallType;
pub use egress::{Egress, EgressKind, EgressState};
pub use ids::{CallCid, InvalidId};
pub use settings::CallSettings;
pub use user::User;

/// Milliseconds since the Unix epoch, the store's time unit.
pub type Millis = i64;

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
