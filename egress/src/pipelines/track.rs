//! A track recording: one published track written as it arrives, without
//! transcoding — VP8 and Opus into WebM, H.264 into (fragmented) MP4.
//! Timestamps are the track's RTP media time from its first frame; a track
//! that goes on under a new source ([`TrackFile::resume`]) goes on after
//! the last frame, by the wall-clock gap.

use std::path::Path;
use std::time::Instant;

use gst::prelude::*;
use gstreamer as gst;
use onair_client::files::vp8_size;
use onair_client::{Codec, RemoteFrame};

use onair_pipeline::{self as pipeline, CpuMeter, Feed, PipelineError, Running};

/// A running track recording.
pub struct TrackFile {
    pipeline: gst::Pipeline,
    meter: CpuMeter,
    feed: Feed,
    clock: FileClock,
}

/// Places frames in the file: by media time from the first frame of a
/// run, a run after the one before by the wall-clock gap between them.
#[derive(Default)]
struct FileClock {
    /// The current run: its first frame's media time, and the file time
    /// that frame is written at.
    run: Option<(f64, f64)>,
    /// The last frame placed: its file time and arrival.
    last: Option<(f64, Instant)>,
}

impl FileClock {
    /// The file time of a frame of `media_time` that arrived at `arrival`;
    /// `None` for one reordered before its run's first frame.
    fn place(&mut self, media_time: f64, arrival: Instant) -> Option<f64> {
        let last = self.last;
        let (first, start) = *self.run.get_or_insert_with(|| {
            let gap =
                |(t, at): (f64, Instant)| t + arrival.saturating_duration_since(at).as_secs_f64();
            (media_time, last.map_or(0.0, gap))
        });
        if media_time < first {
            return None;
        }
        let at = start + media_time - first;
        self.last = Some((at, arrival));
        Some(at)
    }

    /// The next frame starts a new run.
    fn resume(&mut self) {
        self.run = None;
    }
}

/// The file extension a track of `codec` is written with.
pub fn extension(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "mp4",
        Codec::Vp8 | Codec::Opus => "webm",
    }
}

/// Stopped when dropped, finished or not (see [`Composite`](crate::composite::Composite)).
impl Drop for TrackFile {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Running for TrackFile {
    fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    fn meter(&self) -> &CpuMeter {
        &self.meter
    }
}

impl TrackFile {
    /// Starts writing the track whose first frame is `first` into `out`.
    /// A video track starts at a keyframe (the caller waits for one).
    pub fn start(first: &RemoteFrame, out: &Path) -> Result<TrackFile, PipelineError> {
        gst::init()?;
        let (caps, chain) = match first.codec {
            Codec::Vp8 => {
                let (w, h) = vp8_size(&first.data)
                    .ok_or_else(|| PipelineError("a VP8 track must start at a keyframe".into()))?;
                (
                    format!("video/x-vp8,width={w},height={h},framerate=0/1"),
                    "webmmux",
                )
            }
            Codec::H264 => (
                "video/x-h264,stream-format=byte-stream,alignment=au".to_owned(),
                "h264parse ! mp4mux fragment-duration=1000 streamable=true",
            ),
            Codec::Opus => (
                "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000".to_owned(),
                // opusparse writes the Opus header WebM needs (RTP has none).
                "opusparse ! webmmux",
            ),
        };
        let pipeline = pipeline::launch(&format!(
            "appsrc name=src format=time ! {chain} ! filesink name=out"
        ))?;
        let src = pipeline::app_src(&pipeline, "src")?;
        let caps = caps
            .parse::<gst::Caps>()
            .map_err(|e| PipelineError(e.to_string()))?;
        src.set_caps(Some(&caps));
        src.set_max_bytes(4 << 20);
        pipeline
            .by_name("out")
            .ok_or_else(|| PipelineError("no filesink".into()))?
            .set_property("location", out.to_string_lossy().as_ref());
        let meter = CpuMeter::watch(&pipeline);
        pipeline.set_state(gst::State::Playing)?;
        let mut file = TrackFile {
            pipeline,
            meter,
            feed: Feed::new(src, false),
            clock: FileClock::default(),
        };
        file.push(first)?;
        Ok(file)
    }

    /// The track goes on from another source (its publisher published it
    /// again, with its own media clock): the next frame, a keyframe for
    /// video, starts a new run.
    pub fn resume(&mut self) {
        self.clock.resume();
    }

    /// Writes one frame of the track.
    pub fn push(&mut self, frame: &RemoteFrame) -> Result<(), PipelineError> {
        let Some(offset) = self.clock.place(frame.media_time, frame.arrival) else {
            return Ok(()); // reordered before the run's first frame
        };
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds((offset * 1e9) as u64));
            if !frame.keyframe && frame.codec != Codec::Opus {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        // A file that cannot keep up (a stalled disk) skips to a keyframe.
        self.feed
            .push(buffer, frame.starts_decoding())
            .map(|_| ())
            .map_err(|e| PipelineError(format!("the file stopped taking frames: {e:?}")))
    }

    /// Whether frames are dropped until the next keyframe (ask for one).
    pub fn skipping(&self) -> bool {
        self.feed.skipping()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_resumed_track_goes_on_after_the_gap_in_wall_clock_time() {
        let (mut clock, t0) = (FileClock::default(), Instant::now());
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(clock.place(512.0, ms(0)), Some(0.0));
        assert_eq!(clock.place(513.0, ms(1000)), Some(1.0));
        assert_eq!(clock.place(511.0, ms(1010)), None, "before the first frame");
        // Published again with another media clock, 2 s after the last frame.
        clock.resume();
        assert_eq!(clock.place(7.0, ms(3000)), Some(3.0));
        assert_eq!(clock.place(7.5, ms(3500)), Some(3.5));
        assert_eq!(clock.place(6.0, ms(3600)), None);
    }
}
