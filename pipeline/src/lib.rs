//! What every GStreamer pipeline of OnAir shares, egress (recordings, HLS,
//! RTMP push) and ingest (transcoders) alike: its error type, building a
//! pipeline and finding its elements, and watching, measuring (its media
//! time, its CPU time) and finishing it once it runs. Both crates sit on this one; neither imports the other.

mod align;
mod cpu;
mod feed;
mod stamps;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

pub use align::start_together;
pub use cpu::CpuMeter;
pub use feed::{Fed, Feed};

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

/// A new element from `factory`.
pub fn make(factory: &str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| PipelineError(format!("missing GStreamer element `{factory}`")))
}

/// The pipeline a `gst-launch` style `description` builds, its parsers'
/// output guarded against buffers with no timestamp.
pub fn launch(description: &str) -> Result<gst::Pipeline, PipelineError> {
    let pipeline = gst::parse::launch(description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| PipelineError("not a pipeline".into()))?;
    stamps::guard_parsers(&pipeline);
    Ok(pipeline)
}

/// The element named `name` in `pipeline`.
pub fn element(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Element, PipelineError> {
    pipeline
        .by_name(name)
        .ok_or_else(|| PipelineError(format!("no element `{name}`")))
}

/// The `appsrc` named `name` in `pipeline`.
pub fn app_src(pipeline: &gst::Pipeline, name: &str) -> Result<gst_app::AppSrc, PipelineError> {
    element(pipeline, name)?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| PipelineError(format!("`{name}` is not an appsrc")))
}

/// A running pipeline that writes media somewhere: what a job asks of it
/// while it runs and when it ends. Implementors only say which pipeline.
pub trait Running {
    /// The pipeline.
    fn pipeline(&self) -> &gst::Pipeline;

    /// What measures its CPU time (started with [`CpuMeter::watch`]).
    fn meter(&self) -> &CpuMeter;

    /// CPU time its streaming threads used so far.
    fn cpu(&self) -> std::time::Duration {
        self.meter().used()
    }

    /// Media written so far.
    fn duration(&self) -> std::time::Duration {
        duration(self.pipeline())
    }

    /// The first error the pipeline reported, if any (taken off its bus).
    fn error(&self) -> Option<String> {
        error(self.pipeline())
    }

    /// Drains the pipeline, finishes its output and stops it; blocks up to
    /// `timeout`. Returns the media written in all: on a machine short of
    /// CPU, what [`Running::duration`] said before the drain lagged it.
    fn finish(self, timeout: std::time::Duration) -> Result<std::time::Duration, PipelineError>
    where
        Self: Sized,
    {
        finish(self.pipeline(), timeout)
    }
}

/// Media written so far by `pipeline` (its position).
fn duration(pipeline: &gst::Pipeline) -> std::time::Duration {
    let position = pipeline
        .query_position::<gst::ClockTime>()
        .unwrap_or(gst::ClockTime::ZERO);
    std::time::Duration::from_nanos(position.nseconds())
}

/// The first error `pipeline` reported, if any, with the element that did.
fn error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(describe(e)),
        _ => None,
    }
}

/// An error message with the element that sent it and its details (for
/// a muxer, which buffer it refused), URLs left out: an RTMP target's
/// holds its stream key, and errors are logged.
fn describe(e: &gst::message::Error) -> String {
    let text = format!(
        "{} ({}: {})",
        e.error(),
        e.src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default(),
        e.debug().unwrap_or_default()
    );
    without_urls(&text)
}

/// `text` with every URL cut to its scheme.
fn without_urls(text: &str) -> String {
    let words = text.split(' ').map(|word| match word.find("://") {
        Some(at) => format!("{}://…", &word[..at]),
        None => word.to_owned(),
    });
    words.collect::<Vec<_>>().join(" ")
}

/// Drains `pipeline` (end of stream), waits up to `timeout` for its output
/// to be complete, and stops it.
fn finish(
    pipeline: &gst::Pipeline,
    timeout: std::time::Duration,
) -> Result<std::time::Duration, PipelineError> {
    pipeline.send_event(gst::event::Eos::new());
    let bus = pipeline
        .bus()
        .ok_or_else(|| PipelineError("no bus".into()))?;
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(PipelineError(describe(e))),
            _ => Ok(duration(pipeline)),
        },
        None => Err(PipelineError("the output did not finish in time".into())),
    };
    pipeline.set_state(gst::State::Null)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline whose sink lags its source (as x264 on a starved
    /// machine): what it wrote shows only once it finished.
    #[test]
    fn finishing_tells_all_the_media_written() {
        gst::init().unwrap();
        let pipeline =
            launch("appsrc name=src format=time ! identity sleep-time=20000 ! fakesink sync=false")
                .unwrap();
        let src = app_src(&pipeline, "src").unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        for n in 0..50u64 {
            let mut buffer = gst::Buffer::from_slice(vec![0u8; 10]);
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(n * 40));
            b.set_duration(gst::ClockTime::from_mseconds(40));
            src.push_buffer(buffer).unwrap();
        }
        let lagging = duration(&pipeline);
        let written = finish(&pipeline, std::time::Duration::from_secs(10)).unwrap();
        assert!(
            lagging < std::time::Duration::from_secs(1),
            "{lagging:?} before"
        );
        assert!(
            written >= std::time::Duration::from_millis(1960),
            "{written:?} after"
        );
    }

    #[test]
    fn errors_leave_urls_out() {
        let text = "Could not connect (out: to rtmp://host/app/sk_secret failed)";
        assert_eq!(
            super::without_urls(text),
            "Could not connect (out: to rtmp://… failed)"
        );
    }
}
