//! The composite pipeline: every video track decoded and placed in a grid,
//! every audio track decoded and mixed, encoded to H.264 + AAC, and written
//! as a recording (fragmented MP4 — each fragment stands alone, so a worker
//! killed mid-recording leaves a playable file) or as HLS (MPEG-TS segments
//! and a live playlist with a sliding window).
//!
//! ```text
//! videotestsrc (black, live) ─┐
//! appsrc ! vp8dec ! … ────────┼─ compositor ! queue ! x264enc ! h264parse ─┐
//! appsrc ! opusdec ! … ───────┼─ audiomixer ! avenc_aac ! aacparse ─────────┼─ mp4mux ! filesink   (recording)
//! audiotestsrc (silence, live)┘                                            └─ hlssink2            (HLS)
//! ```
//!
//! For a livestream whose host publishes H.264, HLS can instead pass the
//! host's video through untouched ([`VideoMode::Passthrough`]): no decoding,
//! no encoding, the host's picture as sent; only the audio is mixed and
//! encoded. Other cameras are then not shown.
//!
//! The live test sources keep the timeline running while nobody publishes.
//! Frames are timestamped on the pipeline's running time: a track's first
//! frame at its arrival, later ones by their RTP media time from there, so
//! audio and video keep their relative timing and jitter does not leak in.
//! A recording's audio waits for its video's first frame
//! ([`pipeline::start_together`]): the MP4 muxer starts each track at zero.

mod graph;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use onair_client::{Codec, RemoteFrame};

use super::layout;
use graph::{describe, point_at};
use onair_pipeline::{self as pipeline, make, CpuMeter, Feed, PipelineError, Running};

/// Departed tracks remembered (see [`Composite::remove`]).
const MAX_DEPARTED: usize = 64;
/// How late a frame may reach the mixers (jitter and decoding).
const MIXER_LATENCY_NS: u64 = 300_000_000;
/// A new speaker is shown large once they have been the loudest this long
/// (so the layout does not flicker between people taking turns).
const SPEAKER_HOLD: std::time::Duration = std::time::Duration::from_millis(1500);
/// Compressed bytes an input queues before it drops frames.
const MAX_QUEUED: u64 = 4 << 20;
/// Media time an input queues before it drops frames. A pipeline short of
/// CPU falls behind its live inputs: bounded, it keeps close to real time
/// (skipping to the next keyframe), and a departing track's branch, which
/// drains its queue before it goes, goes within this time. At 1 s, a new
/// track's first frames on a busy machine (its decoder and tile starting)
/// were sometimes dropped too.
const MAX_BEHIND: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// A track whose media time strays this far from the clock is re-anchored.
const MAX_DRIFT: gst::ClockTime = gst::ClockTime::from_seconds(1);

/// Where the pipeline writes.
#[derive(Clone, Debug)]
pub enum Output {
    /// One fragmented MP4 file.
    Mp4(PathBuf),
    /// HLS into a directory: `index.m3u8` and `segmentNNNNN.ts`.
    Hls {
        /// The directory.
        dir: PathBuf,
        /// Segment length in seconds.
        segment_seconds: u32,
        /// Segments listed in the live playlist.
        window: u32,
        /// Keep every segment (else only those near the live window).
        keep: bool,
    },
    /// FLV pushed to an RTMP URL (with its stream key).
    Rtmp(String),
}

/// How the video of the output is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoMode {
    /// Every camera decoded, laid out on the canvas and encoded.
    Mix,
    /// One H.264 track's frames as they are (the canvas size does not apply).
    Passthrough,
}

/// The output picture and encoding.
#[derive(Clone, Copy, Debug)]
pub struct Canvas {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Frames per second.
    pub fps: i32,
    /// H.264 bitrate in kbit/s.
    pub video_kbps: u32,
}

impl Canvas {
    /// The canvas of a preset (`360p`, `720p`, `1080p`); `None` if unknown.
    pub fn preset(name: &str) -> Option<Canvas> {
        let (width, height, video_kbps) = match name {
            "360p" => (640, 360, 800),
            "720p" => (1280, 720, 2500),
            "1080p" => (1920, 1080, 4500),
            _ => return None,
        };
        Some(Canvas {
            width,
            height,
            fps: 30,
            video_kbps,
        })
    }
}

