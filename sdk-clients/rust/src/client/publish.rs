//! Publishing: announcing a track, negotiating its m-line on the publisher
//! connection, and sending its frames, from files in real time (looped) or
//! as the application makes them (live tracks).

use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use str0m::change::SdpApi;
use str0m::format::Codec as StrCodec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::Rtc;
use tokio::sync::oneshot;

use super::Worker;
use crate::files::{Codec, Frame};
use crate::signal;
use crate::types::{ClientError, LocalLayer, LocalTrack};

/// One of our tracks being sent.
pub(super) struct SendingTrack {
    /// Its m-line on the publisher connection.
    pub(super) mid: Mid,
    pub(super) codec: StrCodec,
    /// Muted: the timeline runs on, nothing is sent.
    pub(super) muted: bool,
    /// Its RTP clock.
    clock: Frequency,
    /// Its encodings, lowest first.
    layers: Vec<SendingLayer>,
}

impl SendingTrack {
    /// `track`, about to be sent on m-line `mid`.
    fn new(mid: Mid, track: LocalTrack) -> Self {
        let now = Instant::now();
        let (codec, clock) = match track.codec {
            Codec::Vp8 => (StrCodec::Vp8, Frequency::NINETY_KHZ),
            Codec::H264 => (StrCodec::H264, Frequency::NINETY_KHZ),
            Codec::Opus => (StrCodec::Opus, Frequency::FORTY_EIGHT_KHZ),
        };
        let layers = track
            .layers
            .into_iter()
            .map(|l| SendingLayer {
                rid: l.rid.as_deref().map(Rid::from),
                frames: l.frames,
                next_frame: 0,
                due: now,
                media_time: 0,
                started: false,
            })
            .collect();
        Self {
            mid,
            codec,
            muted: false,
            clock,
            layers,
        }
    }

    /// Where its frames are written.
    fn line(&self) -> MediaLine {
        MediaLine {
            mid: self.mid,
            codec: self.codec,
            clock: self.clock,
        }
    }
}

/// One encoding of a track being sent, from a looped file or live.
struct SendingLayer {
    /// Its simulcast rid, if the track has several layers.
    rid: Option<Rid>,
    /// The file's frames; none for a live layer.
    frames: Vec<Frame>,
    /// Index of the frame to send next.
    next_frame: usize,
    /// When that frame is due.
    due: Instant,
    /// Its media time, in ticks of the track's clock.
    media_time: u64,
    /// It joined the client's clock (see [`SendingLayer::start`]).
    started: bool,
}

impl SendingLayer {
    /// Joins the client's clock once the connection is up: starts at the
    /// frame boundary its file reaches `elapsed` into its loop, so all the
    /// client's tracks play the same moment of their files, as a camera and
    /// a microphone capture the same moment (however far apart the tracks
    /// were published).
    fn start(&mut self, now: Instant, elapsed: Duration) {
        self.started = true;
        let total: Duration = self.frames.iter().map(|f| f.duration).sum();
        if total.is_zero() {
            return;
        }
        let phase = Duration::from_nanos((elapsed.as_nanos() % total.as_nanos()) as u64);
        let mut boundary = Duration::ZERO;
        self.next_frame = 0;
        while boundary < phase {
            boundary += self.frames[self.next_frame].duration;
            self.next_frame = (self.next_frame + 1) % self.frames.len();
        }
        self.due = now + (boundary - phase);
    }

    /// Moves on past the next frame, which lasts `duration`.
    fn advance(&mut self, duration: Duration) {
        self.due += duration;
        self.next_frame = (self.next_frame + 1) % self.frames.len();
    }
}

/// A track announced to the server and not yet accepted.
pub(super) struct PendingTrack {
    pub(super) track: LocalTrack,
    /// Where `publish` waits for the track sid.
    pub(super) reply: oneshot::Sender<Result<String, ClientError>>,
}

/// Changes to the publisher connection that the next offer carries.
#[derive(Default)]
pub(super) struct Unoffered {
    /// Tracks the server accepted: (client track id, sid, track).
    added: Vec<(String, String, PendingTrack)>,
    /// M-lines of tracks no longer sent.
    stopped: Vec<Mid>,
}

