//! The media half of the Dart client in these tests: a str0m peer
//! connection on a loopback UDP socket standing in for flutter_webrtc's.
//! It makes the SDP a Dart client would hand to its signal connection
//! (the publisher's `_lossy` and `_reliable` data channels first, as
//! `lib/src/core/engine.dart` `_createPeerConnections` creates them, then
//! one sendonly m-line per published track, the camera in simulcast q/h/f),
//! sends real frames from files once connected, and counts what arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use onair_client::Frame;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, Reliability};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// A track to publish: its kind, its client id (the msid track id and the
/// `AddTrackRequest.cid`), and its layers' frames (rid, frames).
pub struct Track {
    pub video: bool,
    pub cid: String,
    pub layers: Vec<(Option<&'static str>, Vec<Frame>)>,
}

struct Sending {
    mid: Mid,
    codec: Codec,
    clock: Frequency,
    layers: Vec<Layer>,
}

struct Layer {
    rid: Option<Rid>,
    frames: Vec<Frame>,
    next: usize,
    due: Instant,
    ticks: u64,
}

#[derive(Default)]
struct Counts {
    connected: bool,
    media: u64,
    by_mid: HashMap<Mid, u64>,
}

struct Inner {
    rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    sending: Vec<Sending>,
    channels_added: bool,
    counts: Counts,
}

/// One peer connection with its socket and its task.
pub struct Peer {
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap()
}

impl Peer {
    /// A peer on a free loopback port, running.
    pub async fn new() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            rtc,
            pending: None,
            sending: Vec::new(),
            channels_added: false,
            counts: Counts::default(),
        }));
        let task = tokio::spawn(run(inner.clone(), socket, local));
        Peer { inner, task }
    }

    /// The publisher offer adding `track` (and, the first time, the data
    /// channels); its frames go out once connected and answered.
    pub fn offer_with(&self, track: Track) -> String {
        let mut inner = lock(&self.inner);
        let first = !inner.channels_added;
        inner.channels_added = true;
        let mut api = inner.rtc.sdp_api();
        if first {
            // engine.dart: lossy (unordered, no retransmits), then reliable.
            api.add_channel_with_config(ChannelConfig {
                label: "_lossy".into(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
            api.add_channel("_reliable".into());
        }
        let kind = if track.video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let simulcast = (track.layers.len() > 1).then(|| {
            let mut s = Simulcast::new();
            for (rid, _) in &track.layers {
                s.add_send_layer(SimulcastLayer::new(rid.unwrap()));
            }
            s
        });
        // flutter_webrtc's msid: a local stream id, then the track id (the cid).
        let stream = format!("stream-{}", track.cid);
        let mid = api.add_media(
            kind,
            Direction::SendOnly,
            Some(stream),
            Some(track.cid.clone()),
            simulcast,
        );
        let (offer, pending) = api.apply().expect("an offer");
        inner.pending = Some(pending);
        let now = Instant::now();
        let (codec, clock) = if track.video {
            (Codec::Vp8, Frequency::NINETY_KHZ)
        } else {
            (Codec::Opus, Frequency::FORTY_EIGHT_KHZ)
        };
        let layers = track
            .layers
            .into_iter()
            .map(|(rid, frames)| Layer {
                rid: rid.map(Rid::from),
                frames,
                next: 0,
                due: now,
                ticks: 0,
            })
            .collect();
        inner.sending.push(Sending {
            mid,
            codec,
            clock,
            layers,
        });
        offer.to_sdp_string()
    }

    /// An offer restarting ICE, as Dart's `resumeConnection` sends for a
    /// publisher (`createAndSendOffer(iceRestart: true)`).
    pub fn ice_restart_offer(&self) -> String {
        let mut inner = lock(&self.inner);
        let mut api = inner.rtc.sdp_api();
        api.ice_restart(true);
        let (offer, pending) = api.apply().expect("an ICE restart offer");
        inner.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// Applies the SFU's answer to our last offer.
    pub fn accept_answer(&self, sdp: &str) {
        let mut inner = lock(&self.inner);
        let pending = inner.pending.take().expect("an offer awaiting its answer");
        let answer = SdpAnswer::from_sdp_string(sdp).expect("a parsable answer");
        inner
            .rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
    }

    /// Answers the SFU's (subscriber) offer.
    pub fn answer(&self, sdp: &str) -> String {
        let mut inner = lock(&self.inner);
        let offer = SdpOffer::from_sdp_string(sdp).expect("a parsable offer");
        inner
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("offer accepted")
            .to_sdp_string()
    }

    /// Frames received so far, all m-lines together.
    pub fn received(&self) -> u64 {
        lock(&self.inner).counts.media
    }

    /// Frames received on each m-line with any.
    pub fn received_by_mid(&self) -> HashMap<String, u64> {
        lock(&self.inner)
            .counts
            .by_mid
            .iter()
            .map(|(m, n)| (m.to_string(), *n))
            .collect()
    }

    /// Waits up to `within` for at least `n` more frames than `from`.
    pub async fn receives(&self, from: u64, n: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.received() >= from + n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The peer's loop: str0m's output to the socket, the socket's datagrams
/// and the clock to str0m, due frames to the writer.
async fn run(inner: Arc<Mutex<Inner>>, socket: UdpSocket, local: SocketAddr) {
    let mut buf = vec![0u8; 2000];
    loop {
        let (transmits, wake) = {
            let mut inner = lock(&inner);
            let now = Instant::now();
            let _ = inner.rtc.handle_input(Input::Timeout(now));
            send_due(&mut inner, now);
            drain(&mut inner)
        };
        for (to, data) in transmits {
            let _ = socket.send_to(&data, to).await;
        }
        let wait = wake
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        if let Ok(Ok((n, from))) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
            if let Ok(receive) = Receive::new(Protocol::Udp, from, local, &buf[..n]) {
                let _ = lock(&inner)
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), receive));
            }
        }
    }
}

/// Polls str0m until it waits: what to send, and when it wants time.
fn drain(inner: &mut Inner) -> (Vec<(SocketAddr, Vec<u8>)>, Instant) {
    let mut out = Vec::new();
    loop {
        match inner.rtc.poll_output() {
            Ok(Output::Timeout(t)) => return (out, t),
            Ok(Output::Transmit(t)) => out.push((t.destination, t.contents.to_vec())),
            Ok(Output::Event(Event::Connected)) => inner.counts.connected = true,
            Ok(Output::Event(Event::MediaData(data))) => {
                inner.counts.media += 1;
                *inner.counts.by_mid.entry(data.mid).or_default() += 1;
            }
            Ok(Output::Event(_)) => {}
            Err(_) => return (out, Instant::now() + Duration::from_millis(10)),
        }
    }
}

/// Writes every frame now due, in real time, looping the files.
fn send_due(inner: &mut Inner, now: Instant) {
    if !inner.counts.connected {
        return;
    }
    let Inner { rtc, sending, .. } = inner;
    for track in sending.iter_mut() {
        for layer in &mut track.layers {
            while layer.due <= now && !layer.frames.is_empty() {
                let frame = &layer.frames[layer.next];
                let Some(writer) = rtc.writer(track.mid) else {
                    break;
                };
                let Some(pt) = writer
                    .payload_params()
                    .find(|p| p.spec().codec == track.codec)
                    .map(|p| p.pt())
                else {
                    break;
                };
                let writer = match layer.rid {
                    Some(rid) => writer.rid(rid),
                    None => writer,
                };
                let time = MediaTime::new(layer.ticks, track.clock);
                let _ = writer.write(pt, now, time, frame.data.clone());
                layer.ticks += (frame.duration.as_secs_f64() * f64::from(track.clock.get())) as u64;
                layer.due += frame.duration;
                layer.next = (layer.next + 1) % layer.frames.len();
                if now.duration_since(layer.due) > Duration::from_secs(1) {
                    layer.due = now;
                }
            }
        }
    }
}
