//! The one skeleton every job runs: join the call as a hidden recorder,
//! hand each media event to the job's [`Sink`], and on every tick let the
//! sink check its pipeline, stop before the disk fills, upload what is
//! complete and report progress; then leave, finish the output off the
//! async threads and say how it went. Kinds differ only in their sink.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use onair_client::{Client, MediaEvent};
use tokio::sync::{mpsc, oneshot};

use super::{Job, JobError};
use crate::disk;
use crate::report::Reporter;
use crate::EgressConfig;

/// How often an active job reports its size and duration.
pub(super) const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long finishing the file may take (the API fails a job silent for 15 s).
pub(super) const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a recorder that lost its SFU node tries to join the call again:
/// past the 3 s after which the registry forgets a silent node.
const REJOIN_FOR: Duration = Duration::from_secs(15);
/// How often it tries.
const REJOIN_EVERY: Duration = Duration::from_millis(500);

/// The call's media, as the recorder receives it.
pub(super) type Media = mpsc::UnboundedReceiver<MediaEvent>;

/// The recorder in the call: its session, the media it receives, and the
/// SFU URL it joined at.
pub(super) type Joined = (Client, Media, String);

/// Whether a job goes on.
pub(super) enum Flow {
    /// Keep going.
    Go,
    /// Done: what it records has ended.
    Done,
}

/// What one kind of job does with the call's media; [`drive`] does the rest.
pub(super) trait Sink: Send + 'static {
    /// Takes one event from the call.
    fn take(&mut self, event: MediaEvent) -> Result<Flow, JobError>;

    /// The recorder left session `old` for another (its SFU node was lost,
    /// or the call is elsewhere): the tracks `old` received are gone, and
    /// come back under new ids. By default they leave the output.
    fn moved(&mut self, old: &Client) {
        for track_sid in old.stats().tracks.into_keys() {
            let _ = self.take(MediaEvent::TrackGone { track_sid });
        }
    }

    /// Checks the pipeline and asks the call for what it needs (keyframes)
    /// on every tick; may pause (watching `stop`) to reconnect a target.
    fn tick(
        &mut self,
        client: &Client,
        stop: &mut oneshot::Receiver<()>,
    ) -> impl Future<Output = Result<Flow, JobError>> + Send;

    /// Media written so far.
    fn duration(&self) -> Duration;

    /// CPU time its pipeline used so far (a new pipeline starts again at 0).
    fn cpu(&self) -> Duration;

    /// The file it writes, if any.
    fn file(&self) -> Option<&File>;

    /// Finishes the output; blocks until it is complete (or times out).
    /// Returns the media written in all, where a pipeline ran to the end.
    fn close(self) -> Result<Option<Duration>, JobError>;
}

/// A job's output file: its storage key and where it is written.
#[derive(Clone, Debug)]
pub(super) struct File {
    /// The storage key.
    pub key: String,
    /// Where it is written on this node.
    pub path: PathBuf,
    /// An HLS playlist (its segments lie next to it) rather than one file.
    pub playlist: bool,
}

impl File {
    /// The file of `key`, if the disk it goes to has room for a job.
    pub fn new(key: String, playlist: bool, config: &EgressConfig) -> Result<File, JobError> {
        let path = config.storage.local_path(&key)?;
        if let Some(why) = disk::short_of(&path, config.min_free_space) {
            return Err(JobError::Disk(why));
        }
        Ok(File {
            key,
            path,
            playlist,
        })
    }

    /// Its key once a player may open it: a file at once (it is downloaded
    /// when done), a playlist once it exists.
    pub fn ready(&self) -> Option<&str> {
        (!self.playlist || self.path.exists()).then_some(self.key.as_str())
    }

    /// Bytes written so far (every segment, for a playlist).
    pub fn written(&self) -> u64 {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        if !self.playlist {
            return size(&self.path);
        }
        self.path
            .parent()
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .map_or(0, |entries| {
                entries.flatten().map(|e| size(&e.path())).sum()
            })
    }
}

/// What a job made.
pub(super) struct Done {
    /// Media duration.
    pub duration: Duration,
    /// Bytes written.
    pub size: u64,
    /// Its file's storage key, if it wrote one.
    pub key: Option<String>,
}

/// Why a job failed, and the (playable) file it left, if any.
pub(super) struct Failed {
    /// Why.
    pub error: JobError,
    /// The storage key of what it left.
    pub file: Option<String>,
}

