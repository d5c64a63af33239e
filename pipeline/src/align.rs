//! Starting a file's audio and video at the same instant. A fragmented MP4
//! muxer starts every track at zero, whatever its first timestamp. An
//! encoded video reaches the muxer later than its audio (x264 starting up,
//! frames dropped meanwhile: a few hundred milliseconds on an idle machine,
//! most of a second on a busy one), so its first frame was written as if
//! shown at the audio's start: the whole video played that much early, and
//! ended that much before the audio. So the audio waits at the muxer's door
//! until the video's first frame has passed, and what it had before that
//! frame's time is dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;

/// The longest the audio waits for the video: past it, the file's audio
/// starts without it (a video leg that failed must not stall the file).
const MAX_HOLD: Duration = Duration::from_secs(5);
/// How often a waiting audio thread looks whether its pad is shutting down.
const CHECK: Duration = Duration::from_millis(50);

/// Where the video stands.
#[derive(Clone, Copy, Default, PartialEq)]
enum Video {
    /// No frame yet.
    #[default]
    Awaited,
    /// Its first frame's timestamp.
    Started(gst::ClockTime),
    /// It ended, or failed, without a timed frame: audio goes on alone.
    Absent,
}

#[derive(Default)]
struct Gate {
    video: Mutex<Video>,
    opened: Condvar,
}

impl Gate {
    fn set(&self, video: Video) {
        if let Ok(mut v) = self.video.lock() {
            *v = video;
        }
        self.opened.notify_all();
    }

    /// Waits for the video, up to [`MAX_HOLD`] or until `pad` flushes.
    fn wait(&self, pad: &gst::Pad) -> Video {
        let until = Instant::now() + MAX_HOLD;
        let Ok(mut video) = self.video.lock() else {
            return Video::Absent;
        };
        loop {
            match *video {
                v if v != Video::Awaited => return v,
                _ if pad.pad_flags().contains(gst::PadFlags::FLUSHING) => return Video::Absent,
                _ if Instant::now() >= until => {
                    tracing::warn!("no video after {MAX_HOLD:?}: the audio starts alone");
                    return Video::Absent;
                }
                _ => match self.opened.wait_timeout(video, CHECK) {
                    Ok((v, _)) => video = v,
                    Err(_) => return Video::Absent,
                },
            }
        }
    }
}

/// Holds the buffers leaving `audio` until the first one has left `video`,
/// then lets through audio from that frame's time on. Both pads are the
/// last ones before the muxer (of queues, whose threads may wait).
pub fn start_together(audio: &gst::Pad, video: &gst::Pad) {
    let gate = Arc::new(Gate::default());
    let seen = gate.clone();
    video.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            let first = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => match running_time(pad, b.pts()) {
                    Some(at) => Video::Started(at),
                    None => return gst::PadProbeReturn::Ok,
                },
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos => {
                    Video::Absent
                }
                _ => return gst::PadProbeReturn::Ok,
            };
            seen.set(first);
            gst::PadProbeReturn::Remove
        },
    );
    audio.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let end = buffer
            .pts()
            .map(|pts| pts + buffer.duration().unwrap_or_default());
        match (gate.wait(pad), running_time(pad, end)) {
            (Video::Started(first), Some(end)) if end <= first => gst::PadProbeReturn::Drop,
            _ => gst::PadProbeReturn::Remove,
        }
    });
}

/// `pts` on the pipeline's clock: timestamps are compared in running
/// time, since segments differ (x264 shifts its output by 1000 hours,
/// leaving room for frames decoded before they are shown).
fn running_time(pad: &gst::Pad, pts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(pts?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{app_src, launch};

    /// Each track's kind, duration and packet count as the muxer wrote
    /// them (what a player shows), sorted by kind: audio, video.
    fn tracks(file: &std::path::Path) -> Vec<(String, f64, u32)> {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-of", "csv=p=0"])
            .args([
                "-show_entries",
                "stream=codec_type,duration,nb_read_packets",
            ])
            .arg(file)
            .output()
            .expect("ffprobe (make test installs ffmpeg)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found: Vec<(String, f64, u32)> = (text.lines())
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() == 3)
            .map(|f| {
                (
                    f[0].into(),
                    f[1].parse().unwrap_or(f64::NAN),
                    f[2].parse().unwrap_or(0),
                )
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Live audio from the start, video from a second later, into a
    /// fragmented MP4 until both end together: the file's two tracks
    /// must last as long as each other, the audio's first second cut.
    /// The video's timestamps are 1000 hours ahead in a segment that
    /// starts there, as x264's output in the composite.
    #[test]
    fn a_late_video_and_its_audio_start_together() {
        gst::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.mp4");
        let pipeline = launch(&format!(
            "audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! avenc_aac \
               ! aacparse ! queue name=audio ! mux. \
             appsrc name=v format=time is-live=true handle-segment-change=true \
               caps=video/x-raw,format=I420,width=64,height=64,framerate=30/1 \
               ! x264enc tune=zerolatency ! h264parse ! queue name=video ! mux. \
             mp4mux name=mux fragment-duration=1000 streamable=true \
               ! filesink location={}",
            file.display()
        ))
        .unwrap();
        let pad = |name| {
            crate::element(&pipeline, name)
                .unwrap()
                .static_pad("src")
                .unwrap()
        };
        start_together(&pad("audio"), &pad("video"));
        let src = app_src(&pipeline, "v").unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let ahead = gst::ClockTime::from_seconds(1000 * 3600);
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(ahead);
        segment.set_time(ahead);
        std::thread::sleep(Duration::from_secs(1));
        for _ in 0..60 {
            let now = pipeline.current_running_time().unwrap();
            let mut frame = gst::Buffer::from_slice(vec![100u8; 64 * 64 * 3 / 2]);
            frame.get_mut().unwrap().set_pts(now + ahead);
            let sample = gst::Sample::builder().buffer(&frame).segment(&segment);
            src.push_sample(&sample.build()).unwrap();
            std::thread::sleep(Duration::from_millis(33));
        }
        crate::finish(&pipeline, Duration::from_secs(10)).unwrap();
        let found = tracks(&file);
        let [(_, audio, frames), (_, video, _)] = found[..] else {
            panic!("not two tracks: {found:?}");
        };
        assert!((1.5..3.0).contains(&video), "video lasts {video} s");
        assert!(
            (audio - video).abs() < 0.15,
            "audio {audio} s, video {video} s"
        );
        // AAC frames of 1024 samples at 48 kHz: 47 a second.
        assert!(
            frames as f64 >= (video - 0.15) * 47.0,
            "{frames} audio frames"
        );
    }
}