impl Worker {
    /// Announces `track` to the server; `reply` gets its sid once the
    /// server accepted it and it is offered (see [`Worker::renegotiate`]).
    pub(super) async fn add_track(
        &mut self,
        track: LocalTrack,
        reply: oneshot::Sender<Result<String, ClientError>>,
    ) {
        self.last_cid += 1;
        let cid = format!("rust-{}-{}", std::process::id(), self.last_cid);
        let request = add_track_request(&cid, &track);
        if let Err(e) = self.send(Req::AddTrack(request)).await {
            let _ = reply.send(Err(e));
            return;
        }
        self.pending_tracks
            .insert(cid, PendingTrack { track, reply });
    }

    /// Stops sending our track `sid`: its m-line goes inactive.
    pub(super) async fn unpublish(&mut self, sid: &str) -> Result<(), ClientError> {
        let Some(mid) = self.own_track_mids.remove(sid) else {
            return Ok(());
        };
        self.sending_tracks.retain(|t| t.mid != mid);
        self.unoffered.stopped.push(mid);
        self.renegotiate().await
    }

    /// Track `sid` (client id `cid`) was accepted: it gets an m-line at
    /// the next offer, and is sent from then on.
    pub(super) async fn accepted(
        &mut self,
        cid: String,
        sid: String,
        track: PendingTrack,
    ) -> Result<(), ClientError> {
        self.unoffered.added.push((cid, sid, track));
        self.renegotiate().await
    }

    /// Offers what changed on the publisher connection, unless an offer is
    /// in flight: one offer at a time, the next when its answer came (a
    /// second offer would leave str0m the first one's answer to a pending
    /// offer it does not match, and the SFU an m-line it cannot place).
    pub(super) async fn renegotiate(&mut self) -> Result<(), ClientError> {
        if self.publisher_offer.is_some() {
            return Ok(());
        }
        let Unoffered { added, stopped } = std::mem::take(&mut self.unoffered);
        let mut api = self.publisher.sdp_api();
        for mid in stopped {
            api.set_direction(mid, Direction::Inactive);
        }
        let mids: Vec<Mid> = (added.iter())
            .map(|(cid, _, pending)| add_line(&mut api, cid, &pending.track))
            .collect();
        let Some((offer, pending)) = api.apply() else {
            return Ok(());
        };
        self.publisher_offer = Some(pending);
        self.last_offer_id += 1;
        self.send(signal::offer(offer.to_sdp_string(), self.last_offer_id))
            .await?;
        for (mid, (_, sid, pending)) in mids.into_iter().zip(added) {
            self.own_track_mids.insert(sid.clone(), mid);
            self.sending_tracks
                .push(SendingTrack::new(mid, pending.track));
            let _ = pending.reply.send(Ok(sid));
        }
        Ok(())
    }

    /// When the next file frame is due (live layers send when their frames
    /// come, not on a clock).
    pub(super) fn next_frame_due(&self) -> Option<Instant> {
        self.sending_tracks
            .iter()
            .flat_map(|t| t.layers.iter())
            .filter(|l| !l.frames.is_empty())
            .map(|l| l.due)
            .min()
    }

    /// Sends a frame of live track `sid` (layer `rid`) now.
    pub(super) fn send_live(
        &mut self,
        sid: &str,
        (rid, level): (Option<&str>, Option<(i8, bool)>),
        data: Vec<u8>,
        time: Duration,
    ) {
        let Some(mid) = self.own_track_mids.get(sid) else {
            return;
        };
        let Some(track) = self.sending_tracks.iter().find(|t| t.mid == *mid) else {
            return;
        };
        // Frames cannot be written in packet mode (str0m's RTP mode).
        if !self.publisher_up || track.muted || self.rtp_mode {
            return;
        }
        let time = MediaTime::new(ticks(time, track.clock), track.clock);
        write(
            &mut self.publisher,
            track.line(),
            (rid.map(Rid::from), level),
            Instant::now(),
            time,
            data,
        );
    }

