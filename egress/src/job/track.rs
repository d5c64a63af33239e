//! A track recording: one published track into a file as it arrives, not
//! transcoded. The track's first frame (a keyframe, for video) tells its
//! codec, and so the file's format; the job ends with the track.

use std::time::Duration;

use onair_client::{Client, Codec, MediaEvent};
use onair_pipeline::Running;
use tokio::sync::oneshot;

use super::runner::{self, File, Flow, Media, Outcome, Sink, FINISH_TIMEOUT, PROGRESS_INTERVAL};
use super::{Job, JobError};
use crate::pipelines::track::{self, TrackFile};
use crate::report::Reporter;
use crate::EgressConfig;

/// How long a track recording waits for its track's first frame.
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
            job_id: job.id.clone(),
            file,
            pipeline,
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
                        if f.track_sid == sid && (f.keyframe || f.codec == Codec::Opus) =>
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
    sid: String,
    job_id: String,
    file: File,
    pipeline: TrackFile,
}

impl Sink for TrackSink {
    fn take(&mut self, event: MediaEvent) -> Result<Flow, JobError> {
        match event {
            MediaEvent::Frame(frame) if frame.track_sid == self.sid => {
                self.pipeline.push(&frame)?;
            }
            MediaEvent::TrackGone { track_sid } if track_sid == self.sid => {
                tracing::info!(egress = %self.job_id, "the recorded track ended");
                return Ok(Flow::Done);
            }
            _ => {}
        }
        Ok(Flow::Go)
    }

    async fn tick(
        &mut self,
        _client: &Client,
        _stop: &mut oneshot::Receiver<()>,
    ) -> Result<Flow, JobError> {
        match self.pipeline.error() {
            Some(e) => Err(JobError::Output(e)),
            None => Ok(Flow::Go),
        }
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

    fn close(self) -> Result<(), JobError> {
        Ok(self.pipeline.finish(FINISH_TIMEOUT)?)
    }
}
