//! CPU time of one pipeline, though every pipeline runs in this process.
//!
//! GStreamer announces each streaming thread it starts or stops for a
//! pipeline with a `stream-status` message, posted from that thread. A bus
//! sync handler (which runs on the posting thread) notes the thread's CPU
//! clock when it enters and adds what it used when it leaves; a reading in
//! between adds what the threads still working used so far. Threads a
//! library starts on its own (an encoder's worker pool) send no such
//! message, so they are not counted: the figure is a lower bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;

/// The CPU time a pipeline's streaming threads used.
#[derive(Clone, Default)]
pub struct CpuMeter(Arc<Mutex<Usage>>);

#[derive(Default)]
struct Usage {
    /// What threads that left used while working for the pipeline.
    ended: Duration,
    /// Threads working now: their CPU clock, and its reading when they began.
    active: HashMap<libc::pthread_t, (libc::clockid_t, Duration)>,
}

impl CpuMeter {
    /// Starts measuring `pipeline` (before it plays, to see every thread).
    /// Takes its bus's sync handler; `stream-status` messages stop there.
    pub fn watch(pipeline: &gst::Pipeline) -> CpuMeter {
        let meter = CpuMeter::default();
        if let Some(bus) = pipeline.bus() {
            let m = meter.clone();
            bus.set_sync_handler(move |_, msg| match msg.view() {
                gst::MessageView::StreamStatus(s) => {
                    match s.get().0 {
                        gst::StreamStatusType::Enter => m.enter(),
                        gst::StreamStatusType::Leave => m.leave(),
                        _ => {}
                    }
                    gst::BusSyncReply::Drop
                }
                _ => gst::BusSyncReply::Pass,
            });
        }
        meter
    }

    /// CPU time used so far.
    pub fn used(&self) -> Duration {
        let usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let running: Duration = usage
            .active
            .values()
            .filter_map(|(clock, start)| Some(read(*clock)?.saturating_sub(*start)))
            .sum();
        usage.ended + running
    }

    /// The calling thread starts working for the pipeline.
    fn enter(&self) {
        // SAFETY: pthread_self is always valid; the clock id is written
        // only on success.
        let (thread, clock) = unsafe {
            let thread = libc::pthread_self();
            let mut clock: libc::clockid_t = 0;
            match libc::pthread_getcpuclockid(thread, &mut clock) {
                0 => (thread, clock),
                _ => return,
            }
        };
        if let Some(now) = read(clock) {
            let mut usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
            usage.active.insert(thread, (clock, now));
        }
    }

    /// The calling thread stops working for the pipeline.
    fn leave(&self) {
        // SAFETY: pthread_self is always valid.
        let thread = unsafe { libc::pthread_self() };
        let mut usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((clock, start)) = usage.active.remove(&thread) {
            usage.ended += read(clock).unwrap_or(start).saturating_sub(start);
        }
    }
}

/// The reading of a thread's CPU clock (None once the thread is gone).
fn read(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    match unsafe { libc::clock_gettime(clock, &mut ts) } {
        0 => Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_pipeline_uses_cpu_and_an_idle_one_little() {
        gst::init().unwrap();
        let busy = crate::launch("videotestsrc num-buffers=300 ! video/x-raw,width=640,height=480 ! videoconvert ! video/x-raw,format=I420 ! queue ! fakesink").unwrap();
        let idle = crate::launch("audiotestsrc is-live=true num-buffers=20 ! fakesink").unwrap();
        let (busy_meter, idle_meter) = (CpuMeter::watch(&busy), CpuMeter::watch(&idle));
        for p in [&busy, &idle] {
            p.set_state(gst::State::Playing).unwrap();
        }
        for p in [&busy, &idle] {
            let bus = p.bus().unwrap();
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos])
                .expect("the pipeline ends");
        }
        let (b, i) = (busy_meter.used(), idle_meter.used());
        for p in [&busy, &idle] {
            p.set_state(gst::State::Null).unwrap();
        }
        assert!(
            b > Duration::from_millis(20),
            "converting 300 frames took {b:?}"
        );
        assert!(i < b / 4, "an idle pipeline took {i:?}, a busy one {b:?}");
        // Once every thread left, the figure stays.
        assert_eq!(busy_meter.used(), busy_meter.used());
        assert!(busy_meter.0.lock().unwrap().active.is_empty());
    }
}
