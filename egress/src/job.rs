//! A composite job — a recording, an HLS broadcast or an RTMP push: joins
//! the call as a hidden recorder, feeds every track it receives to a
//! [`Composite`] pipeline, and reports its progress until it is stopped,
//! the call ends, or it fails. A failed recording still finishes its file
//! when it can, so what was recorded stays playable; an RTMP target that
//! drops is reconnected until the push is stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use onair_auth::token::mint;
use onair_auth::{JoinClaims, OnAirGrant, VideoGrant};
use onair_client::{Client, MediaEvent};
use tokio::sync::oneshot;

use crate::composite::{Canvas, Composite, Output};
use crate::service::{EgressConfig, Reporter};

/// How often an active job reports its size and duration.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long finishing the file may take (the API fails a job silent for 15 s).
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reconnecting a dropped RTMP target.
const RTMP_RETRY: Duration = Duration::from_secs(2);

/// HLS segment length, seconds.
const HLS_SEGMENT_SECONDS: u32 = 2;
/// Segments in the live HLS playlist.
const HLS_WINDOW: u32 = 6;

/// What a job produces.
#[derive(Clone, PartialEq, Eq)]
pub enum JobKind {
    /// A fragmented MP4 file.
    Recording,
    /// A live HLS playlist and its segments.
    Hls,
    /// FLV pushed to this RTMP URL (with its stream key: never log it).
    Rtmp(String),
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
            JobKind::Rtmp(_) => None,
        }
    }

    /// Where the pipeline writes.
    fn output(&self, file: Option<&File>) -> Output {
        let path = file.map_or(Path::new(""), |f| f.path.as_path());
        match &self.kind {
            JobKind::Recording => Output::Mp4(path.to_owned()),
            JobKind::Hls => Output::Hls {
                dir: path.parent().unwrap_or(path).to_owned(),
                segment_seconds: HLS_SEGMENT_SECONDS,
                window: HLS_WINDOW,
            },
            JobKind::Rtmp(url) => Output::Rtmp(url.clone()),
        }
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
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
    let key = job.file_key();
    match record(&job, &config, key.as_deref(), stop, &report).await {
        Ok((duration, size)) => {
            if let Some(key) = &key {
                if let Err(e) = config.storage.finish(key).await {
                    return report.failed(&e.to_string(), None).await;
                }
            }
            tracing::info!(egress = %job.id, kind = job.kind.name(), file = ?key, size, ?duration, "egress complete");
            report.complete(key.as_deref(), size, duration).await;
        }
        Err((why, written)) => {
            tracing::warn!(egress = %job.id, kind = job.kind.name(), error = %why, "egress failed");
            let file = key.as_deref().filter(|_| written);
            report.failed(&why, file).await;
        }
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
    let (client, mut media) = Client::connect_receiving(&config.signal_url, &job.token(config))
        .await
        .map_err(|e| (format!("joining the call: {e}"), false))?;
    let mut composite = match Composite::start(canvas, &job.output(file)) {
        Ok(c) => c,
        Err(e) => {
            client.leave().await;
            return Err((e.to_string(), false));
        }
    };
    report.active(job.ready(file), 0, Duration::ZERO).await;
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let mut failure = None;
    loop {
        tokio::select! {
            event = media.recv() => match event {
                Some(MediaEvent::Frame(frame)) => {
                    if let Err(e) = composite.push(&frame) {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                Some(MediaEvent::TrackGone { track_sid }) => composite.remove(&track_sid),
                Some(MediaEvent::Speaker { identity }) => composite.set_speaker(identity),
                None => {
                    tracing::info!(egress = %job.id, "the recorder left the call (call ended?)");
                    break;
                }
            },
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Some(e) = composite.error() {
                    if !matches!(job.kind, JobKind::Rtmp(_)) {
                        failure = Some(e);
                        break;
                    }
                    // The target dropped (or refused): connect again; tracks
                    // rejoin the new pipeline with their next frames.
                    tracing::warn!(egress = %job.id, error = %e, "RTMP target lost; reconnecting");
                    drop(composite);
                    tokio::time::sleep(RTMP_RETRY).await;
                    composite = Composite::start(canvas, &job.output(file)).map_err(|e| (e.to_string(), false))?;
                }
                if let Some(f) = file.filter(|_| job.kind == JobKind::Recording) {
                    // Upload what is complete; a failure is retried on the next tick.
                    if let Err(e) = config.storage.flush(&f.key).await {
                        tracing::warn!(egress = %job.id, error = %e, "upload of a part failed; will retry");
                    }
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
    let finished = tokio::task::spawn_blocking(move || composite.finish(FINISH_TIMEOUT))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
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