struct Input {
    /// Its appsrc (shared by passed-through tracks), fed within bounds.
    feed: Feed,
    /// Its compositor pad (none for audio and a passed-through track).
    pad: Option<gst::Pad>,
    /// Its own elements (appsrc to converter) and the mixer pad they feed
    /// (none for a passed-through track, whose source stays).
    branch: Option<(Vec<gst::Element>, gst::Pad)>,
    video: bool,
    /// Who publishes it.
    identity: String,
    /// Running time and media time of the frame the track is anchored on.
    anchor: Option<(gst::ClockTime, f64)>,
}

/// Drains a departed track's branch and, once its end reached the mixer,
/// takes it out of the pipeline: its elements stopped and removed, its
/// mixer pad released. A long call with much coming and going keeps
/// nothing of those who left.
fn release(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    chain: Vec<gst::Element>,
    pad: gst::Pad,
) {
    let Some(last) = chain.last().and_then(|e| e.static_pad("src")) else {
        return;
    };
    let pipeline = pipeline.clone();
    let chain = std::sync::Mutex::new(Some(chain));
    last.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |last, info| {
        let eos = matches!(&info.data, Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos);
        if !eos {
            return gst::PadProbeReturn::Ok;
        }
        let taken = chain.lock().ok().and_then(|mut c| c.take());
        if let Some(chain) = taken {
            let (last, pad, pipeline) = (last.clone(), pad.clone(), pipeline.clone());
            // Elements cannot be stopped from their own streaming thread.
            std::thread::spawn(move || {
                let _ = last.unlink(&pad);
                if let Some(mixer) = pad.parent_element() {
                    mixer.release_request_pad(&pad);
                }
                for e in &chain {
                    let _ = e.set_state(gst::State::Null);
                }
                let _ = pipeline.remove_many(&chain);
                tracing::info!(elements = chain.len(), "departed track's branch released");
            });
        }
        // The mixer pad goes away: it need not see the end. The probe takes
        // (and frees) the event and says it handled it: returning `Drop`
        // with the event in place logged a GStreamer CRITICAL (an unref of
        // NULL) at every departure.
        drop(info.take_event());
        gst::PadProbeReturn::Handled
    });
    let _ = src.end_of_stream();
}

/// A running composite recording.
pub struct Composite {
    pipeline: gst::Pipeline,
    meter: CpuMeter,
    /// The video mixer (none when passing a track through).
    compositor: Option<gst::Element>,
    /// The source of the passed-through video, and which track feeds it now.
    passthrough: Option<(gst_app::AppSrc, Option<String>)>,
    mixer: gst::Element,
    canvas: Canvas,
    inputs: HashMap<String, Input>,
    /// Video track sids in tile order.
    tiles: Vec<String>,
    /// Who is shown large: the last one who spoke long enough.
    speaker: Option<String>,
    /// The loudest speaker now, and since when.
    candidate: Option<(String, std::time::Instant)>,
    /// Tracks that left, newest last: a frame of one still in flight when
    /// it left must not bring it back as a new tile that never goes.
    departed: VecDeque<String>,
}

/// A pipeline dropped without [`Composite::finish`] (an RTMP reconnect, a
/// failure) is stopped first: GStreamer elements must not be disposed
/// while playing.
impl Drop for Composite {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Running for Composite {
    fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    fn meter(&self) -> &CpuMeter {
        &self.meter
    }
}

impl Composite {
    /// Builds the pipeline writing to `output` and starts it.
    pub fn start(
        canvas: Canvas,
        output: &Output,
        mode: VideoMode,
    ) -> Result<Composite, PipelineError> {
        gst::init()?;
        let pipeline = pipeline::launch(&describe(canvas, output, mode))?;
        let compositor = pipeline.by_name("mix");
        let passthrough = match mode {
            VideoMode::Passthrough => Some((pipeline::app_src(&pipeline, "video")?, None)),
            VideoMode::Mix => None,
        };
        let mixer = pipeline::element(&pipeline, "amix")?;
        if let Some(compositor) = &compositor {
            compositor.set_property("latency", MIXER_LATENCY_NS);
        }
        mixer.set_property("latency", MIXER_LATENCY_NS);
        point_at(&pipeline, output)?;
        if let Output::Mp4(_) = output {
            let pad = |name| {
                let pad = pipeline::element(&pipeline, name)?.static_pad("src");
                pad.ok_or_else(|| PipelineError(format!("no source pad on `{name}`")))
            };
            pipeline::start_together(&pad("audio_out")?, &pad("video_out")?);
        }
        let meter = CpuMeter::watch(&pipeline);
        pipeline.set_state(gst::State::Playing)?;
        Ok(Composite {
            pipeline,
            meter,
            compositor,
            passthrough,
            mixer,
            canvas,
            inputs: HashMap::new(),
            tiles: Vec::new(),
            speaker: None,
            candidate: None,
            departed: VecDeque::new(),
        })
    }

