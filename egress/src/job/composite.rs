//! A composite job: the whole call in one picture and sound, through the
//! [`Composite`] pipeline, as a recording (MP4), an HLS broadcast or an
//! RTMP push. A push whose target drops is reconnected with growing pauses
//! (tracks rejoin the new pipeline at their next keyframes) and given up
//! after `rtmp_retry_for` of failures.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use onair_client::{Client, Codec, MediaEvent};
use onair_pipeline::Running;
use tokio::sync::oneshot;

use super::runner::{self, File, Flow, Media, Outcome, Sink, FINISH_TIMEOUT, PROGRESS_INTERVAL};
use super::{Job, JobError, JobKind};
use crate::hls::{HlsConfig, Segments};
use crate::pipelines::composite::{Canvas, Composite, Output, VideoMode};
use crate::push::{self, Backoff};
use crate::report::Reporter;
use crate::EgressConfig;

/// How long an HLS job waits for the first video to choose its [`VideoMode`].
const CHOOSE_WAIT: Duration = Duration::from_secs(3);

/// Runs a recording, HLS or RTMP job until `stop` fires or the call ends.
pub(super) async fn record(
    job: &Job,
    config: &EgressConfig,
    stop: oneshot::Receiver<()>,
    report: &Reporter,
) -> Outcome {
    let canvas = Canvas::preset(&job.preset).ok_or_else(|| JobError::Preset(job.preset.clone()))?;
    let file = match job.kind {
        JobKind::Recording => {
            let key = format!("recordings/{}/{}.mp4", job.call_dir(), job.file_name());
            Some(File::new(key, false, config)?)
        }
        JobKind::Hls => {
            let key = format!("hls/{}/{}/index.m3u8", job.call_dir(), job.id);
            Some(File::new(key, true, config)?)
        }
        _ => None,
    };
    let output = output(&job.kind, file.as_ref(), &config.hls)
        .ok_or_else(|| JobError::Output("not a composite job".into()))?;
    if let Output::Rtmp(url) = &output {
        push::check_target(url, config.allow_private_targets)
            .await
            .map_err(JobError::from)?;
    }
    let (client, mut media, at) = runner::join(job, config).await?;
    let (mode, early) = match job.kind {
        JobKind::Hls => video_mode(&client, &mut media).await,
        _ => (VideoMode::Mix, Vec::new()),
    };
    tracing::info!(egress = %job.id, ?mode, "egress video");
    let pipeline = match Composite::start(canvas, &output, mode) {
        Ok(pipeline) => pipeline,
        Err(e) => return Err(runner::abandon(client, e.into()).await),
    };
    let vod = job.kind == JobKind::Hls && config.hls.vod;
    let mut sink = CompositeSink {
        job_id: job.id.clone(),
        pipeline,
        canvas,
        mode,
        retry: Backoff::new(config.rtmp_retry_for, Instant::now()),
        stopped: false,
        retry_for: config.rtmp_retry_for,
        allow_private_targets: config.allow_private_targets,
        output,
        file,
        segments: vod.then(Segments::default),
        sizes: HashMap::new(),
    };
    // What arrived while the video was being chosen (its first keyframe among it).
    for event in early {
        if let Err(e) = sink.take(event) {
            tracing::warn!(egress = %job.id, error = %e, "an early frame was not taken");
        }
    }
    let segment = Duration::from_secs(config.hls.segment_seconds().into());
    let every = PROGRESS_INTERVAL.min(segment);
    runner::drive(job, config, (client, media, at), sink, stop, report, every).await
}

/// Where the pipeline of a `kind` job writes (none: not a composite job).
fn output(kind: &JobKind, file: Option<&File>, hls: &HlsConfig) -> Option<Output> {
    let path = file.map_or(Path::new(""), |f| f.path.as_path());
    Some(match kind {
        JobKind::Hls => Output::Hls {
            dir: path.parent().unwrap_or(path).to_owned(),
            segment_seconds: hls.segment_seconds(),
            window: hls.window.max(1),
            keep: hls.vod,
        },
        JobKind::Rtmp(url) => Output::Rtmp(url.clone()),
        JobKind::Recording => Output::Mp4(path.to_owned()),
        JobKind::Track(_) => return None,
    })
}

/// HLS passes the host's video through when the call's only camera sends
/// H.264, and mixes and encodes otherwise. Decided on the first video frame,
/// or after [`CHOOSE_WAIT`] without one; what arrived until then is handed
/// back to go into the pipeline first.
async fn video_mode(client: &Client, media: &mut Media) -> (VideoMode, Vec<MediaEvent>) {
    let mut early = Vec::new();
    let _ = tokio::time::timeout(CHOOSE_WAIT, async {
        while let Some(event) = media.recv().await {
            let video = matches!(&event, MediaEvent::Frame(f) if f.codec != Codec::Opus);
            early.push(event);
            if video {
                return;
            }
        }
    })
    .await;
    let first = early.iter().find_map(|e| match e {
        MediaEvent::Frame(f) if f.codec != Codec::Opus => Some(f),
        _ => None,
    });
    let mode = match first {
        Some(f) if f.codec == Codec::H264 && client.stats().video.len() == 1 => {
            VideoMode::Passthrough
        }
        _ => VideoMode::Mix,
    };
    (mode, early)
}

