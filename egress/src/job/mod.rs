//! Egress jobs. A job joins the call as a hidden recorder, feeds what it
//! receives to a pipeline until it is stopped, the call ends (or its track
//! does) or it fails, and reports its progress all along. A failed job
//! still finishes its file when it can, so what was recorded stays playable.
//!
//! - [`runner`]: the one skeleton every job runs (join, feed, tick, flush,
//!   report, finish); the kinds below plug into it as a [`runner::Sink`].
//! - [`composite`]: the whole call in one picture and sound: a recording
//!   (MP4), an HLS broadcast, or an RTMP push (reconnected with growing
//!   pauses, given up after `rtmp_retry_for` of failures).
//! - [`track`]: one track into a file, not transcoded.

mod composite;
mod runner;
mod track;

use std::sync::Arc;

use onair_auth::token::mint;
use onair_auth::{JoinClaims, OnAirGrant, VideoGrant};
use onair_client::ClientError;
use onair_pipeline::PipelineError;
use tokio::sync::oneshot;

use crate::report::Reporter;
use crate::storage::StorageError;
use crate::EgressConfig;

/// A job to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job id (`EG_…`).
    pub id: String,
    /// What it produces.
    pub kind: JobKind,
    /// The call.
    pub call_cid: String,
    /// Output preset (`360p`, `720p`, `1080p`).
    pub preset: String,
    /// The call is in backstage.
    pub backstage: bool,
    /// Which file part this run writes: 1, or more once another node's
    /// run of the job died (its parts stay as they were).
    pub part: u32,
    /// Where it joins the call.
    pub hosts: crate::hosts::Hosts,
}

/// What a job produces.
#[derive(Clone, PartialEq, Eq)]
pub enum JobKind {
    /// The call as a fragmented MP4 file.
    Recording,
    /// The call as a live HLS playlist and its segments.
    Hls,
    /// The call as FLV pushed to this RTMP URL (with its stream key: never
    /// log it).
    Rtmp(String),
    /// One track (this sid) into a file, not transcoded.
    Track(String),
}

impl std::fmt::Debug for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl JobKind {
    /// Its name, for logs (an RTMP target holds a stream key: never logged).
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Recording => "recording",
            JobKind::Hls => "hls",
            JobKind::Rtmp(_) => "rtmp",
            JobKind::Track(_) => "track_recording",
        }
    }
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The recorder could not join the call.
    #[error("joining the call: {0}")]
    Join(#[from] ClientError),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The output could not be placed or stored.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The job named a preset that does not exist.
    #[error("unknown preset `{0}`")]
    Preset(String),
    /// A track is end-to-end encrypted: egress cannot decode it, and will
    /// not write a file nobody can play.
    #[error("track {0} is end-to-end encrypted: egress cannot record it")]
    Encrypted(String),
    /// The track to record never sent a frame.
    #[error("track {0} is not published in the call")]
    NoTrack(String),
    /// The running pipeline reported an error.
    #[error("{0}")]
    Output(String),
    /// Too little free space where the output goes.
    #[error("{0}")]
    Disk(String),
    /// The RTMP target was refused.
    #[error(transparent)]
    Target(#[from] crate::push::TargetError),
    /// The RTMP target kept failing for longer than `rtmp_retry_for`.
    #[error("the RTMP target failed for {retried_for:?}: {error}")]
    PushGaveUp {
        /// How long it was retried.
        retried_for: std::time::Duration,
        /// Its last error.
        error: String,
    },
    /// The task finishing the output panicked or was cancelled.
    #[error("finishing the output: {0}")]
    Finish(String),
}

impl Job {
    /// A join token for a hidden recorder that only receives.
    fn token(&self, config: &EgressConfig) -> String {
        let now = onair_auth::clock::unix_secs();
        let claims = JoinClaims {
            iss: config.key.key.clone(),
            sub: format!("egress-{}", self.id),
            exp: now + 24 * 3600,
            nbf: 0,
            name: "Recorder".into(),
            metadata: String::new(),
            video: VideoGrant {
                room: self.call_cid.clone(),
                room_join: true,
                can_publish: Some(false),
                can_subscribe: Some(true),
                can_publish_data: Some(false),
                hidden: Some(true),
                recorder: Some(true),
                ..Default::default()
            },
            onair: Some(OnAirGrant {
                backstage: self.backstage,
                session: None,
                minted_at_ms: None,
                relay: None,
            }),
        };
        mint(&config.key, &claims)
    }

    /// The folder-safe form of the call id, for storage keys.
    fn call_dir(&self) -> String {
        self.call_cid.replace(':', "_")
    }

    /// The name of this run's file: the job id, with the part after the first.
    fn file_name(&self) -> String {
        match self.part {
            0 | 1 => self.id.clone(),
            part => format!("{}.part{part}", self.id),
        }
    }
}

/// Runs `job` until `stop` fires or the call sends the recorder away, and
/// reports how it ended.
pub async fn run(
    job: Job,
    config: Arc<EgressConfig>,
    stop: oneshot::Receiver<()>,
    report: Reporter,
) {
    let outcome = match &job.kind {
        JobKind::Track(sid) => track::record(&job, sid, &config, stop, &report).await,
        _ => composite::record(&job, &config, stop, &report).await,
    };
    match outcome {
        Ok(done) => {
            if let Some(key) = &done.key {
                if let Err(e) = config.storage.finish(key).await {
                    return report.failed(&e.to_string(), None).await;
                }
            }
            tracing::info!(egress = %job.id, kind = job.kind.name(), file = ?done.key, size = done.size, duration = ?done.duration, "egress complete");
            report
                .complete(done.key.as_deref(), done.size, done.duration)
                .await;
        }
        Err(failed) => {
            tracing::warn!(egress = %job.id, kind = job.kind.name(), error = %failed.error, "egress failed");
            report
                .failed(&failed.error.to_string(), failed.file.as_deref())
                .await;
        }
    }
}