    /// Feeds one frame; its track joins the picture or the mix on its first frame.
    pub fn push(&mut self, frame: &RemoteFrame) -> Result<(), PipelineError> {
        if !self.inputs.contains_key(&frame.track_sid) {
            if self.departed.contains(&frame.track_sid) {
                tracing::debug!(track = %frame.track_sid, "a late frame of a departed track dropped");
                return Ok(());
            }
            let input = match &mut self.passthrough {
                Some((src, shown)) if frame.codec != Codec::Opus => {
                    // Only one H.264 track is passed through at a time.
                    if shown.is_some() || frame.codec != Codec::H264 {
                        return Ok(());
                    }
                    *shown = Some(frame.track_sid.clone());
                    Input {
                        feed: Feed::new(src.clone(), true).max_time(MAX_BEHIND),
                        pad: None,
                        branch: None,
                        video: true,
                        identity: frame.identity.clone(),
                        anchor: None,
                    }
                }
                _ => self.add_input(frame.codec, &frame.identity)?,
            };
            let tiled = input.video && input.pad.is_some();
            self.inputs.insert(frame.track_sid.clone(), input);
            if tiled {
                self.tiles.push(frame.track_sid.clone());
                self.relayout();
            }
            tracing::info!(track = %frame.track_sid, identity = %frame.identity, codec = ?frame.codec, "track joins the composite");
        }
        self.promote_speaker(frame.arrival);
        let now = self.running_time();
        let Some(input) = self.inputs.get_mut(&frame.track_sid) else {
            return Ok(());
        };
        let (at, media) = *input.anchor.get_or_insert((now, frame.media_time));
        let offset = frame.media_time - media;
        let pts = if offset >= 0.0 {
            at + gst::ClockTime::from_nseconds((offset * 1e9) as u64)
        } else {
            now
        };
        // A publisher that restarted its clock (a rejoin) is anchored again.
        let pts = if pts.absdiff(now) > MAX_DRIFT {
            input.anchor = Some((now, frame.media_time));
            now
        } else {
            pts
        };
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
        }
        // Video decoders start at a keyframe, after a full queue too.
        if let Err(e) = input.feed.push(buffer, frame.starts_decoding()) {
            tracing::debug!(track = %frame.track_sid, error = ?e, "frame not taken");
        }
        Ok(())
    }

    /// The track left: it leaves the picture (and the mix).
    pub fn remove(&mut self, track_sid: &str) {
        let Some(input) = self.inputs.remove(track_sid) else {
            return;
        };
        // Track sids are never reused; the last few departures are enough
        // to catch frames still in flight.
        if self.departed.len() == MAX_DEPARTED {
            self.departed.pop_front();
        }
        self.departed.push_back(track_sid.to_owned());
        tracing::info!(track = %track_sid, "track leaves the composite");
        if let Some(pad) = &input.pad {
            // Its last picture must not linger on the canvas.
            pad.set_property("alpha", 0.0f64);
            self.tiles.retain(|t| t != track_sid);
            self.relayout();
        }
        match input.branch {
            Some((chain, pad)) => release(&self.pipeline, input.feed.src(), chain, pad),
            // The passed-through source stays open for the next H.264 track
            // (the host coming back).
            None => {
                if let Some((_, shown)) = &mut self.passthrough {
                    *shown = None;
                }
            }
        }
    }

    /// Video tracks waiting for a keyframe, their first or the next after
    /// a full queue (their tile is black or frozen until one comes: a lost
    /// keyframe request must be repeated).
    pub fn awaiting_keyframes(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter(|(_, input)| input.video && input.feed.skipping())
            .map(|(sid, _)| sid.clone())
            .collect()
    }

