//! What every GStreamer pipeline of egress shares: its error type, making
//! elements, and watching, measuring and finishing a running pipeline.

use gst::prelude::*;
use gstreamer as gst;

/// Why the pipeline failed.
#[derive(Debug, thiserror::Error)]
#[error("GStreamer: {0}")]
pub struct PipelineError(pub String);

impl From<gst::glib::Error> for PipelineError {
    fn from(e: gst::glib::Error) -> Self {
        PipelineError(e.to_string())
    }
}

impl From<gst::glib::BoolError> for PipelineError {
    fn from(e: gst::glib::BoolError) -> Self {
        PipelineError(e.to_string())
    }
}

impl From<gst::StateChangeError> for PipelineError {
    fn from(e: gst::StateChangeError) -> Self {
        PipelineError(e.to_string())
    }
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| PipelineError(format!("missing GStreamer element `{factory}`")))
}

/// Media written so far by `pipeline` (its position).
pub(crate) fn duration(pipeline: &gst::Pipeline) -> std::time::Duration {
    let position = pipeline
        .query_position::<gst::ClockTime>()
        .unwrap_or(gst::ClockTime::ZERO);
    std::time::Duration::from_nanos(position.nseconds())
}

/// The first error `pipeline` reported, if any, with the element that did.
pub(crate) fn error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(format!(
            "{} ({})",
            e.error(),
            e.src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default()
        )),
        _ => None,
    }
}

/// Drains `pipeline` (end of stream), waits up to `timeout` for its output
/// to be complete, and stops it.
pub(crate) fn finish(
    pipeline: &gst::Pipeline,
    timeout: std::time::Duration,
) -> Result<(), PipelineError> {
    pipeline.send_event(gst::event::Eos::new());
    let bus = pipeline
        .bus()
        .ok_or_else(|| PipelineError("no bus".into()))?;
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(PipelineError(e.error().to_string())),
            _ => Ok(()),
        },
        None => Err(PipelineError("the output did not finish in time".into())),
    };
    pipeline.set_state(gst::State::Null)?;
    result
}
