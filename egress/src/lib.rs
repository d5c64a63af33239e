//! OnAir egress: what leaves a call as a file or a broadcast.
//!
//! - [`service`]: listens on the bus for job requests from the API, runs
//!   each job in its own task and reports its states back on the bus.
//! - [`job`]: a composite job (recording or HLS): joins the call as a hidden
//!   recorder through `onair-client` and feeds every track to [`composite`].
//! - [`api`]: what a worker asks the REST API (push targets, whether a
//!   job is still wanted).
//! - [`composite`]: the GStreamer pipeline: decoded video in a grid, mixed
//!   audio, H.264 + AAC, into fragmented MP4 (a killed worker still leaves a
//!   playable file) or HLS segments with a live playlist.
//! - [`disk`]: free space where jobs write: none started on a nearly full
//!   disk, running ones stopped cleanly before it fills.
//! - [`hls`]: HLS settings, and the full playlist written when a broadcast
//!   ends (pure).
//! - [`layout`]: where each video goes on the canvas (pure).
//! - [`pipeline`]: what the GStreamer pipelines share (errors, finishing).
//! - [`push`]: RTMP push targets: checked before each connection, retried
//!   with growing pauses, given up.
//! - [`track`]: a track recording: one track into a file, not transcoded.
//! - [`ingest`]: the other direction: an RTMP server (OBS) whose streams
//!   are published into calls.
//! - [`storage`]: where output goes: the [`Storage`](storage::Storage)
//!   trait; a local directory with signed download links and its file
//!   route; S3 with multipart upload while recording and presigned links.

pub mod api;
pub mod composite;
pub mod disk;
pub mod hls;
pub mod ingest;
pub mod job;
pub mod layout;
pub mod pipeline;
pub mod push;
pub mod service;
pub mod storage;
pub mod track;

pub use hls::HlsConfig;
pub use service::{Egress, EgressConfig};
pub use storage::{LocalDir, Routed, S3Config, S3Storage, Storage};