    /// The track whose video is passed through now, if any.
    pub fn passed_through(&self) -> Option<&str> {
        self.passthrough.as_ref()?.1.as_deref()
    }

    /// `identity` is the loudest speaker now (none: nobody speaks). Once
    /// they have been for [`SPEAKER_HOLD`], their video is shown large, and
    /// stays so through silence until someone else speaks.
    pub fn set_speaker(&mut self, identity: Option<String>) {
        let now = std::time::Instant::now();
        self.candidate = match (identity, self.candidate.take()) {
            (Some(who), Some((was, since))) if who == was => Some((who, since)),
            (Some(who), _) => Some((who, now)),
            (None, _) => None,
        };
        self.promote_speaker(now);
    }

    /// Shows the candidate large if they have spoken long enough.
    fn promote_speaker(&mut self, now: std::time::Instant) {
        let Some((who, since)) = &self.candidate else {
            return;
        };
        if now.duration_since(*since) >= SPEAKER_HOLD && self.speaker.as_ref() != Some(who) {
            self.speaker = Some(who.clone());
            self.relayout();
        }
    }

    fn running_time(&self) -> gst::ClockTime {
        self.pipeline
            .current_running_time()
            .unwrap_or(gst::ClockTime::ZERO)
    }

    /// Places the video tiles on the canvas: the speaker's large if someone
    /// with a video speaks, else an even grid.
    fn relayout(&self) {
        for (sid, tile) in self.layout() {
            if let Some(pad) = self.inputs.get(sid).and_then(|i| i.pad.as_ref()) {
                pad.set_property("xpos", tile.x);
                pad.set_property("ypos", tile.y);
                pad.set_property("width", tile.width);
                pad.set_property("height", tile.height);
            }
        }
    }

    /// Each tiled track and its tile: the speaker's first and large once
    /// someone spoke, else a grid in joining order.
    fn layout(&self) -> Vec<(&String, layout::Tile)> {
        let (w, h) = (self.canvas.width, self.canvas.height);
        let speaking = self.tiles.iter().position(|sid| {
            let identity = self.inputs.get(sid).map(|i| i.identity.as_str());
            identity.is_some() && identity == self.speaker.as_deref()
        });
        let mut order: Vec<&String> = self.tiles.iter().collect();
        let tiles = match speaking {
            Some(i) if order.len() > 1 => {
                let first = order.remove(i);
                order.insert(0, first);
                layout::speaker(order.len(), w, h)
            }
            _ => layout::grid(order.len(), w, h),
        };
        order.into_iter().zip(tiles).collect()
    }

    /// The size each tiled track is drawn at: the job asks the SFU for the
    /// layer that fits it, so a small tile does not cost a large decode.
    pub fn tile_sizes(&self) -> Vec<(String, u32, u32)> {
        (self.layout().into_iter())
            .map(|(sid, t)| (sid.clone(), t.width as u32, t.height as u32))
            .collect()
    }

