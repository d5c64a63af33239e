//! GStreamer transcoders for ingest: AAC → Opus (WebRTC has no AAC), and
//! H.264 with B-frames (or another codec) → H.264 without (WebRTC decoders
//! expect none), in simulcast layers so viewers on small screens or poor
//! networks get a smaller one. Each takes compressed frames with their
//! timestamps and hands compressed frames back on a channel, timestamped on
//! the same timeline; nothing is buffered beyond what the decoder needs to
//! reorder.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use tokio::sync::mpsc;

use onair_pipeline::{self as pipeline, CpuMeter, Feed, PipelineError, Running};

/// Raw audio to 48 kHz stereo Opus in 20 ms packets.
const ENCODE_OPUS: &str = "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
    ! opusenc frame-size=20 bitrate=96000 audio-type=generic";

/// A transcoded frame: its layer (0 for audio and single-layer video), its
/// bytes and presentation time.
pub type Output = (usize, Vec<u8>, Duration);

/// One simulcast layer of transcoded video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Its RTP stream id (`q`, `h`, `f`).
    pub rid: &'static str,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// H.264 bitrate, kbit/s.
    pub kbps: u32,
}

/// The layers a `width`x`height` source is transcoded to, smallest first:
/// the source (at most 1280x720), half and quarter of it, as far as they
/// stay at least 180 px tall — like LiveKit's default presets.
pub fn layers(width: u32, height: u32) -> Vec<Layer> {
    let (w, h) = (width.max(2) as f64, height.max(2) as f64);
    let fit = (1280.0 / w).min(720.0 / h).min(1.0);
    let even = |x: f64| ((x / 2.0).round() as u32).max(1) * 2;
    let (top_w, top_h) = (w * fit, h * fit);
    let mut out = Vec::new();
    for (rid, scale) in [("q", 0.25), ("h", 0.5), ("f", 1.0)] {
        let (lw, lh) = (even(top_w * scale), even(top_h * scale));
        if lh < 180 && scale < 1.0 {
            continue;
        }
        // About 2.5 Mbit/s for 720p, in proportion to the pixels.
        let kbps = ((f64::from(lw * lh) / (1280.0 * 720.0)) * 2500.0).max(150.0) as u32;
        out.push(Layer {
            rid,
            width: lw,
            height: lh,
            kbps,
        });
    }
    out
}

/// Raw video to one constrained-baseline H.264 stream in Annex-B access
/// units per layer, into `appsink`s `sink0`, `sink1`…
fn encode_h264(layers: &[Layer]) -> String {
    let mut graph = String::from("videoconvert ! tee name=layers");
    for (i, l) in layers.iter().enumerate() {
        graph += &format!(
            " layers. ! queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 \
              ! videoscale ! video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1 \
              ! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max=60 \
              ! video/x-h264,profile=constrained-baseline \
              ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au \
              ! appsink name=sink{i} sync=false",
            w = l.width,
            h = l.height,
            kbps = l.kbps,
        );
    }
    graph
}

/// One running transcoder.
pub struct Transcoder {
    pipeline: gst::Pipeline,
    meter: CpuMeter,
    feed: Feed,
    times: Arc<Mutex<Times>>,
    /// CPU time already added to `onair_ingest_cpu_seconds`, and when.
    counted: Mutex<(Instant, Duration)>,
}

/// How often a transcoder adds its CPU time to the node's metric.
const CPU_COUNT_INTERVAL: Duration = Duration::from_secs(1);

