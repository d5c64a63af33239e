//! The call domain: ids, settings, call types, users, members, sessions,
//! egress jobs, and the call lifecycle (backstage → live → ended) with its
//! join rule.

pub mod call;
pub mod call_type;
pub mod egress;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod placement;
pub mod ring;
pub mod settings;
pub mod user;
pub mod webhook;

pub use call::{Call, Member, Participant, Session};
pub use call_type::CallType;
pub use egress::{Egress, EgressKind, EgressState};
pub use ids::{CallCid, InvalidId};
pub use settings::CallSettings;
pub use user::{User, UserPermissions};
