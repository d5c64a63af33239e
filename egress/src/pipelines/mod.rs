//! The GStreamer pipelines egress runs; jobs ([`crate::job`]) feed them
//! the call's frames. Each implements [`onair_pipeline::Running`], which
//! is all a job asks of a pipeline besides its frames.
//!
//! - [`composite`]: decoded video in a grid, mixed audio, H.264 + AAC, into
//!   fragmented MP4 (a killed worker still leaves a playable file), HLS
//!   segments with a live playlist, or FLV to an RTMP target.
//! - [`track`]: one track into a file, not transcoded.
//! - [`layout`]: where each video goes on the canvas (pure).

pub mod composite;
pub mod layout;
pub mod track;
