//! Why this exists: GStreamer's base parser (1.22, under load) now and then
//! sends a buffer with no PTS, and a muxer that gets one fails the whole
//! output ("Could not multiplex stream": mp4mux's "Buffer has no PTS"). A
//! recording must not end over one frame's missing timestamp, so every
//! parser's output is checked: a buffer without a PTS takes the last PTS
//! that parser sent (the same instant, as LiveKit's egress does), and one
//! before any timestamp is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use gstreamer as gst;

/// No PTS seen yet.
const NONE: u64 = u64::MAX;

/// Guards the output of every parser in `pipeline` (see the module doc).
pub(crate) fn guard_parsers(pipeline: &gst::Pipeline) {
    for element in pipeline.iterate_recurse().into_iter().flatten() {
        let parser = element
            .factory()
            .is_some_and(|f| f.name().ends_with("parse"));
        if let (true, Some(pad)) = (parser, element.static_pad("src")) {
            guard(&pad);
        }
    }
}

/// Stamps or drops `pad`'s buffers that have no PTS.
fn guard(pad: &gst::Pad) {
    let last = AtomicU64::new(NONE);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(pts) = buffer.pts() {
            last.store(pts.nseconds(), Ordering::Relaxed);
            return gst::PadProbeReturn::Ok;
        }
        let element = pad
            .parent()
            .map(|p| p.name().to_string())
            .unwrap_or_default();
        match last.load(Ordering::Relaxed) {
            NONE => {
                tracing::warn!(element, "dropped a parsed buffer with no timestamp");
                gst::PadProbeReturn::Drop
            }
            pts => {
                tracing::warn!(
                    element,
                    "a parsed buffer had no timestamp; gave it the last one"
                );
                buffer
                    .make_mut()
                    .set_pts(gst::ClockTime::from_nseconds(pts));
                gst::PadProbeReturn::Ok
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstreamer_app as gst_app;

    /// Pushes buffers with these PTS (ms) through a guarded element and
    /// returns the PTS (ms) that come out.
    fn through_guard(pts: &[Option<u64>]) -> Vec<Option<u64>> {
        gst::init().unwrap();
        let pipeline = crate::launch(
            "appsrc name=src format=time caps=application/x-test ! identity name=id \
             ! appsink name=sink sync=false",
        )
        .unwrap();
        guard(
            &crate::element(&pipeline, "id")
                .unwrap()
                .static_pad("src")
                .unwrap(),
        );
        let src = crate::app_src(&pipeline, "src").unwrap();
        let sink = crate::element(&pipeline, "sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        for pts in pts {
            let mut buffer = gst::Buffer::from_slice([0u8; 4]);
            buffer
                .get_mut()
                .unwrap()
                .set_pts(pts.map(gst::ClockTime::from_mseconds));
            src.push_buffer(buffer).unwrap();
        }
        src.end_of_stream().unwrap();
        let mut out = Vec::new();
        while let Ok(sample) = sink.pull_sample() {
            out.push(sample.buffer().and_then(|b| b.pts()).map(|t| t.mseconds()));
        }
        pipeline.set_state(gst::State::Null).unwrap();
        out
    }

    #[test]
    fn buffers_without_a_timestamp_take_the_last_or_are_dropped() {
        let out = through_guard(&[None, Some(0), Some(20), None, Some(60)]);
        assert_eq!(out, [Some(0), Some(20), Some(20), Some(60)]);
    }
}