/// Encoders shift timestamps (x264enc leaves room for B-frames' decoding
/// times, opusenc for its lookahead): the first frame out is put back on
/// the first frame in, and the others follow it.
#[derive(Default)]
struct Times {
    first_in: Option<Duration>,
    /// Per output: its first and its last frame's time.
    outs: Vec<(Option<Duration>, Option<Duration>)>,
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
        Self::start(
            caps,
            &format!("aacparse ! avdec_aac ! {ENCODE_OPUS} ! appsink name=sink0 sync=false"),
            1,
            out,
        )
    }

    /// Video in any codec FLV carries that GStreamer decodes (Sorenson
    /// H.263, VP6…), fed as an FLV stream ([`super::flv::header`], then
    /// tags), to constrained-baseline H.264 in `layers`.
    pub fn flv_video_to_baseline(
        layers: &[Layer],
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-flv").build();
        let graph = format!("flvdemux ! decodebin ! {}", encode_h264(layers));
        Self::start(caps, &graph, layers.len(), out)
    }

    /// Audio in any codec FLV carries that GStreamer decodes (MP3, Speex…),
    /// fed as an FLV stream, to Opus.
    pub fn flv_audio_to_opus(
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-flv").build();
        let graph = format!("flvdemux ! decodebin ! {ENCODE_OPUS} ! appsink name=sink0 sync=false");
        Self::start(caps, &graph, 1, out)
    }

    /// H.264 (AVC, `config` is the `AVCDecoderConfigurationRecord`) to
    /// constrained-baseline H.264 in `layers`.
    pub fn h264_to_baseline(
        config: &[u8],
        layers: &[Layer],
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        gst::init()?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(config.to_vec()))
            .build();
        let graph = format!("h264parse ! avdec_h264 ! {}", encode_h264(layers));
        Self::start(caps, &graph, layers.len(), out)
    }

    /// Runs `appsrc ! {graph}`, where `graph` ends in `outputs` appsinks
    /// named `sink0`, `sink1`…
    fn start(
        caps: gst::Caps,
        graph: &str,
        outputs: usize,
        out: mpsc::UnboundedSender<Output>,
    ) -> Result<Transcoder, PipelineError> {
        let description = format!("appsrc name=src ! {graph}");
        let pipeline = pipeline::launch(&description)?;
        let element = |name: &str| pipeline::element(&pipeline, name);
        let src = pipeline::app_src(&pipeline, "src")?;
        src.set_caps(Some(&caps));
        src.set_format(gst::Format::Time);
        // Not live: buffers keep the times they come with (a live source
        // would put them on the pipeline clock).
        src.set_is_live(false);
        src.set_max_bytes(4 << 20);
        src.set_property("block", false);
        let times = Arc::new(Mutex::new(Times {
            first_in: None,
            outs: vec![(None, None); outputs],
        }));
        for index in 0..outputs {
            let sink = element(&format!("sink{index}"))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| PipelineError("not an appsink".into()))?;
            let (times, out) = (times.clone(), out.clone());
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let Some(buffer) = sample.buffer() else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let raw = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
                        let pts = {
                            let mut t = times.lock().unwrap_or_else(|e| e.into_inner());
                            let first_in = t.first_in.unwrap_or_default();
                            let (first, last) = &mut t.outs[index];
                            // A buffer without a time (none is expected) goes
                            // out with the last one's.
                            let raw = raw.or(*last).unwrap_or_default();
                            *last = Some(raw);
                            first_in + raw.saturating_sub(*first.get_or_insert(raw))
                        };
                        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                        out.send((index, map.to_vec(), pts))
                            .map_err(|_| gst::FlowError::Flushing)?;
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        let meter = CpuMeter::watch(&pipeline);
        pipeline.set_state(gst::State::Playing)?;
        Ok(Transcoder {
            pipeline,
            meter,
            feed: Feed::new(src, false),
            times,
            counted: Mutex::new((Instant::now(), Duration::ZERO)),
        })
    }

    /// Feeds one frame: presentation and decoding time on the stream's
    /// timeline; `keyframe` if decoding can start from it (any audio frame).
    pub fn push(
        &self,
        data: &[u8],
        pts: Duration,
        dts: Duration,
        keyframe: bool,
    ) -> Result<(), PipelineError> {
        if let Some(e) = self.error() {
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
        self.count_cpu(false);
        // A publisher faster than the transcoder: its frames are dropped
        // (to the next keyframe) rather than queued without end.
        if let Err(e) = self.feed.push(buffer, keyframe) {
            tracing::debug!(error = ?e, "frame not taken by the transcoder");
        }
        Ok(())
    }
}

impl Transcoder {
    /// Adds the CPU time used since the last count to the node's metric,
    /// at most once per [`CPU_COUNT_INTERVAL`] unless `last`.
    fn count_cpu(&self, last: bool) {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        if !last && counted.0.elapsed() < CPU_COUNT_INTERVAL {
            return;
        }
        let used = self.cpu();
        let new = used.saturating_sub(counted.1);
        metrics::gauge!("onair_ingest_cpu_seconds").increment(new.as_secs_f64());
        *counted = (Instant::now(), used);
    }
}

impl Running for Transcoder {
    fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    fn meter(&self) -> &CpuMeter {
        &self.meter
    }
}

impl Drop for Transcoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        self.count_cpu(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_source_size() {
        let sizes = |w, h| {
            layers(w, h)
                .iter()
                .map(|l| (l.rid, l.width, l.height))
                .collect::<Vec<_>>()
        };
        let hd = [("q", 320, 180), ("h", 640, 360), ("f", 1280, 720)];
        assert_eq!(sizes(1920, 1080), hd);
        assert_eq!(sizes(1280, 720), hd);
        assert_eq!(sizes(640, 360), [("h", 320, 180), ("f", 640, 360)]);
        assert_eq!(
            sizes(1080, 1920),
            [("q", 102, 180), ("h", 202, 360), ("f", 406, 720)]
        );
        assert_eq!(sizes(100, 50), [("f", 100, 50)]);
        // The bitrate follows the pixels, with a floor.
        let kbps: Vec<u32> = layers(1280, 720).iter().map(|l| l.kbps).collect();
        assert_eq!(kbps, [156, 625, 2500]);
        assert_eq!(layers(160, 90)[0].kbps, 150);
    }
}