impl From<JobError> for Failed {
    fn from(error: JobError) -> Self {
        Failed { error, file: None }
    }
}

/// How a job ended.
pub(super) type Outcome = Result<Done, Failed>;

/// Joins `job`'s call as a hidden recorder that only receives.
pub(super) async fn join(job: &Job, config: &EgressConfig) -> Result<Joined, Failed> {
    let url = job.hosts.of(&job.call_cid).await;
    connect(job, config, url).await.map_err(Failed::from)
}

/// Joins `job`'s call at `url`.
async fn connect(job: &Job, config: &EgressConfig, url: String) -> Result<Joined, JobError> {
    tracing::info!(sfu = %url, "joining the call");
    let (client, media) = Client::connect_receiving(&url, &job.token(config)).await?;
    Ok((client, media, url))
}

/// The recorder at the node hosting the call, if it sees nobody where it
/// is and the registry names another node: it joined before anyone, at a
/// node the participants were not placed on, or everyone here left. A
/// hidden recorder makes no node host the call, so no relay would bring
/// them to it. Joined before the old session is left; `None` to stay.
async fn follow(job: &Job, config: &EgressConfig, client: &Client, at: &str) -> Option<Joined> {
    if !client.stats().participants.is_empty() {
        return None;
    }
    let url = job.hosts.of(&job.call_cid).await;
    if url == at {
        return None;
    }
    tracing::info!(egress = %job.id, from = %at, to = %url, "the call is on another SFU node: the recorder follows it");
    match connect(job, config, url).await {
        Ok(joined) => Some(joined),
        Err(e) => {
            tracing::debug!(egress = %job.id, error = %e, "joining where the call is failed");
            None
        }
    }
}

/// The recorder in the call again, if it lost its SFU node rather than
/// the call (a leave that is not a move means the call ended or it was
/// removed), and joins again within [`REJOIN_FOR`] at the node the
/// registry names now; `None` if not, or once `stop` fires. The tracks
/// the lost node carried are gone from `sink` (they come back under new
/// ids through the new node).
async fn rejoin<S: Sink>(
    job: &Job,
    config: &EgressConfig,
    lost: &Client,
    sink: &mut S,
    stop: &mut oneshot::Receiver<()>,
) -> Option<Joined> {
    let why = lost.closed().unwrap_or_default();
    if why.starts_with("leave:") && !why.ends_with("action RECONNECT") {
        tracing::info!(egress = %job.id, reason = %why, "the recorder left the call (call ended?)");
        return None;
    }
    tracing::warn!(egress = %job.id, reason = %why, "the recorder lost its SFU node: joining the call again");
    sink.moved(lost);
    let deadline = tokio::time::Instant::now() + REJOIN_FOR;
    while tokio::time::Instant::now() < deadline {
        let url = job.hosts.after_loss(&job.call_cid).await;
        match connect(job, config, url).await {
            Ok(joined) => return Some(joined),
            Err(e) => tracing::debug!(egress = %job.id, error = %e, "joining again failed"),
        }
        tokio::select! {
            _ = &mut *stop => return None,
            _ = tokio::time::sleep(REJOIN_EVERY) => {}
        }
    }
    tracing::warn!(egress = %job.id, "the call is on no SFU node the recorder can reach: the job ends");
    None
}

/// Leaves the call after a failed start.
pub(super) async fn abandon(client: Client, error: JobError) -> Failed {
    client.leave().await;
    error.into()
}

