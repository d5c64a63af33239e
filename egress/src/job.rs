//! An egress job: joins the call as a hidden recorder and, for a
//! recording, an HLS broadcast or an RTMP push, feeds every track it
//! receives to a [`Composite`] pipeline — or, for a track recording, one
//! track to a [`TrackFile`] — and reports its progress until it is stopped,
//! the call ends (or the track does), or it fails. A failed recording still
//! finishes its file when it can, so what was recorded stays playable; an
//! RTMP target that drops is reconnected with growing pauses, and given up
//! (the push fails with the reason) after `rtmp_retry_for` of failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_auth::token::mint;
use onair_auth::{JoinClaims, OnAirGrant, VideoGrant};
use onair_client::{Client, Codec, MediaEvent};
use tokio::sync::{mpsc, oneshot};

use crate::composite::{Canvas, Composite, Output, VideoMode};
use crate::hls::{HlsConfig, Segments};
use crate::service::{EgressConfig, Reporter};
use crate::track::{self, TrackFile};
use crate::{disk, push};

/// How often an active job reports its size and duration.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long finishing the file may take (the API fails a job silent for 15 s).
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a track recording waits for its track's first frame.
const TRACK_WAIT: Duration = Duration::from_secs(20);
/// How long an HLS job waits for the first video to choose its [`VideoMode`].
const CHOOSE_WAIT: Duration = Duration::from_secs(3);

/// What a job produces.
#[derive(Clone, PartialEq, Eq)]
pub enum JobKind {
    /// A fragmented MP4 file.
    Recording,
    /// A live HLS playlist and its segments.
    Hls,
    /// FLV pushed to this RTMP URL (with its stream key: never log it).
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

/// What to do.
#[derive(Clone, Debug)]
pub struct CompositeJob {
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
}

/// A job's output file: its storage key and where it is written.
struct File {
    key: String,
    path: PathBuf,
}

impl CompositeJob {
    /// The storage key of its file (the playlist, for HLS; none for RTMP).
    pub fn file_key(&self) -> Option<String> {
        let cid = self.call_cid.replace(':', "_");
        match self.kind {
            JobKind::Recording => Some(format!("recordings/{cid}/{}.mp4", self.id)),
            JobKind::Hls => Some(format!("hls/{cid}/{}/index.m3u8", self.id)),
            JobKind::Rtmp(_) | JobKind::Track(_) => None,
        }
    }

    /// Where the composite pipeline writes (none: not a composite job).
    fn output(&self, file: Option<&File>, hls: &HlsConfig) -> Option<Output> {
        let path = file.map_or(Path::new(""), |f| f.path.as_path());
        Some(match &self.kind {
            JobKind::Recording => Output::Mp4(path.to_owned()),
            JobKind::Hls => Output::Hls {
                dir: path.parent().unwrap_or(path).to_owned(),
                segment_seconds: hls.segment_seconds(),
                window: hls.window.max(1),
                keep: hls.vod,
            },
            JobKind::Rtmp(url) => Output::Rtmp(url.clone()),
            JobKind::Track(_) => return None,
        })
    }

    /// The file's key once a player may open it: a recording at once (it
    /// is downloaded when done), an HLS playlist once it exists.
    fn ready<'f>(&self, file: Option<&'f File>) -> Option<&'f str> {
        let file = file?;
        (self.kind == JobKind::Recording || file.path.exists()).then_some(file.key.as_str())
    }

    /// Bytes written so far (every segment, for HLS).
    fn written(&self, file: Option<&File>) -> u64 {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let Some(file) = file else {
            return 0;
        };
        match self.kind {
            JobKind::Hls => file
                .path
                .parent()
                .and_then(|dir| std::fs::read_dir(dir).ok())
                .map_or(0, |entries| {
                    entries.flatten().map(|e| size(&e.path())).sum()
                }),
            _ => size(&file.path),
        }
    }

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
            }),
        };
        mint(&config.key, &claims)
    }
}

