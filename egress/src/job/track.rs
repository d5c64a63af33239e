//! A track recording: one published track into a file as it arrives, not
//! transcoded. The track's first frame (a keyframe, for video) tells its
//! codec, and so the file's format; the job ends with the track. A
//! recorder that moves to another SFU node (the track's node was lost)
//! takes the track again when its publisher publishes it there: the
//! publisher's track from the same source, from its next keyframe.

use std::time::{Duration, Instant};

use onair_client::{Client, Codec, MediaEvent, RemoteFrame, Source};
use onair_pipeline::Running;
use tokio::sync::oneshot;

use super::runner::{self, File, Flow, Media, Outcome, Sink, FINISH_TIMEOUT, PROGRESS_INTERVAL};
use super::{Job, JobError};
use crate::pipelines::track::{self, TrackFile};
use crate::report::Reporter;
use crate::EgressConfig;

/// How long a track recording waits for its track's first frame, and
/// for the track again after the recorder moved.
const TRACK_WAIT: Duration = Duration::from_secs(20);

/// Records track `sid` of `job`'s call until the track ends or `stop` fires.
pub(super) async fn record(
    job: &Job,
    sid: &str,
    config: &EgressConfig,
    mut stop: oneshot::Receiver<()>,
    report: &Reporter,
) -> Outcome {
    let (client, mut media, at) = runner::join(job, config).await?;
    let first = match first_frame(sid, &mut media, &mut stop).await {
        Ok(first) => first,
        Err(e) => return Err(runner::abandon(client, e).await),
    };
    let key = format!(
        "recordings/{}/{}.{}",
        job.call_dir(),
        job.file_name(),
        track::extension(first.codec)
    );
    let started = File::new(key, false, config).and_then(|file| {
        let pipeline = TrackFile::start(&first, &file.path)?;
        Ok(TrackSink {
            sid: sid.to_owned(),
            publisher: first.identity.clone(),
            source: client.stats().sources.get(sid).copied(),
            codec: first.codec,
            job_id: job.id.clone(),
            file,
            pipeline,
            state: Following::Here,
        })
    });
    let sink = match started {
        Ok(sink) => sink,
        Err(e) => return Err(runner::abandon(client, e).await),
    };
    runner::drive(
        job,
        config,
        (client, media, at),
        sink,
        stop,
        report,
        PROGRESS_INTERVAL,
    )
    .await
}

/// The track's first whole frame: a keyframe for video, any for audio.
async fn first_frame(
    sid: &str,
    media: &mut Media,
    stop: &mut oneshot::Receiver<()>,
) -> Result<onair_client::RemoteFrame, JobError> {
    let no_track = || JobError::NoTrack(sid.to_owned());
    let wait = async {
        loop {
            tokio::select! {
                event = media.recv() => match event.ok_or_else(no_track)? {
                    MediaEvent::Frame(f)
                        if f.track_sid == sid && f.starts_decoding() =>
                    {
                        return Ok(f)
                    }
                    MediaEvent::Encrypted { track_sid } if track_sid == sid => {
                        return Err(JobError::Encrypted(track_sid))
                    }
                    _ => {}
                },
                _ = &mut *stop => return Err(no_track()),
            }
        }
    };
    tokio::time::timeout(TRACK_WAIT, wait)
        .await
        .unwrap_or_else(|_| Err(no_track()))
}

/// One track's frames into its file.
struct TrackSink {
    /// The track recorded: its sid now, its publisher, source and codec.
    sid: String,
    publisher: String,
    source: Option<Source>,
    codec: Codec,
    job_id: String,
    file: File,
    pipeline: TrackFile,
    state: Following,
}

/// Where the recorded track is, for a recorder that may move.
#[derive(Clone, Copy)]
enum Following {
    /// Under `sid`, written as it comes.
    Here,
    /// Gone with the recorder's old session; awaited since then.
    Awaited(Instant),
    /// Back under `sid`: its first keyframe starts a new run of the
    /// file's clock.
    Back,
}

impl TrackSink {
    /// The sid under which the track is back in `client`'s session: its
    /// publisher's track from the same source and of the same kind.
    fn back_in(&self, client: &Client) -> Option<String> {
        let s = client.stats();
        let video = self.codec != Codec::Opus;
        let same = |sid: &String| {
            s.sources.get(sid) == self.source.as_ref() && s.video.contains(sid) == video
        };
        (s.published.iter())
            .find(|(sid, who)| **who == self.publisher && same(sid))
            .map(|(sid, _)| sid.clone())
    }

    /// Writes `frame` of the track; once back after a move, from its first
    /// keyframe, if still of the file's codec.
    fn write(&mut self, frame: &RemoteFrame) -> Result<Flow, JobError> {
        if let Following::Back = self.state {
            if !frame.starts_decoding() {
                return Ok(Flow::Go);
            }
            if frame.codec != self.codec {
                tracing::warn!(egress = %self.job_id, codec = ?frame.codec, "the track came back in another codec: the recording ends");
                return Ok(Flow::Done);
            }
            self.state = Following::Here;
            self.pipeline.resume();
        }
        self.pipeline.push(frame)?;
        Ok(Flow::Go)
    }
}

impl Sink for TrackSink {
    fn take(&mut self, event: MediaEvent) -> Result<Flow, JobError> {
        match event {
            MediaEvent::Frame(frame) if frame.track_sid == self.sid => return self.write(&frame),
            MediaEvent::TrackGone { track_sid } if track_sid == self.sid => {
                tracing::info!(egress = %self.job_id, "the recorded track ended");
                return Ok(Flow::Done);
            }
            _ => {}
        }
        Ok(Flow::Go)
    }

    /// The track ends with its session unless it comes back through the
    /// new one within [`TRACK_WAIT`]: its publisher lost the node too, and
    /// publishes it again (under a new sid) where it is placed now; each
    /// tick looks for it.
    fn moved(&mut self, _old: &Client) {
        tracing::info!(egress = %self.job_id, publisher = %self.publisher, "the recorder moved: awaiting the track again");
        self.state = Following::Awaited(Instant::now());
    }

    async fn tick(
        &mut self,
        client: &Client,
        _stop: &mut oneshot::Receiver<()>,
    ) -> Result<Flow, JobError> {
        if let Some(e) = self.pipeline.error() {
            return Err(JobError::Output(e));
        }
        let since = match self.state {
            Following::Awaited(since) => since,
            Following::Here if self.pipeline.skipping() => {
                client.request_keyframe(&self.sid);
                return Ok(Flow::Go);
            }
            Following::Here | Following::Back => return Ok(Flow::Go),
        };
        if let Some(sid) = self.back_in(client) {
            tracing::info!(egress = %self.job_id, track = %sid, "the recorded track is back");
            if self.codec != Codec::Opus {
                client.request_keyframe(&sid);
            }
            (self.sid, self.state) = (sid, Following::Back);
        } else if since.elapsed() > TRACK_WAIT {
            tracing::info!(egress = %self.job_id, "the recorded track did not come back");
            return Ok(Flow::Done);
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
        Some(&self.file)
    }

    fn close(self) -> Result<Option<Duration>, JobError> {
        Ok(Some(self.pipeline.finish(FINISH_TIMEOUT)?))
    }
}