/// Feeds `sink` until `stop` fires, the call ends, the sink is done or it
/// fails; then finishes its output. Reports progress every `every`.
pub(super) async fn drive<S: Sink>(
    job: &Job,
    config: &EgressConfig,
    (mut client, mut media, mut at): Joined,
    mut sink: S,
    mut stop: oneshot::Receiver<()>,
    report: &Reporter,
    every: Duration,
) -> Outcome {
    let ready = |s: &S| s.file().and_then(File::ready).map(str::to_owned);
    let written = |s: &S| s.file().map_or(0, File::written);
    report
        .active(ready(&sink).as_deref(), 0, Duration::ZERO)
        .await;
    let mut tick = tokio::time::interval(every);
    let mut cpu = CpuCount::default();
    let failure = loop {
        tokio::select! {
            event = media.recv() => match event {
                Some(event) => match sink.take(event) {
                    Ok(Flow::Go) => {}
                    Ok(Flow::Done) => break None,
                    Err(e) => break Some(e),
                },
                None => match rejoin(job, config, &client, &mut sink, &mut stop).await {
                    Some((again, its_media, url)) => {
                        std::mem::replace(&mut client, again).abort();
                        (media, at) = (its_media, url);
                    }
                    None => break None,
                },
            },
            _ = &mut stop => break None,
            _ = tick.tick() => {
                match sink.tick(&client, &mut stop).await {
                    Ok(Flow::Go) => {}
                    Ok(Flow::Done) => break None,
                    Err(e) => break Some(e),
                }
                if let Err(e) = upkeep(job, config, sink.file()).await {
                    break Some(e);
                }
                if let Some((there, its_media, url)) = follow(job, config, &client, &at).await {
                    sink.moved(&client);
                    // Its leave must not hold up the media coming from the new node.
                    tokio::spawn(std::mem::replace(&mut client, there).leave());
                    (media, at) = (its_media, url);
                }
                cpu.add(sink.cpu(), report.kind());
                report.active(ready(&sink).as_deref(), written(&sink), sink.duration()).await;
            }
        }
    };
    client.leave().await;
    cpu.add(sink.cpu(), report.kind());
    tracing::info!(egress = %job.id, cpu_seconds = cpu.total.as_secs_f64(), "job's pipeline CPU time");
    let duration = sink.duration();
    report
        .ending(ready(&sink).as_deref(), written(&sink), duration)
        .await;
    let file = sink.file().cloned();
    let closed = tokio::task::spawn_blocking(move || sink.close())
        .await
        .unwrap_or_else(|e| Err(JobError::Finish(e.to_string())));
    match (failure, closed) {
        (None, Ok(written)) => Ok(Done {
            // A pipeline short of CPU wrote more than it had when stopped.
            duration: written.map_or(duration, |w| w.max(duration)),
            size: file.as_ref().map_or(0, File::written),
            key: file.map(|f| f.key),
        }),
        (Some(error), _) | (None, Err(error)) => Err(Failed {
            error,
            file: file.filter(|f| f.path.exists()).map(|f| f.key),
        }),
    }
}

/// A job's CPU time, summed over the pipelines it ran (a reconnected RTMP
/// push starts a new one), and added to the node's
/// `onair_egress_cpu_seconds` as it grows.
#[derive(Default)]
struct CpuCount {
    /// The current pipeline's last reading.
    last: Duration,
    total: Duration,
}

impl CpuCount {
    /// Takes a reading of the current pipeline.
    fn add(&mut self, reading: Duration, kind: &'static str) {
        // Less than before: a new pipeline, counted from 0.
        let new = reading.checked_sub(self.last).unwrap_or(reading);
        self.last = reading;
        self.total += new;
        metrics::gauge!("onair_egress_cpu_seconds", "kind" => kind).increment(new.as_secs_f64());
    }
}

/// Stops a job before its disk fills (below half the space a job needs to
/// start), and uploads the complete parts of a file (a failed upload is
/// retried on the next tick).
async fn upkeep(job: &Job, config: &EgressConfig, file: Option<&File>) -> Result<(), JobError> {
    let Some(file) = file else {
        return Ok(());
    };
    if let Some(why) = disk::short_of(&file.path, config.min_free_space / 2) {
        return Err(JobError::Disk(why));
    }
    if !file.playlist {
        if let Err(e) = config.storage.flush(&file.key).await {
            tracing::warn!(egress = %job.id, error = %e, "upload of a part failed; will retry");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playlist_is_ready_once_written_and_counts_its_segments() {
        let dir = tempfile::tempdir().unwrap();
        let key = "hls/c/EG_1/index.m3u8";
        let playlist = File {
            key: key.into(),
            path: dir.path().join("index.m3u8"),
            playlist: true,
        };
        assert_eq!(playlist.ready(), None, "no playlist yet");
        std::fs::write(dir.path().join("segment00000.ts"), [0u8; 100]).unwrap();
        std::fs::write(&playlist.path, "#EXTM3U\n").unwrap();
        assert_eq!(playlist.ready(), Some(key));
        assert_eq!(playlist.written(), 108, "the playlist and its segment");
        let recording = File {
            key: "recordings/c/EG_2.mp4".into(),
            path: dir.path().join("missing.mp4"),
            playlist: false,
        };
        assert_eq!(recording.ready(), Some("recordings/c/EG_2.mp4"));
        assert_eq!(recording.written(), 0);
    }
}