/// Runs `job` until `stop` fires or the call sends the recorder away.
pub async fn run(
    job: CompositeJob,
    config: Arc<EgressConfig>,
    stop: oneshot::Receiver<()>,
    report: Reporter,
) {
    let outcome = match &job.kind {
        JobKind::Track(sid) => record_track(&job, sid, &config, stop, &report).await,
        _ => {
            let key = job.file_key();
            match record(&job, &config, key.as_deref(), stop, &report).await {
                Ok((duration, size)) => Ok((duration, size, key)),
                Err((why, written)) => Err((why, key.filter(|_| written))),
            }
        }
    };
    match outcome {
        Ok((duration, size, key)) => {
            if let Some(key) = &key {
                if let Err(e) = config.storage.finish(key).await {
                    return report.failed(&e.to_string(), None).await;
                }
            }
            tracing::info!(egress = %job.id, kind = job.kind.name(), file = ?key, size, ?duration, "egress complete");
            report.complete(key.as_deref(), size, duration).await;
        }
        Err((why, file)) => {
            tracing::warn!(egress = %job.id, kind = job.kind.name(), error = %why, "egress failed");
            report.failed(&why, file.as_deref()).await;
        }
    }
}

/// What a job made: media duration, bytes and its file key; or why it
/// failed and the (playable) file it left, if any.
type Outcome = Result<(Duration, u64, Option<String>), (String, Option<String>)>;

