//! Publishing: announcing a track, negotiating its m-line on the publisher
//! connection, and sending its frames, from files in real time (looped) or
//! as the application makes them (live tracks).

use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec as StrCodec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::Rtc;
use tokio::sync::oneshot;

use super::Worker;
use crate::files::{Codec, Frame};
use crate::types::{ClientError, LocalTrack, Source};

/// A track being sent.
pub(super) struct Sending {
    pub(super) mid: Mid,
    pub(super) codec: StrCodec,
    /// Muted: the timeline runs on, nothing is sent.
    pub(super) muted: bool,
    pub(super) clock: Frequency,
    pub(super) layers: Vec<SendingLayer>,
}

pub(super) struct SendingLayer {
    pub(super) rid: Option<Rid>,
    pub(super) frames: Vec<Frame>,
    pub(super) next: usize,
    pub(super) at: Instant,
    pub(super) media_time: u64,
    /// It joined the client's clock (see [`SendingLayer::start`]).
    pub(super) started: bool,
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
        self.next = 0;
        while boundary < phase {
            boundary += self.frames[self.next].duration;
            self.next = (self.next + 1) % self.frames.len();
        }
        self.at = now + (boundary - phase);
    }
}

pub(super) struct PendingTrack {
    pub(super) track: LocalTrack,
    pub(super) reply: oneshot::Sender<Result<String, ClientError>>,
}

