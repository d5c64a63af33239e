//! Feeding an `appsrc` within its limits. An appsrc that does not block
//! goes on queueing past its `max-bytes` and `max-time`: it only signals
//! that it has enough. A source faster than its pipeline (a burst, a
//! machine short of CPU, a hostile RTMP publisher) would then grow memory
//! without end, and every frame queued is one more the pipeline must get
//! through before it can end. So a [`Feed`] checks the level first and
//! drops; once it dropped, a video stream waits for its next keyframe,
//! since a decoder cannot go on from a frame whose predecessors are gone.
//!
//! The time queued is measured here: from the oldest frame still queued
//! to the newest. The appsrc's own `current-level-time` runs from the last
//! frame it handed on, so a pause in the source (a browser's camera that
//! stalls, a track joining a running composite) counts as queued time
//! though nothing waits; a feed measuring so dropped every frame after a
//! pause as long as its bound, since nothing it pushed could move it on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

/// What became of a frame handed to a [`Feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// Queued.
    Queued,
    /// Dropped: the queue was full, or the feed waits for a keyframe.
    Dropped,
}

/// One appsrc, fed without letting its queue pass its limits.
pub struct Feed {
    src: gst_app::AppSrc,
    /// Frames are dropped until a keyframe finds room.
    skipping: AtomicBool,
    /// Frames dropped for a full queue.
    overflows: AtomicU64,
    /// The most media time queued, if bounded (see [`Feed::max_time`]).
    max_time: Option<gst::ClockTime>,
    /// Timestamps (ns) of the frame pushed into an empty queue (the oldest
    /// queued, until the appsrc hands it on), of the newest frame pushed,
    /// and of the last one handed on downstream ([`NONE`] until there is one).
    first_queued: AtomicU64,
    last_in: AtomicU64,
    last_out: Arc<AtomicU64>,
    /// The probe that sets `last_out`, removed with the feed (an appsrc
    /// can outlive it: a passed-through source feeds track after track).
    probe: Option<(gst::Pad, gst::PadProbeId)>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some((pad, id)) = self.probe.take() {
            pad.remove_probe(id);
        }
    }
}

/// No timestamp yet.
const NONE: u64 = u64::MAX;

impl Feed {
    /// Feeds `src`, whose `max-bytes` bounds its queue. A feed that
    /// `starts_at_keyframe` drops frames until the first.
    pub fn new(src: gst_app::AppSrc, starts_at_keyframe: bool) -> Feed {
        Feed {
            src,
            skipping: AtomicBool::new(starts_at_keyframe),
            overflows: AtomicU64::new(0),
            max_time: None,
            first_queued: AtomicU64::new(NONE),
            last_in: AtomicU64::new(NONE),
            last_out: Arc::new(AtomicU64::new(NONE)),
            probe: None,
        }
    }