    /// Writes the next frame of layer `layer` of sending track `track`
    /// if one is due, in real time, looping the file: whether it wrote
    /// one (false: none due, or the layer cannot be sent yet). str0m
    /// wants a drain after each write, hence one at a time.
    pub(super) fn send_due_frame(&mut self, (track, layer): (usize, usize), now: Instant) -> bool {
        if !self.publisher_up || self.rtp_mode {
            return false;
        }
        let elapsed = now.duration_since(self.epoch);
        let Some(sending) = self.sending_tracks.get_mut(track) else {
            return false;
        };
        let (line, clock, muted) = (sending.line(), sending.clock, sending.muted);
        let Some(layer) = sending.layers.get_mut(layer) else {
            return false;
        };
        if !layer.started && !layer.frames.is_empty() {
            layer.start(now, elapsed);
        }
        while layer.due <= now && !layer.frames.is_empty() {
            let frame = &layer.frames[layer.next_frame];
            let duration = frame.duration;
            if muted {
                layer.advance(duration);
                continue;
            }
            let time = MediaTime::new(layer.media_time, clock);
            let data = frame.data.clone();
            if !write(
                &mut self.publisher,
                line,
                (layer.rid, None),
                now,
                time,
                data,
            ) {
                return false;
            }
            layer.media_time += ticks(duration, clock);
            layer.advance(duration);
            // Behind by more than a second (e.g. a stalled machine): skip ahead.
            if now.duration_since(layer.due) > Duration::from_secs(1) {
                layer.due = now;
            }
            return true;
        }
        false
    }

    /// How many layers sending track `track` has.
    pub(super) fn layer_count(&self, track: usize) -> usize {
        self.sending_tracks.get(track).map_or(0, |t| t.layers.len())
    }
}

/// Adds a send-only m-line for `track` (client id `cid`) to the next offer.
fn add_line(api: &mut SdpApi, cid: &str, track: &LocalTrack) -> Mid {
    let kind = if track.codec == Codec::Opus {
        MediaKind::Audio
    } else {
        MediaKind::Video
    };
    api.add_media(
        kind,
        Direction::SendOnly,
        Some(format!("stream-{cid}")),
        Some(cid.to_owned()),
        simulcast(&track.layers),
    )
}

/// What announces `track` (client id `cid`) to the server.
fn add_track_request(cid: &str, track: &LocalTrack) -> lk::AddTrackRequest {
    let video = track.codec != Codec::Opus;
    let (width, height) = track
        .layers
        .last()
        .map(|l| (l.width, l.height))
        .unwrap_or_default();
    let layers = if video {
        track
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| lk::VideoLayer {
                quality: i as i32,
                width: l.width,
                height: l.height,
                ..Default::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    lk::AddTrackRequest {
        cid: cid.to_owned(),
        name: track.name.clone(),
        r#type: if video {
            lk::TrackType::Video as i32
        } else {
            lk::TrackType::Audio as i32
        },
        source: track.source.to_protocol(),
        width,
        height,
        layers,
        ..Default::default()
    }
}

/// The simulcast send layers of a track with several encodings.
fn simulcast(layers: &[LocalLayer]) -> Option<Simulcast> {
    (layers.len() > 1).then(|| {
        let mut simulcast = Simulcast::new();
        for rid in layers.iter().filter_map(|l| l.rid.as_deref()) {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        simulcast
    })
}

/// `duration` in ticks of RTP clock `clock`.
fn ticks(duration: Duration, clock: Frequency) -> u64 {
    (duration.as_secs_f64() * f64::from(clock.get())).round() as u64
}

/// Where a track's frames are written: its m-line, codec and clock.
#[derive(Clone, Copy)]
struct MediaLine {
    mid: Mid,
    codec: StrCodec,
    clock: Frequency,
}

/// Writes one frame on `line` (layer `rid`); false if it cannot be sent
/// now (the m-line or its codec is not negotiated yet).
fn write(
    publisher: &mut Rtc,
    line: MediaLine,
    (rid, level): (Option<Rid>, Option<(i8, bool)>),
    now: Instant,
    time: MediaTime,
    data: Vec<u8>,
) -> bool {
    let Some(writer) = publisher.writer(line.mid) else {
        return false;
    };
    let Some(pt) = writer
        .payload_params()
        .find(|p| p.spec().codec == line.codec)
        .map(|p| p.pt())
    else {
        return false;
    };
    let writer = match rid {
        Some(rid) => writer.rid(rid),
        None => writer,
    };
    // Unless told a level, announce audio as steady speech (-20 dBov):
    // no level is measured, and the SFU's speaker detection sees a talker.
    let writer = if line.clock == Frequency::FORTY_EIGHT_KHZ {
        let (level, voice) = level.unwrap_or((-20, true));
        writer.audio_level(level, voice)
    } else {
        writer
    };
    if let Err(e) = writer.write(pt, now, time, data) {
        tracing::debug!(error = %e, "write failed");
    }
    true
}
