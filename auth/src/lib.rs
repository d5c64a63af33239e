//! OnAir tokens, roles and capabilities.
//!
//! Everything here is pure: no I/O, no clock other than the `now` you pass in,
//! which callers read from [`clock`], the server crates' one reading of the
//! wall clock.
//! - [`clock`]: Unix time in seconds (tokens) and milliseconds (events).
//! - [`error`]: why a token was refused, with the code clients see.
//! - [`keys`]: API keys and their secrets (the key is the JWT `iss`).
//! - [`claims`]: the token kinds (server, user, join, download link).
//! - [`net`]: which addresses OnAir may connect to on a user's behalf.
//! - [`kind`]: the explicit rule that tells the token kinds apart.
//! - [`token`]: minting and verifying them (HS256 only).
//! - [`capability`]: Stream-style capabilities, roles and call-type grants,
//!   and the rule that decides what a user may do in a call.

pub mod capability;
pub mod claims;
pub mod clock;
pub mod error;
pub mod keys;
pub mod kind;
pub mod net;
pub mod token;

pub use capability::{Capability, Grants, Role, SettingsGate};
pub use claims::{FileClaims, JoinClaims, OnAirGrant, ServerClaims, UserClaims, VideoGrant};
pub use error::AuthError;
pub use keys::{ApiKey, KeySet};
pub use kind::TokenKind;
pub use token::Verified;