    /// Bounds the queue by media time too: at most `max` from the oldest
    /// frame still queued to the newest; a pause in the source is not
    /// counted.
    pub fn max_time(mut self, max: gst::ClockTime) -> Feed {
        let last_out = self.last_out.clone();
        self.probe = self.src.static_pad("src").and_then(|pad| {
            let id = pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    last_out.store(pts.nseconds(), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            })?;
            Some((pad, id))
        });
        self.max_time = Some(max);
        self
    }

    /// Queues `buffer` if there is room (`keyframe`: a decoder can start
    /// from it, as from every audio frame). An error is the appsrc's: it
    /// ended or is flushing.
    pub fn push(&self, buffer: gst::Buffer, keyframe: bool) -> Result<Fed, gst::FlowError> {
        if self.is_full() {
            self.skipping.store(true, Ordering::Relaxed);
            if self
                .overflows
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(100)
            {
                tracing::warn!(
                    dropped = self.overflows.load(Ordering::Relaxed),
                    bytes = self.src.current_level_bytes(),
                    "a pipeline is behind its source: frames dropped"
                );
            }
            return Ok(Fed::Dropped);
        }
        if self.skipping.load(Ordering::Relaxed) {
            if !keyframe {
                return Ok(Fed::Dropped);
            }
            self.skipping.store(false, Ordering::Relaxed);
        }
        // Only a feed bounded in time needs its frames' times.
        if let Some(pts) = buffer.pts().filter(|_| self.max_time.is_some()) {
            let ns = pts.nseconds();
            if self.src.current_level_bytes() == 0 {
                self.first_queued.store(ns, Ordering::Relaxed);
            }
            self.last_in.store(ns, Ordering::Relaxed);
        }
        self.src.push_buffer(buffer)?;
        Ok(Fed::Queued)
    }

    /// Whether frames are dropped until the next keyframe (one should be
    /// asked for where the source can send one).
    pub fn skipping(&self) -> bool {
        self.skipping.load(Ordering::Relaxed)
    }

    /// The appsrc fed.
    pub fn src(&self) -> &gst_app::AppSrc {
        &self.src
    }

    /// Whether the queue holds as many bytes, or as much time, as allowed.
    fn is_full(&self) -> bool {
        let max_bytes = self.src.max_bytes();
        (max_bytes > 0 && self.src.current_level_bytes() >= max_bytes) || self.over_time()
    }

    /// Whether the frames queued span `max_time` or more: from the oldest
    /// still queued (the one pushed into the empty queue, or the last one
    /// taken once later ones were) to the newest. An empty queue spans
    /// nothing, however long the source paused.
    fn over_time(&self) -> bool {
        let Some(max) = self.max_time else {
            return false;
        };
        if self.src.current_level_bytes() == 0 {
            return false;
        }
        let newest = self.last_in.load(Ordering::Relaxed);
        let first = self.first_queued.load(Ordering::Relaxed);
        let out = self.last_out.load(Ordering::Relaxed);
        let oldest = if out == NONE { first } else { first.max(out) };
        newest != NONE && oldest != NONE && newest.saturating_sub(oldest) >= max.nseconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed whose queue nothing drains: its pipeline is paused, its sink
    /// holding a first frame (pushed before the feed gets it, so the queue
    /// starts empty). Stopped when dropped.
    struct Stalled(gst::Pipeline, Feed);

    impl Drop for Stalled {
        fn drop(&mut self) {
            let _ = self.0.set_state(gst::State::Null);
        }
    }

    /// Its first frame, the one the sink holds, is at `first_ms`.
    fn stalled(max_bytes: u64, max_time_ms: Option<u64>, first_ms: u64) -> Stalled {
        gst::init().unwrap();
        let pipeline = crate::launch("appsrc name=src format=time ! fakesink").unwrap();
        let src = crate::app_src(&pipeline, "src").unwrap();
        src.set_max_bytes(max_bytes);
        let mut feed = Feed::new(src.clone(), false);
        if let Some(ms) = max_time_ms {
            feed = feed.max_time(gst::ClockTime::from_mseconds(ms));
        }
        pipeline.set_state(gst::State::Paused).unwrap();
        src.push_buffer(frame(1, first_ms)).unwrap();
        let (prerolled, ..) = pipeline.state(gst::ClockTime::from_seconds(10));
        prerolled.unwrap();
        Stalled(pipeline, feed)
    }

    fn frame(len: usize, pts_ms: u64) -> gst::Buffer {
        let mut buffer = gst::Buffer::from_slice(vec![0u8; len]);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(pts_ms));
        buffer
    }

    #[test]
    fn a_full_queue_drops_until_a_keyframe_finds_room() {
        let Stalled(_p, feed) = &stalled(10_000, None, 0);
        let queued = (0..100)
            .filter(|n| feed.push(frame(1000, n * 20), false).unwrap() == Fed::Queued)
            .count();
        // The appsrc alone would have taken all 100 (100 000 bytes).
        assert_eq!(queued, 10);
        assert_eq!(feed.src().current_level_bytes(), 10_000);
        assert!(feed.skipping());
        // Room again (here: a larger limit); a delta frame is still dropped.
        feed.src().set_max_bytes(100_000);
        assert_eq!(feed.push(frame(1000, 2000), false).unwrap(), Fed::Dropped);
        assert_eq!(feed.push(frame(1000, 2020), true).unwrap(), Fed::Queued);
        assert!(!feed.skipping());
        assert_eq!(feed.push(frame(1000, 2040), false).unwrap(), Fed::Queued);
    }

    #[test]
    fn a_queue_is_also_bounded_by_time() {
        // The sink took a frame at 5 s (a source that joined late): the
        // time queued counts from there, not from zero.
        let Stalled(_p, feed) = &stalled(0, Some(500), 5000);
        let queued = (0..100)
            .filter(|n| feed.push(frame(10, 5020 + n * 20), true).unwrap() == Fed::Queued)
            .count();
        // 20 ms frames: about 500 ms of them, not 2 s.
        assert!((24..=26).contains(&queued), "{queued} queued");
    }

    #[test]
    fn a_pause_in_the_source_is_not_time_queued() {
        // The sink took frames up to 1 s; the source then paused for 3 s,
        // and the pipeline is still busy with what it took (paused here).
        let Stalled(_p, feed) = &stalled(0, Some(500), 1000);
        feed.last_out.store(1_000_000_000, Ordering::Relaxed);
        for n in 0..10 {
            let at = 4000 + n * 20;
            assert_eq!(
                feed.push(frame(10, at), n == 0).unwrap(),
                Fed::Queued,
                "{at} ms"
            );
        }
        // What is queued does count: 200 ms so far, 500 ms at most.
        let queued = (10..100)
            .filter(|n| feed.push(frame(10, 4000 + n * 20), false).unwrap() == Fed::Queued)
            .count();
        assert!((14..=16).contains(&queued), "{queued} more queued");
    }

    #[test]
    fn a_video_feed_starts_at_a_keyframe() {
        let Stalled(_p, feed) = &stalled(10_000, None, 0);
        let feed = Feed::new(feed.src().clone(), true);
        assert_eq!(feed.push(frame(10, 0), false).unwrap(), Fed::Dropped);
        assert_eq!(feed.push(frame(10, 20), true).unwrap(), Fed::Queued);
    }
}
