//! HTTP handlers, one file per resource. [`crate::router()`] mounts them with
//! the OpenAPI document; handlers depend on the domain, the services and
//! [`crate::views`], never on the router.

pub mod blocks;
pub mod call_types;
pub mod calls;
pub mod connect;
pub mod custom;
pub mod devices;
pub mod events;
pub mod hls;
pub mod jobs;
pub mod join;
pub mod live;
pub mod members;
pub mod ops;
pub mod participants;
pub mod permissions;
pub mod recordings;
pub mod ring;
pub mod rtmp;
pub mod users;
pub mod webhooks;