/// Records track `sid` into a file until the track ends or `stop` fires.
async fn record_track(
    job: &CompositeJob,
    sid: &str,
    config: &EgressConfig,
    mut stop: oneshot::Receiver<()>,
    report: &Reporter,
) -> Outcome {
    let (client, mut media) = Client::connect_receiving(&config.signal_url, &job.token(config))
        .await
        .map_err(|e| (format!("joining the call: {e}"), None))?;
    // The track's first frame (a keyframe, for video) tells its codec.
    let first = tokio::time::timeout(TRACK_WAIT, async {
        loop {
            tokio::select! {
                event = media.recv() => match event {
                    Some(MediaEvent::Frame(f))
                        if f.track_sid == sid && (f.keyframe || f.codec == onair_client::Codec::Opus) =>
                    {
                        return Some(f)
                    }
                    Some(_) => {}
                    None => return None,
                },
                _ = &mut stop => return None,
            }
        }
    })
    .await;
    let Ok(Some(first)) = first else {
        client.leave().await;
        return Err((format!("track {sid} is not published in the call"), None));
    };
    let cid = job.call_cid.replace(':', "_");
    let key = format!(
        "recordings/{cid}/{}.{}",
        job.id,
        track::extension(first.codec)
    );
    let out = match config.storage.local_path(&key) {
        Ok(path) => File { key, path },
        Err(e) => {
            client.leave().await;
            return Err((e.to_string(), None));
        }
    };
    let (key, path) = (&out.key, &out.path);
    if let Some(why) = disk::short_of(path, config.min_free_space) {
        client.leave().await;
        return Err((why, None));
    }
    let mut file = match TrackFile::start(&first, path) {
        Ok(f) => f,
        Err(e) => {
            client.leave().await;
            return Err((e.to_string(), None));
        }
    };
    report.active(Some(key), 0, Duration::ZERO).await;
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let mut failure = None;
    loop {
        tokio::select! {
            event = media.recv() => match event {
                Some(MediaEvent::Frame(frame)) if frame.track_sid == sid => {
                    if let Err(e) = file.push(&frame) {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                Some(MediaEvent::TrackGone { track_sid }) if track_sid == sid => {
                    tracing::info!(egress = %job.id, "the recorded track ended");
                    break;
                }
                Some(_) => {}
                None => break,
            },
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Some(e) = file.error() {
                    failure = Some(e);
                    break;
                }
                if let Some(why) = disk::short_of(path, config.min_free_space / 2) {
                    failure = Some(why);
                    break;
                }
                if let Err(e) = config.storage.flush(key).await {
                    tracing::warn!(egress = %job.id, error = %e, "upload of a part failed; will retry");
                }
                report.active(Some(key), job.written(Some(&out)), file.duration()).await;
            }
        }
    }
    client.leave().await;
    let duration = file.duration();
    report
        .ending(Some(key), job.written(Some(&out)), duration)
        .await;
    let finished = off_thread(move || file.finish(FINISH_TIMEOUT)).await;
    match (failure, finished) {
        (None, Ok(())) => Ok((duration, job.written(Some(&out)), Some(out.key))),
        (Some(why), _) | (None, Err(why)) => Err((why, out.path.exists().then_some(out.key))),
    }
}

/// Produces the output (into the file of `key`, if any); its media
/// duration and size, or on failure the error and whether a (playable)
/// file was left.
async fn record(
    job: &CompositeJob,
    config: &EgressConfig,
    key: Option<&str>,
    mut stop: oneshot::Receiver<()>,
    report: &Reporter,
) -> Result<(Duration, u64), (String, bool)> {
    let canvas = Canvas::preset(&job.preset)
        .ok_or_else(|| (format!("unknown preset `{}`", job.preset), false))?;
    let file = match key {
        Some(key) => Some(File {
            key: key.to_owned(),
            path: config
                .storage
                .local_path(key)
                .map_err(|e| (e.to_string(), false))?,
        }),
        None => None,
    };
    let file = file.as_ref();
    if let Some(why) = file.and_then(|f| disk::short_of(&f.path, config.min_free_space)) {
        return Err((why, false));
    }
    let output = job
        .output(file, &config.hls)
        .ok_or_else(|| ("not a composite job".to_owned(), false))?;
    if let JobKind::Rtmp(url) = &job.kind {
        push::check_target(url, config.allow_private_targets)
            .await
            .map_err(|why| (why, false))?;
    }
    let mut retry = push::Backoff::new(config.rtmp_retry_for, Instant::now());
    let (client, mut media) = Client::connect_receiving(&config.signal_url, &job.token(config))
        .await
        .map_err(|e| (format!("joining the call: {e}"), false))?;
    let (mode, early) = match job.kind {
        JobKind::Hls => video_mode(&client, &mut media).await,
        _ => (VideoMode::Mix, Vec::new()),
    };
    tracing::info!(egress = %job.id, ?mode, "egress video");
    let mut composite = match Composite::start(canvas, &output, mode) {
        Ok(c) => c,
        Err(e) => {
            client.leave().await;
            return Err((e.to_string(), false));
        }
    };
    report.active(job.ready(file), 0, Duration::ZERO).await;
    // What arrived while the video was being chosen (its first keyframe among it).
    for event in early {
        if let Err(e) = apply(&mut composite, event) {
            tracing::warn!(egress = %job.id, error = %e, "an early frame was not taken");
        }
    }
    let segment = Duration::from_secs(config.hls.segment_seconds().into());
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL.min(segment));
    // Every segment the live playlist listed, for the full playlist at the end.
    let mut segments = Segments::default();
    let vod = job.kind == JobKind::Hls && config.hls.vod;
    let mut failure = None;
    loop {
        tokio::select! {
            event = media.recv() => match event {
                Some(event) => {
                    if let Err(e) = apply(&mut composite, event) {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                None => {
                    tracing::info!(egress = %job.id, "the recorder left the call (call ended?)");
                    break;
                }
            },
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Some(e) = composite.error() {
                    let JobKind::Rtmp(url) = &job.kind else {
                        failure = Some(e);
                        break;
                    };
                    // The target dropped (or refused): connect again after a
                    // pause; tracks rejoin the new pipeline with their next frames.
                    let Some(pause) = retry.failed(Instant::now()) else {
                        failure = Some(format!("the RTMP target failed for {:?}: {e}", config.rtmp_retry_for));
                        break;
                    };
                    tracing::warn!(egress = %job.id, error = %e, ?pause, "RTMP target lost; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = &mut stop => break,
                    }
                    if let Err(why) = push::check_target(url, config.allow_private_targets).await {
                        failure = Some(why);
                        break;
                    }
                    drop(composite);
                    composite = Composite::start(canvas, &output, mode).map_err(|e| (e.to_string(), false))?;
                    retry.reconnected(Instant::now());
                    // The new pipeline's decoders start at keyframes: ask for them.
                    for sid in &client.stats().video {
                        client.request_keyframe(sid);
                    }
                } else {
                    retry.healthy(Instant::now());
                }
                // A passed-through track decides where segments can start:
                // ask for a keyframe every segment.
                if let Some(sid) = composite.passed_through() {
                    client.request_keyframe(sid);
                }
                for sid in composite.awaiting_keyframes() {
                    client.request_keyframe(&sid);
                }
                if let Some(why) = file.and_then(|f| disk::short_of(&f.path, config.min_free_space / 2)) {
                    failure = Some(why);
                    break;
                }
                if let Some(f) = file.filter(|_| job.kind == JobKind::Recording) {
                    // Upload what is complete; a failure is retried on the next tick.
                    if let Err(e) = config.storage.flush(&f.key).await {
                        tracing::warn!(egress = %job.id, error = %e, "upload of a part failed; will retry");
                    }
                }
                if let Some(f) = file.filter(|_| vod) {
                    note_segments(&mut segments, &f.path);
                }
                report.active(job.ready(file), job.written(file), composite.duration()).await;
            }
        }
    }
    client.leave().await;
    let duration = composite.duration();
    report
        .ending(job.ready(file), job.written(file), duration)
        .await;
    let finished = off_thread(move || composite.finish(FINISH_TIMEOUT)).await;
    if let Some(f) = file.filter(|_| vod) {
        note_segments(&mut segments, &f.path);
        if segments.missing() > 0 {
            tracing::warn!(egress = %job.id, missing = segments.missing(), "segments left the live playlist unseen; the full playlist skips them");
        }
        if let Err(e) = write_vod(&segments, &f.path) {
            tracing::warn!(egress = %job.id, error = %e, "the full playlist was not written");
        }
    }
    match (failure, finished) {
        (None, Ok(())) => Ok((duration, job.written(file))),
        // A push stopped while its target was down is over all the same.
        (None, Err(why)) if matches!(job.kind, JobKind::Rtmp(_)) => {
            tracing::debug!(egress = %job.id, error = %why, "RTMP push ended with its target down");
            Ok((duration, 0))
        }
        (Some(why), _) | (None, Err(why)) => Err((why, file.is_some_and(|f| f.path.exists()))),
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

/// Hands one event from the call to the pipeline.
fn apply(
    composite: &mut Composite,
    event: MediaEvent,
) -> Result<(), crate::pipeline::PipelineError> {
    match event {
        MediaEvent::Frame(frame) => composite.push(&frame)?,
        MediaEvent::TrackGone { track_sid } => composite.remove(&track_sid),
        MediaEvent::Speaker { identity } => composite.set_speaker(identity),
    }
    Ok(())
}

/// HLS passes the host's video through when the call's only camera sends
/// H.264, and mixes and encodes otherwise. Decided on the first video frame,
/// or after [`CHOOSE_WAIT`] without one; what arrived until then is handed
/// back to go into the pipeline first.
async fn video_mode(
    client: &Client,
    media: &mut mpsc::UnboundedReceiver<MediaEvent>,
) -> (VideoMode, Vec<MediaEvent>) {
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

/// Runs `finish` (which blocks until a file is complete) off the async
/// threads; its error as text.
async fn off_thread(
    finish: impl FnOnce() -> Result<(), crate::pipeline::PipelineError> + Send + 'static,
) -> Result<(), String> {
    tokio::task::spawn_blocking(finish)
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
}