    /// `appsrc ! decoder ! convert` into the compositor or the mixer.
    fn add_input(&self, codec: Codec, identity: &str) -> Result<Input, PipelineError> {
        let video = codec != Codec::Opus;
        let (caps, decoders): (&str, &[&str]) = match codec {
            Codec::Vp8 => ("video/x-vp8", &["vp8dec"]),
            Codec::H264 => (
                "video/x-h264,stream-format=byte-stream,alignment=au",
                &["h264parse", "avdec_h264"],
            ),
            Codec::Opus => (
                "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000",
                &["opusdec"],
            ),
        };
        let caps = caps
            .parse::<gst::Caps>()
            .map_err(|e| PipelineError(e.to_string()))?;
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .is_live(true)
            .format(gst::Format::Time)
            .max_bytes(MAX_QUEUED)
            .block(false)
            .build();
        // A live appsrc says by default it can hold nothing (max latency 0):
        // the mixers, whose live test sources need 21–33 ms, then found no
        // latency that fits, went non-live, and a stalled input stalled them.
        src.set_latency(gst::ClockTime::ZERO, MAX_BEHIND);
        let mut chain: Vec<gst::Element> = vec![src.clone().upcast()];
        for d in decoders {
            chain.push(make(d)?);
        }
        // No queue of raw frames here: the appsrc queues compressed ones
        // and decodes on its own thread, which keeps memory low.
        let tail: &[&str] = if video {
            &["videoconvert"]
        } else {
            &["audioconvert", "audioresample"]
        };
        for t in tail {
            chain.push(make(t)?);
        }
        self.pipeline.add_many(&chain)?;
        gst::Element::link_many(&chain)?;
        let sink = match (video, &self.compositor) {
            (false, _) => &self.mixer,
            (true, Some(compositor)) => compositor,
            (true, None) => return Err(PipelineError("no video mixer".into())),
        };
        let pad = sink
            .request_pad_simple("sink_%u")
            .ok_or_else(|| PipelineError("no mixer pad".into()))?;
        if video {
            pad.set_property("zorder", 1u32);
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
        }
        let last = chain
            .last()
            .and_then(|e| e.static_pad("src"))
            .ok_or_else(|| PipelineError("no source pad".into()))?;
        last.link(&pad)
            .map_err(|e| PipelineError(format!("link: {e:?}")))?;
        for e in &chain {
            e.sync_state_with_parent()?;
        }
        Ok(Input {
            feed: Feed::new(src, video).max_time(MAX_BEHIND),
            pad: video.then(|| pad.clone()),
            branch: Some((chain, pad)),
            video,
            identity: identity.to_owned(),
            anchor: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    fn frame(track_sid: &str) -> RemoteFrame {
        RemoteFrame {
            track_sid: track_sid.into(),
            identity: "bob".into(),
            codec: Codec::Opus,
            keyframe: true,
            media_time: 0.0,
            arrival: Instant::now(),
            data: Arc::from(&[0xf8u8, 0xff, 0xfe][..]),
            audio_level: None,
        }
    }

    /// A 360p MP4 composite writing into a directory of its own; bound as
    /// `(_dir, composite)`, the composite stops before the directory goes.
    fn composite() -> (tempfile::TempDir, Composite) {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::Mp4(dir.path().join("out.mp4"));
        let canvas = Canvas::preset("360p").unwrap();
        let composite = Composite::start(canvas, &output, VideoMode::Mix).unwrap();
        (dir, composite)
    }

    #[test]
    fn a_late_frame_does_not_bring_a_departed_track_back() {
        let (_dir, mut composite) = composite();
        composite.push(&frame("TR_mic")).unwrap();
        assert!(composite.inputs.contains_key("TR_mic"));
        composite.remove("TR_mic");
        composite.push(&frame("TR_mic")).unwrap();
        assert!(composite.inputs.is_empty(), "the departed track came back");
        composite.push(&frame("TR_other")).unwrap();
        assert!(composite.inputs.contains_key("TR_other"));
    }

    /// The mixers must stay live once inputs join: one that finds no
    /// latency fitting all its inputs waits for every input to have data,
    /// and an input that stalls then stalls the whole recording.
    #[test]
    fn the_mixers_find_a_latency_with_inputs_joined() {
        let (_dir, mut composite) = composite();
        composite.push(&frame("TR_mic")).unwrap();
        // The muxer's answer takes both mixers' (and fails if one fails).
        // It has none until the pipeline is up: asked again for a while.
        let mux = composite.pipeline.by_name("mux").unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let (answered, query) = loop {
            let mut query = gst::query::Latency::new();
            let answered = mux.static_pad("src").unwrap().query(&mut query);
            if answered || Instant::now() > deadline {
                break (answered, query);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let (live, min, max) = query.result();
        assert!(
            answered && live,
            "no latency: live {live}, {min} to {max:?}"
        );
    }

    #[test]
    fn an_input_faster_than_the_pipeline_queues_within_bounds() {
        let (_dir, mut composite) = composite();
        // 10 MB of audio at once: the mixer takes it at the pace of the clock.
        let mut data = vec![0xf8u8, 0xff, 0xfe];
        data.resize(1000, 0);
        for n in 0..10_000 {
            let mut f = frame("TR_mic");
            f.media_time = n as f64 * 0.02;
            f.data = Arc::from(&data[..]);
            composite.push(&f).unwrap();
        }
        let feed = &composite.inputs["TR_mic"].feed;
        let bytes = feed.src().current_level_bytes();
        // Up to the limit, and the frame that reached it.
        assert!(bytes < MAX_QUEUED + 1000, "{bytes} bytes queued");
        assert!(feed.skipping(), "nothing was dropped");
    }
}
