//! GStreamer transcoders for ingest: AAC → Opus (WebRTC has no AAC), and
//! H.264 with B-frames → H.264 without (WebRTC decoders expect none). Each
//! takes compressed frames with their timestamps and hands compressed
//! frames back on a channel, timestamped on the same timeline; nothing is
//! buffered beyond what the decoder needs to reorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use tokio::sync::mpsc;

use crate::pipeline::{self, PipelineError};

/// Raw video to constrained-baseline H.264 in Annex-B access units.
const ENCODE_H264: &str = "videoconvert \
    ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2500 key-int-max=60 \
    ! video/x-h264,profile=constrained-baseline \
    ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au";

/// Raw audio to 48 kHz stereo Opus in 20 ms packets.
const ENCODE_OPUS: &str = "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
    ! opusenc frame-size=20 bitrate=96000 audio-type=generic";

/// A transcoded frame: its bytes and presentation time.
pub type Output = (Vec<u8>, Duration);

/// One running transcoder.
pub struct Transcoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    times: Arc<Mutex<Times>>,
}

/// Encoders shift timestamps (x264enc leaves room for B-frames' decoding
/// times, opusenc for its lookahead): the first frame out is put back on
/// the first frame in, and the others follow it.
#[derive(Default)]
struct Times {
    first_in: Option<Duration>,
    first_out: Option<Duration>,
    last_out: Option<Duration>,
}

impl Transcoder {
    /// AAC (raw frames; `config` is the `AudioSpecificConfig`) to 48 kHz
    /// stereo Opus in 20 ms packets.
    pub fn aac_to_opus(
        config: &[u8],
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("codec_data", gst::Buffer::from_slice(config.to_vec()))
            .build();
        Self::start(caps, &format!("aacparse ! avdec_aac ! {ENCODE_OPUS}"), out)
    }

    /// Video in any codec FLV carries that GStreamer decodes (Sorenson
    /// H.263, VP6…), fed as an FLV stream ([`super::flv::header`], then
    /// tags), to constrained-baseline H.264.
    pub fn flv_video_to_baseline(
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-flv").build();
        Self::start(caps, &format!("flvdemux ! decodebin ! {ENCODE_H264}"), out)
    }

    /// Audio in any codec FLV carries that GStreamer decodes (MP3, Speex…),
    /// fed as an FLV stream, to Opus.
    pub fn flv_audio_to_opus(
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-flv").build();
        Self::start(caps, &format!("flvdemux ! decodebin ! {ENCODE_OPUS}"), out)
    }

    /// H.264 (AVC, `config` is the `AVCDecoderConfigurationRecord`) to
    /// constrained-baseline H.264 in Annex-B access units.
    pub fn h264_to_baseline(
        config: &[u8],
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(config.to_vec()))
            .build();
        Self::start(
            caps,
            &format!("h264parse ! avdec_h264 ! {ENCODE_H264}"),
            out,
        )
    }

    fn start(
        caps: gst::Caps,
        chain: &str,
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        let description = format!("appsrc name=src ! {chain} ! appsink name=sink sync=false");
        let pipeline = gst::parse::launch(&description)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| PipelineError("not a pipeline".into()))?;
        let element = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| PipelineError(format!("no element `{name}`")))
        };
        let src = element("src")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| PipelineError("`src` is not an appsrc".into()))?;
        src.set_caps(Some(&caps));
        src.set_format(gst::Format::Time);
        // Not live: buffers keep the times they come with (a live source
        // would put them on the pipeline clock).
        src.set_is_live(false);
        src.set_max_bytes(4 << 20);
        src.set_property("block", false);
        let times = Arc::new(Mutex::new(Times::default()));
        let shared = times.clone();
        let sink = element("sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| PipelineError("`sink` is not an appsink".into()))?;
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    // A buffer without a time (none is expected) goes out with the last one's.
                    let raw = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
                    let pts = {
                        let mut t = shared.lock().unwrap_or_else(|e| e.into_inner());
                        let raw = raw.or(t.last_out).unwrap_or_default();
                        t.last_out = Some(raw);
                        let first_out = *t.first_out.get_or_insert(raw);
                        t.first_in.unwrap_or_default() + raw.saturating_sub(first_out)
                    };
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    out.send((map.to_vec(), pts))
                        .map_err(|_| gst::FlowError::Flushing)?;
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing)?;
        Ok(Transcoder {
            pipeline,
            src,
            times,
        })
    }

    /// Feeds one frame: presentation and decoding time on the stream's timeline.
    pub fn push(&self, data: &[u8], pts: Duration, dts: Duration) -> Result<(), PipelineError> {
        if let Some(e) = pipeline::error(&self.pipeline) {
            return Err(PipelineError(e));
        }
        self.times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_in
            .get_or_insert(pts);
        let mut buffer = gst::Buffer::from_slice(data.to_vec());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts.as_nanos() as u64));
            b.set_dts(gst::ClockTime::from_nseconds(dts.as_nanos() as u64));
        }
        // A full queue (a stalled decoder) drops the frame.
        if let Err(e) = self.src.push_buffer(buffer) {
            tracing::debug!(error = ?e, "frame not taken by the transcoder");
        }
        Ok(())
    }
}

impl Drop for Transcoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
