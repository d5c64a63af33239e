//! A composite job — a recording or an HLS broadcast: joins the call as a
//! hidden recorder, feeds every track it receives to a [`Composite`]
//! pipeline, and reports its progress until it is stopped, the call ends,
//! or it fails. A failed job still finishes its output when it can, so what
//! was recorded stays playable.

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

/// HLS segment length, seconds.
const HLS_SEGMENT_SECONDS: u32 = 2;
/// Segments in the live HLS playlist.
const HLS_WINDOW: u32 = 6;

/// What a job produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A fragmented MP4 file.
    Recording,
    /// A live HLS playlist and its segments.
    Hls,
}

/// What to do.
#[derive(Clone, Debug)]
pub struct CompositeJob {
    /// The job id (`EG_…`).
    pub id: String,
    /// Recording or HLS.
    pub kind: JobKind,
    /// The call.
    pub call_cid: String,
    /// Output preset (`360p`, `720p`, `1080p`).
    pub preset: String,
    /// The call is in backstage.
    pub backstage: bool,
}

impl CompositeJob {
    /// The storage key of its file (the playlist, for HLS).
    pub fn file_key(&self) -> String {
        let cid = self.call_cid.replace(':', "_");
        match self.kind {
            JobKind::Recording => format!("recordings/{cid}/{}.mp4", self.id),
            JobKind::Hls => format!("hls/{cid}/{}/index.m3u8", self.id),
        }
    }

    /// Where the pipeline writes, given the local path of the file key.
    fn output(&self, path: &std::path::Path) -> Output {
        match self.kind {
            JobKind::Recording => Output::Mp4(path.to_owned()),
            JobKind::Hls => Output::Hls {
                dir: path.parent().unwrap_or(path).to_owned(),
                segment_seconds: HLS_SEGMENT_SECONDS,
                window: HLS_WINDOW,
            },
        }
    }

    /// `key` once a player may open it: a recording at once (it is
    /// downloaded when done), an HLS playlist once it exists.
    fn ready<'k>(&self, key: &'k str, path: &std::path::Path) -> Option<&'k str> {
        (self.kind == JobKind::Recording || path.exists()).then_some(key)
    }

    /// Bytes written so far (every segment, for HLS).
    fn written(&self, path: &std::path::Path) -> u64 {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        match self.kind {
            JobKind::Recording => size(path),
            JobKind::Hls => path
                .parent()
                .and_then(|dir| std::fs::read_dir(dir).ok())
                .map_or(0, |entries| {
                    entries.flatten().map(|e| size(&e.path())).sum()
                }),
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
    match record(&job, &config, &key, stop, &report).await {
        Ok((duration, size)) => match config.storage.finish(&key).await {
            Ok(_) => {
                tracing::info!(egress = %job.id, kind = ?job.kind, file = %key, size, ?duration, "egress complete");
                report.complete(&key, size, duration).await;
            }
            Err(e) => report.failed(&e.to_string(), None).await,
        },
        Err((why, written)) => {
            tracing::warn!(egress = %job.id, kind = ?job.kind, error = %why, "egress failed");
            let file = written.then_some(key.as_str());
            report.failed(&why, file).await;
        }
    }
}

/// Writes the output of `key`; its media duration and size, or on failure
/// the error and whether a (playable) file was left.
async fn record(
    job: &CompositeJob,
    config: &EgressConfig,
    key: &str,
    mut stop: oneshot::Receiver<()>,
    report: &Reporter,
) -> Result<(Duration, u64), (String, bool)> {
    let canvas = Canvas::preset(&job.preset)
        .ok_or_else(|| (format!("unknown preset `{}`", job.preset), false))?;
    let path = config
        .storage
        .local_path(key)
        .map_err(|e| (e.to_string(), false))?;
    let (client, mut media) = Client::connect_receiving(&config.signal_url, &job.token(config))
        .await
        .map_err(|e| (format!("joining the call: {e}"), false))?;
    let mut composite = match Composite::start(canvas, &job.output(&path)) {
        Ok(c) => c,
        Err(e) => {
            client.leave().await;
            return Err((e.to_string(), false));
        }
    };
    report
        .active(job.ready(key, &path), 0, Duration::ZERO)
        .await;
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
                None => {
                    tracing::info!(egress = %job.id, "the recorder left the call (call ended?)");
                    break;
                }
            },
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Some(e) = composite.error() {
                    failure = Some(e);
                    break;
                }
                report.active(job.ready(key, &path), job.written(&path), composite.duration()).await;
            }
        }
    }
    client.leave().await;
    let duration = composite.duration();
    report.ending(key, job.written(&path), duration).await;
    let finished = tokio::task::spawn_blocking(move || composite.finish(FINISH_TIMEOUT))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match (failure, finished) {
        (None, Ok(())) => Ok((duration, job.written(&path))),
        (Some(why), _) | (None, Err(why)) => Err((why, path.exists())),
    }
}
