//! OnAir's REST API (`/v1`): the call domain, its persistence and its HTTP face.
//!
//! - [`domain`]: calls, call types, settings, members, sessions, egress jobs, and the call
//!   lifecycle (backstage → live → ended) with the join rule.
//! - [`store`]: the [`Store`](store::Store) trait on SQLite or Postgres.
//! - [`egress`]: starts and stops egress jobs (stored, then queued on the bus).
//! - [`lifecycle`]: carries out the call's transitions (store, bus) and opens sessions.
//! - [`events`]: stores each change with its events and tells apps, backends and other nodes.
//! - [`ringing`]: rings members, applies their answers, fires ring timers.
//! - [`hub`]: this node's listeners to the event log (sockets, pushes), below the state.
//! - [`webhooks`]: delivers every stored event to the backends' endpoints, signed, in
//!   order per call, from delivery state kept in the store.
//! - [`presence`]: records what the SFU and egress workers report on the bus.
//! - [`routes`]: axum handlers, one file per resource; [`router()`] mounts them
//!   with the [`openapi`] document.
//! - [`placement`]: which SFU node a joining participant is sent to.
//! - [`permissions`]: what a participant may do in the media now, sent to the SFU when it changes.
//! - [`admission`]: what the SFU asks when someone enters a call's media.
//! - [`context`]: loads a call and works out what the caller may do in it.
//! - [`openapi`]: the generated OpenAPI document (served at `/openapi.json`, UI at `/docs`).
//!
//! Call-state changes are announced on the [`onair_bus::Bus`], which is how
//! the SFU and egress learn of them without depending on this crate.

#![warn(missing_docs)]

pub mod admission;
pub mod context;
pub mod domain;
pub mod egress;
pub mod error;
pub mod events;
pub mod extract;
pub mod hub;
pub mod lifecycle;
pub mod openapi;
pub mod permissions;
pub mod placement;
pub mod presence;
pub mod ringing;
pub mod router;
pub mod routes;
pub mod signal_proxy;
pub mod state;
pub mod store;
pub mod views;
pub mod webhooks;

pub use router::router;
pub use state::{ApiConfig, AppState, EgressPolicy, FileLinks, IceServer, TurnOffer};

use chrono::Utc;

/// Inserts the built-in call types that the store does not have yet
/// (existing ones, possibly changed by an operator, are left alone).
pub async fn seed_call_types(store: &dyn store::Store) -> store::StoreResult<()> {
    let now = Utc::now();
    for name in domain::call_type::BUILT_IN {
        if let Some(t) = domain::call_type::built_in(name, now) {
            store.insert_call_type_if_absent(&t).await?;
        }
    }
    Ok(())
}