/// The call's media into the composite pipeline.
struct CompositeSink {
    job_id: String,
    pipeline: Composite,
    canvas: Canvas,
    mode: VideoMode,
    output: Output,
    file: Option<File>,
    /// When to reconnect a push target that dropped, and when to give up.
    retry: Backoff,
    /// The pipeline was stopped to reconnect, and no new one started.
    stopped: bool,
    retry_for: Duration,
    allow_private_targets: bool,
    /// Every segment the live playlist listed, for the full playlist at the
    /// end (HLS kept as video on demand).
    segments: Option<Segments>,
    /// The size each tiled track was last asked for at, by track sid.
    sizes: HashMap<String, (u32, u32)>,
}

impl Sink for CompositeSink {
    fn take(&mut self, event: MediaEvent) -> Result<Flow, JobError> {
        match event {
            MediaEvent::Frame(frame) => self.pipeline.push(&frame)?,
            MediaEvent::TrackGone { track_sid } => self.pipeline.remove(&track_sid),
            MediaEvent::Speaker { identity } => self.pipeline.set_speaker(identity),
            MediaEvent::Encrypted { track_sid } => return Err(JobError::Encrypted(track_sid)),
            // A muted track sends nothing; its tile keeps its last picture.
            // Names are not drawn. A recorder receives frames, not packets.
            MediaEvent::Muted { .. } | MediaEvent::Profile { .. } | MediaEvent::Packet(_) => {}
        }
        Ok(Flow::Go)
    }

    async fn tick(
        &mut self,
        client: &Client,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Flow, JobError> {
        match self.pipeline.error() {
            Some(e) if matches!(self.output, Output::Rtmp(_)) => {
                if let Flow::Done = self.reconnect(e, client, stop).await? {
                    return Ok(Flow::Done);
                }
            }
            Some(e) => return Err(JobError::Output(e)),
            None => self.retry.healthy(Instant::now()),
        }
        // A passed-through track decides where segments can start: ask for
        // a keyframe every segment.
        if let Some(sid) = self.pipeline.passed_through() {
            client.request_keyframe(sid);
        }
        for sid in self.pipeline.awaiting_keyframes() {
            client.request_keyframe(&sid);
        }
        // Each video in the layer that fits its tile (asked once per change).
        let tiles = self.pipeline.tile_sizes();
        self.sizes
            .retain(|sid, _| tiles.iter().any(|(t, ..)| t == sid));
        for (sid, width, height) in tiles {
            if self.sizes.insert(sid.clone(), (width, height)) != Some((width, height)) {
                client.set_video_size(&sid, width, height);
            }
        }
        if let (Some(segments), Some(file)) = (&mut self.segments, &self.file) {
            note_segments(segments, &file.path);
        }
        Ok(Flow::Go)
    }

    fn duration(&self) -> Duration {
        self.pipeline.duration()
    }

    fn cpu(&self) -> Duration {
        self.pipeline.cpu()
    }

    fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    fn close(self) -> Result<Option<Duration>, JobError> {
        // A pipeline stopped for a reconnect that failed has nothing to finish.
        let finished = match self.stopped {
            true => Ok(None),
            false => self.pipeline.finish(FINISH_TIMEOUT).map(Some),
        };
        if let (Some(mut segments), Some(file)) = (self.segments, &self.file) {
            note_segments(&mut segments, &file.path);
            if segments.missing() > 0 {
                tracing::warn!(egress = %self.job_id, missing = segments.missing(), "segments left the live playlist unseen; the full playlist skips them");
            }
            if let Err(e) = write_vod(&segments, &file.path) {
                tracing::warn!(egress = %self.job_id, error = %e, "the full playlist was not written");
            }
        }
        match finished {
            // A push stopped while its target was down is over all the same.
            Err(e) if matches!(self.output, Output::Rtmp(_)) => {
                tracing::debug!(egress = %self.job_id, error = %e, "RTMP push ended with its target down");
                Ok(None)
            }
            other => Ok(other?),
        }
    }
}

impl CompositeSink {
    /// The push target dropped (or refused): connects again after a pause,
    /// unless it has failed for too long or `stop` fires meanwhile.
    async fn reconnect(
        &mut self,
        error: String,
        client: &Client,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Flow, JobError> {
        let Some(pause) = self.retry.failed(Instant::now()) else {
            let retried_for = self.retry_for;
            return Err(JobError::PushGaveUp { retried_for, error });
        };
        tracing::warn!(egress = %self.job_id, %error, ?pause, "RTMP target lost; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop => return Ok(Flow::Done),
        }
        if let Output::Rtmp(url) = &self.output {
            push::check_target(url, self.allow_private_targets).await?;
        }
        // The old pipeline stops before the new one connects.
        let _ = self.pipeline.pipeline().set_state(gst::State::Null);
        self.stopped = true;
        self.pipeline = Composite::start(self.canvas, &self.output, self.mode)?;
        self.stopped = false;
        self.retry.reconnected(Instant::now());
        // The new pipeline's decoders start at keyframes: ask for them.
        for sid in &client.stats().video {
            client.request_keyframe(sid);
        }
        Ok(Flow::Go)
    }
}

/// Notes the segments the live playlist at `path` lists now.
fn note_segments(segments: &mut Segments, path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        segments.update(&text);
    }
}

/// Replaces the finished playlist at `path` with one listing every segment
/// (written aside and renamed, so a player never reads half of it).
fn write_vod(segments: &Segments, path: &Path) -> std::io::Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    let aside = path.with_extension("m3u8.part");
    std::fs::write(&aside, segments.vod_playlist())?;
    std::fs::rename(aside, path)
}
