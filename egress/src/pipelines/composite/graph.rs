//! The composite pipeline's fixed part, in `gst-launch` form: the mixers,
//! the encoders and the output (the inputs are added as tracks come), and
//! pointing its sink where the output goes.

use gst::prelude::*;
use gstreamer as gst;
use onair_pipeline::{self as pipeline, PipelineError};

use super::{Canvas, Output, VideoMode, MAX_BEHIND, MAX_QUEUED};

/// Composed frames waiting for the encoder, on its own thread, before
/// the oldest are dropped: an encoder short of CPU then writes fewer
/// frames per second instead of holding the mixer (and the live inputs)
/// back, and the recording keeps to the clock.
const RAW_FRAMES: u32 = 8;

/// The composite pipeline, in `gst-launch` form, for `output` in `mode`.
pub(super) fn describe(canvas: Canvas, output: &Output, mode: VideoMode) -> String {
    let (w, h, fps) = (canvas.width, canvas.height, canvas.fps);
    // Keyframes every segment (HLS) or every two seconds (recording).
    let (sink, video_pad, audio_pad, gop) = match output {
        Output::Mp4(_) => (
            "mp4mux name=mux fragment-duration=1000 streamable=true ! filesink name=out",
            "mux.",
            "mux.",
            fps * 2,
        ),
        Output::Hls {
            segment_seconds, ..
        } => (
            "hlssink2 name=hls",
            "hls.video",
            "hls.audio",
            fps * *segment_seconds as i32,
        ),
        Output::Rtmp(_) => (
            "flvmux name=mux streamable=true ! rtmp2sink name=out",
            "mux.video",
            "mux.audio",
            fps * 2,
        ),
    };
    let video = match mode {
            VideoMode::Mix => format!(
                "compositor name=mix background=black \
                   ! video/x-raw,width={w},height={h},framerate={fps}/1,pixel-aspect-ratio=1/1 \
                   ! queue leaky=downstream max-size-buffers={RAW_FRAMES} max-size-bytes=0 max-size-time=0 \
                   ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast bitrate={kbps} key-int-max={gop} \
                   ! h264parse config-interval=-1 ! queue name=video_out ! {video_pad} \
                 videotestsrc is-live=true pattern=black \
                   ! video/x-raw,width={w},height={h},framerate={fps}/1 ! mix.",
                kbps = canvas.video_kbps,
            ),
            VideoMode::Passthrough => format!(
                "appsrc name=video is-live=true format=time block=false max-bytes={MAX_QUEUED} \
                   min-latency=0 max-latency={max_latency} \
                   caps=video/x-h264,stream-format=byte-stream,alignment=au \
                   ! h264parse config-interval=-1 ! queue name=video_out ! {video_pad}",
                max_latency = MAX_BEHIND.nseconds(),
            ),
        };
    format!(
        "{video} \
             audiomixer name=amix ! audio/x-raw,rate=48000,channels=2 ! audioconvert \
               ! avenc_aac bitrate=128000 ! aacparse ! queue name=audio_out ! {audio_pad} \
             {sink} \
             audiotestsrc is-live=true wave=silence ! audio/x-raw,rate=48000,channels=2 ! amix."
    )
}

/// Tells the pipeline's sink where `output` goes.
pub(super) fn point_at(pipeline: &gst::Pipeline, output: &Output) -> Result<(), PipelineError> {
    let by_name = |name: &str| pipeline::element(pipeline, name);
    match output {
        Output::Mp4(path) => {
            by_name("out")?.set_property("location", path.to_string_lossy().as_ref());
        }
        Output::Hls {
            dir,
            segment_seconds,
            window,
            keep,
        } => {
            let hls = by_name("hls")?;
            let segments = dir.join("segment%05d.ts");
            hls.set_property("location", segments.to_string_lossy().as_ref());
            let playlist = dir.join("index.m3u8");
            hls.set_property("playlist-location", playlist.to_string_lossy().as_ref());
            hls.set_property("target-duration", *segment_seconds);
            hls.set_property("playlist-length", *window);
            // Keep a few segments beyond the window for players still
            // on them (0: keep all).
            hls.set_property("max-files", if *keep { 0 } else { *window + 4 });
        }
        Output::Rtmp(url) => by_name("out")?.set_property("location", url.as_str()),
    }
    Ok(())
}