impl Worker {
    pub(super) async fn add_track(
        &mut self,
        track: LocalTrack,
        reply: oneshot::Sender<Result<String, ClientError>>,
    ) {
        self.next_cid += 1;
        let cid = format!("rust-{}-{}", std::process::id(), self.next_cid);
        let video = track.codec != Codec::Opus;
        let top = track
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
        let req = lk::AddTrackRequest {
            cid: cid.clone(),
            name: track.name.clone(),
            r#type: if video {
                lk::TrackType::Video as i32
            } else {
                lk::TrackType::Audio as i32
            },
            source: match track.source {
                Source::Camera => lk::TrackSource::Camera as i32,
                Source::Microphone => lk::TrackSource::Microphone as i32,
                Source::ScreenShare => lk::TrackSource::ScreenShare as i32,
            },
            width: top.0,
            height: top.1,
            layers,
            ..Default::default()
        };
        if let Err(e) = self.send(Req::AddTrack(req)).await {
            let _ = reply.send(Err(e));
            return;
        }
        self.pending_tracks
            .insert(cid, PendingTrack { track, reply });
    }

    pub(super) async fn unpublish(&mut self, sid: &str) -> Result<(), ClientError> {
        let Some(mid) = self.own_tracks.remove(sid) else {
            return Ok(());
        };
        self.sending.retain(|s| s.mid != mid);
        let mut api = self.publisher.sdp_api();
        api.set_direction(mid, Direction::Inactive);
        if let Some((offer, pending)) = api.apply() {
            self.send_publisher_offer(offer, pending).await?;
        }
        Ok(())
    }

    async fn send_publisher_offer(
        &mut self,
        offer: SdpOffer,
        pending: SdpPendingOffer,
    ) -> Result<(), ClientError> {
        self.publisher_offer = Some(pending);
        self.offer_id += 1;
        let offer = lk::SessionDescription {
            r#type: "offer".into(),
            sdp: offer.to_sdp_string(),
            id: self.offer_id,
            ..Default::default()
        };
        self.send(Req::Offer(offer)).await
    }

    pub(super) async fn negotiate_track(
        &mut self,
        cid: &str,
        track: LocalTrack,
    ) -> Result<Mid, ClientError> {
        let kind = if track.codec == Codec::Opus {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        let simulcast = (track.layers.len() > 1).then(|| {
            let mut s = Simulcast::new();
            for l in &track.layers {
                if let Some(rid) = &l.rid {
                    s.add_send_layer(SimulcastLayer::new(rid));
                }
            }
            s
        });
        let mut api = self.publisher.sdp_api();
        let mid = api.add_media(
            kind,
            Direction::SendOnly,
            Some(format!("stream-{cid}")),
            Some(cid.to_owned()),
            simulcast,
        );
        let Some((offer, pending)) = api.apply() else {
            return Err(ClientError::Media("no offer".into()));
        };
        self.send_publisher_offer(offer, pending).await?;
        let clock = if kind == MediaKind::Audio {
            Frequency::FORTY_EIGHT_KHZ
        } else {
            Frequency::NINETY_KHZ
        };
        let now = Instant::now();
        let codec = match track.codec {
            Codec::Vp8 => StrCodec::Vp8,
            Codec::H264 => StrCodec::H264,
            Codec::Opus => StrCodec::Opus,
        };
        self.sending.push(Sending {
            mid,
            codec,
            muted: false,
            clock,
            layers: track
                .layers
                .into_iter()
                .map(|l| SendingLayer {
                    rid: l.rid.as_deref().map(Rid::from),
                    frames: l.frames,
                    next: 0,
                    at: now,
                    media_time: 0,
                    started: false,
                })
                .collect(),
        });
        Ok(mid)
    }

    /// Sends a frame of live track `sid` (layer `rid`) now.
    pub(super) fn send_live(
        &mut self,
        sid: &str,
        rid: Option<&str>,
        data: Vec<u8>,
        time: Duration,
    ) {
        let Some(mid) = self.own_tracks.get(sid) else {
            return;
        };
        let Some(s) = self.sending.iter().find(|s| s.mid == *mid) else {
            return;
        };
        if !self.publisher_up || s.muted {
            return;
        }
        let ticks = (time.as_secs_f64() * f64::from(s.clock.get())).round() as u64;
        let line = Line {
            mid: s.mid,
            codec: s.codec,
            clock: s.clock,
        };
        let time = MediaTime::new(ticks, s.clock);
        write(
            &mut self.publisher,
            line,
            rid.map(Rid::from),
            Instant::now(),
            time,
            data,
        );
    }

    /// Writes every frame that is due, in real time, looping the files.
    pub(super) fn send_frames(&mut self, now: Instant) {
        if !self.publisher_up {
            return;
        }
        for s in &mut self.sending {
            let line = Line {
                mid: s.mid,
                codec: s.codec,
                clock: s.clock,
            };
            for layer in &mut s.layers {
                if !layer.started && !layer.frames.is_empty() {
                    layer.start(now, now.duration_since(self.epoch));
                }
                while layer.at <= now && !layer.frames.is_empty() {
                    let frame = &layer.frames[layer.next];
                    if s.muted {
                        layer.at += frame.duration;
                        layer.next = (layer.next + 1) % layer.frames.len();
                        continue;
                    }
                    let time = MediaTime::new(layer.media_time, s.clock);
                    if !write(
                        &mut self.publisher,
                        line,
                        layer.rid,
                        now,
                        time,
                        frame.data.clone(),
                    ) {
                        break;
                    }
                    layer.media_time +=
                        (frame.duration.as_secs_f64() * f64::from(s.clock.get())).round() as u64;
                    layer.at += frame.duration;
                    layer.next = (layer.next + 1) % layer.frames.len();
                    // Behind by more than a second (e.g. a stalled machine): skip ahead.
                    if now.duration_since(layer.at) > Duration::from_secs(1) {
                        layer.at = now;
                    }
                }
            }
        }
    }
}

/// Where a track's frames are written.
#[derive(Clone, Copy)]
struct Line {
    mid: Mid,
    codec: StrCodec,
    clock: Frequency,
}

/// Writes one frame of track `s` (layer `rid`); false if it cannot be sent
/// now (the m-line or its codec is not negotiated yet).
fn write(
    publisher: &mut Rtc,
    s: Line,
    rid: Option<Rid>,
    now: Instant,
    time: MediaTime,
    data: Vec<u8>,
) -> bool {
    let Some(writer) = publisher.writer(s.mid) else {
        return false;
    };
    let Some(pt) = writer
        .payload_params()
        .find(|p| p.spec().codec == s.codec)
        .map(|p| p.pt())
    else {
        return false;
    };
    let writer = match rid {
        Some(rid) => writer.rid(rid),
        None => writer,
    };
    // No level is measured: announce audio as steady speech (-20 dBov) so
    // the SFU's speaker detection sees a talker.
    let writer = if s.clock == Frequency::FORTY_EIGHT_KHZ {
        writer.audio_level(-20, true)
    } else {
        writer
    };
    if let Err(e) = writer.write(pt, now, time, data) {
        tracing::debug!(error = %e, "write failed");
    }
    true
}
