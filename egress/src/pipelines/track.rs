//! A track recording: one published track written as it arrives, without
//! transcoding — VP8 and Opus into WebM, H.264 into (fragmented) MP4.
//! Timestamps are the track's RTP media time from its first frame.

use std::path::Path;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use onair_client::files::vp8_size;
use onair_client::{Codec, RemoteFrame};

use onair_pipeline::{self as pipeline, CpuMeter, PipelineError, Running};

/// A running track recording.
pub struct TrackFile {
    pipeline: gst::Pipeline,
    meter: CpuMeter,
    src: gst_app::AppSrc,
    /// Media time of the first frame.
    first: Option<f64>,
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
            src,
            first: None,
        };
        file.push(first)?;
        Ok(file)
    }

    /// Writes one frame of the track.
    pub fn push(&mut self, frame: &RemoteFrame) -> Result<(), PipelineError> {
        let first = *self.first.get_or_insert(frame.media_time);
        let offset = frame.media_time - first;
        if offset < 0.0 {
            return Ok(()); // reordered before the first frame
        }
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds((offset * 1e9) as u64));
            if !frame.keyframe && frame.codec != Codec::Opus {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.src
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| PipelineError(format!("the file stopped taking frames: {e:?}")))
    }
}
