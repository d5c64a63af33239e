//! OnAir egress: what leaves a call as a file or a broadcast. A worker
//! joins the call like any client (through `onair-client`), so it needs no
//! access to the SFU's insides; the API asks for jobs and hears back over
//! the bus (see `docs/ARCHITECTURE.md`, "A recording's path").
//!
//! - [`service`]: takes the jobs the API queues on the bus, runs each job
//!   in its own task, stops them, drains on shutdown.
//! - [`lease`]: a running job's hold on its queue entry, so another node
//!   takes the job over if this one dies.
//! - [`hosts`]: the SFU node a job's recorder joins its call at (with
//!   several, one that hosts the call).
//! - [`job`]: what a job does: the one runner skeleton and its kinds
//!   (composite recording / HLS / RTMP push; track recording).
//! - [`pipelines`]: the GStreamer pipelines jobs feed (composite, track
//!   file) and where each video goes on the canvas.
//! - [`report`]: a job's state reports to the API, on the bus.
//! - [`config`]: what a worker is configured with.
//! - [`api`]: what a worker asks the REST API (push targets, whether a
//!   job is still wanted).
//! - [`disk`]: free space where jobs write: none started on a nearly full
//!   disk, running ones stopped cleanly before it fills.
//! - [`hls`]: HLS settings, and the full playlist written when a broadcast
//!   ends (pure).
//! - [`push`]: RTMP push targets: checked before each connection, retried
//!   with growing pauses, given up.
//! - [`storage`]: where output goes: the [`Storage`](storage::Storage)
//!   trait; a local directory with signed download links and its file
//!   route; S3 with multipart upload while recording and presigned links.

pub mod api;
pub mod config;
pub mod disk;
pub mod hls;
pub mod hosts;
pub mod job;
pub mod lease;
pub mod pipelines;
pub mod push;
pub mod report;
pub mod service;
pub mod storage;

pub use config::EgressConfig;
pub use hls::HlsConfig;
pub use service::Egress;
pub use storage::{LocalDir, Routed, S3Config, S3Storage, Storage};
