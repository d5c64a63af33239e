//! The bench's str0m peers toward Janus: full ICE (Janus is a full ICE
//! agent), a publisher that sends the bench's files in real time (its
//! video paced as OnAir's publishers pace theirs), and a
//! subscriber that only counts SRTP datagrams once it is connected, as the
//! OnAir side's counting subscribers do.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_client::pacer::Pacer;
use onair_client::Frame;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// One layer of a track the publisher sends: its frames, looped.
pub struct Layer {
    /// Its simulcast rid (video only).
    pub rid: Option<&'static str>,
    /// The file's frames.
    pub frames: Vec<Frame>,
}

/// A str0m peer connection on its own UDP socket.
pub struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// Video leaves at a pace, as from OnAir's publishers (onair-client).
    pacer: Pacer<Transmit>,
}

impl Peer {
    /// A peer on a free port of `ip`.
    pub async fn bind(ip: IpAddr) -> Self {
        let socket = UdpSocket::bind((ip, 0)).await.expect("bind");
        // As OnAir's counting subscribers ask (onair-client).
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(1 << 20);
        let local = socket.local_addr().expect("local address");
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let pacer = Pacer::for_connection(&rtc);
        Self {
            rtc,
            socket,
            local,
            pacer,
        }
    }

    /// An offer to send one track (`video`: VP8 with these simulcast rids,
    /// else Opus); its m-line and what takes the answer.
    pub fn offer(&mut self, video: bool, rids: &[&str]) -> (Mid, SdpOffer, SdpPendingOffer) {
        let simulcast = (!rids.is_empty()).then(|| {
            let mut s = Simulcast::new();
            for rid in rids {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let kind = if video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let mut api = self.rtc.sdp_api();
        let mid = api.add_media(kind, Direction::SendOnly, None, None, simulcast);
        let (offer, pending) = api.apply().expect("an offer");
        (mid, offer, pending)
    }

    /// Takes Janus's answer to [`Peer::offer`].
    pub fn accept_answer(&mut self, pending: SdpPendingOffer, sdp: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())
    }

    /// Answers Janus's offer.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, String> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        Ok(answer.to_sdp_string())
    }

    /// Sends `layers` on m-line `mid` in real time, looped, until dropped.
    pub async fn publish(mut self, mid: Mid, video: bool, layers: Vec<Layer>) {
        let (codec, clock) = if video {
            (Codec::Vp8, Frequency::NINETY_KHZ)
        } else {
            (Codec::Opus, Frequency::FORTY_EIGHT_KHZ)
        };
        let mut sending: Vec<Sending> = layers.into_iter().map(Sending::new).collect();
        let mut up = false;
        let mut buf = vec![0u8; 2000];
        loop {
            let now = Instant::now();
            if up {
                for layer in &mut sending {
                    layer.write_due(&mut self.rtc, mid, codec, clock, now);
                }
            }
            let Some(due) = self.drain(&mut up).await else {
                return;
            };
            let mut wake = self.pacer.timeout().unwrap_or(due).min(due);
            if up {
                wake = sending.iter().map(|l| l.due).fold(wake, Instant::min);
            }
            self.wait(due, wake, &mut buf, None, up).await;
        }
    }

    /// Receives until dropped; once connected, SRTP datagrams are only
    /// added to `counted`.
    pub async fn count(mut self, counted: Arc<AtomicU64>) {
        let mut up = false;
        let mut buf = vec![0u8; 2000];
        loop {
            let Some(due) = self.drain(&mut up).await else {
                return;
            };
            self.wait(due, due, &mut buf, Some(&counted), up).await;
        }
    }

    /// Polls str0m until it waits; when it next wants time (None: it ended).
    async fn drain(&mut self, up: &mut bool) -> Option<Instant> {
        loop {
            match self.rtc.poll_output().ok()? {
                Output::Timeout(t) => return Some(t),
                Output::Transmit(t) => {
                    if let Some(t) = self.pacer.push(Instant::now(), t) {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                }
                Output::Event(Event::Connected) => *up = true,
                Output::Event(_) => {}
            }
        }
    }

    /// Waits for a datagram or `wake` (at most 100 ms), hands what came to
    /// str0m (or counts it), and runs str0m's timer if it is `due`.
    async fn wait(
        &mut self,
        due: Instant,
        wake: Instant,
        buf: &mut [u8],
        counted: Option<&AtomicU64>,
        up: bool,
    ) {
        let wake = wake.min(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            received = self.socket.recv_from(buf) => {
                if let Ok((n, source)) = received {
                    let packet = &buf[..n];
                    // RTP and RTCP start with a byte in 128..=191 (RFC 7983).
                    let srtp = matches!(packet.first(), Some(128..=191));
                    match counted {
                        Some(counted) if up && srtp => {
                            counted.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, packet) {
                                let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
                            }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        let now = Instant::now();
        while let Some(t) = self.pacer.poll(now) {
            let _ = self.socket.send_to(&t.contents, t.destination).await;
        }
        if due <= now {
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
    }
}

/// A layer being sent: where in its loop it is.
struct Sending {
    rid: Option<Rid>,
    frames: Vec<Frame>,
    next: usize,
    due: Instant,
    /// Media time of the next frame, in ticks of the track's clock.
    time: u64,
}

impl Sending {
    fn new(layer: Layer) -> Self {
        Self {
            rid: layer.rid.map(Rid::from),
            frames: layer.frames,
            next: 0,
            due: Instant::now(),
            time: 0,
        }
    }

    /// Writes the frames due by `now` (skipping ahead after a stall).
    fn write_due(&mut self, rtc: &mut Rtc, mid: Mid, codec: Codec, clock: Frequency, now: Instant) {
        while self.due <= now && !self.frames.is_empty() {
            let Some(writer) = rtc.writer(mid) else {
                return;
            };
            let Some(pt) = writer
                .payload_params()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
            else {
                return;
            };
            let writer = match self.rid {
                Some(rid) => writer.rid(rid),
                None => writer,
            };
            let frame = &self.frames[self.next];
            let _ = writer.write(
                pt,
                now,
                MediaTime::new(self.time, clock),
                frame.data.clone(),
            );
            self.time += (frame.duration.as_secs_f64() * f64::from(clock.get())).round() as u64;
            self.due += frame.duration;
            self.next = (self.next + 1) % self.frames.len();
            if now.duration_since(self.due) > Duration::from_secs(1) {
                self.due = now;
            }
        }
    }
}
