//! The real-time client: joins a call over LiveKit's signal protocol and
//! carries media on str0m, as two peer connections (publisher, subscriber),
//! each on its own UDP socket: the SFU answers both from one address, so
//! only the local port tells them apart.
//!
//! A [`Client`] is a handle; the work happens in one task that owns the
//! WebSocket, the socket and both peer connections. What that task does to
//! publish (announce, negotiate, send frames) is in [`publish`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec as StrCodec;
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::files::Codec;
use crate::lock;
use crate::signal::{self, leave_reason, next_response, Ws};
use crate::types::{ClientError, LocalTrack, MediaEvent, RemoteFrame, Stats};
use publish::{PendingTrack, Sending};

mod publish;

enum Cmd {
    Publish {
        track: LocalTrack,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    Quality {
        sid: String,
        quality: u8,
    },
    Subscribe {
        sid: String,
        subscribe: bool,
    },
    Unpublish {
        sid: String,
    },
    Keyframe {
        sid: String,
    },
    Frame {
        sid: String,
        rid: Option<String>,
        data: Vec<u8>,
        time: Duration,
    },
    Leave,
    Abort,
}

/// A participant in a call.
pub struct Client {
    cmd: mpsc::UnboundedSender<Cmd>,
    stats: Arc<Mutex<Stats>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connects to the SFU at `url` (`credentials.url` of a join) with a join `token`.
    pub async fn connect(url: &str, token: &str) -> Result<Client, ClientError> {
        Self::connect_with(url, token, true).await
    }

    /// Like [`Client::connect`]; without `auto_subscribe`, tracks arrive only
    /// after [`Client::subscribe`].
    pub async fn connect_with(
        url: &str,
        token: &str,
        auto_subscribe: bool,
    ) -> Result<Client, ClientError> {
        Self::open(url, token, auto_subscribe, None).await
    }

    /// Like [`Client::connect`], and hands every received frame on (for
    /// recorders and other egress).
    pub async fn connect_receiving(
        url: &str,
        token: &str,
    ) -> Result<(Client, mpsc::UnboundedReceiver<MediaEvent>), ClientError> {
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((Self::open(url, token, true, Some(tx)).await?, rx))
    }

    async fn open(
        url: &str,
        token: &str,
        auto_subscribe: bool,
        media: Option<mpsc::UnboundedSender<MediaEvent>>,
    ) -> Result<Client, ClientError> {
        let mut ws = signal::connect(url, token, auto_subscribe, "rust").await?;
        let join = match tokio::time::timeout(Duration::from_secs(10), next_response(&mut ws)).await
        {
            Ok(Ok(Resp::Join(join))) => join,
            Ok(Ok(Resp::Leave(leave))) => return Err(ClientError::Refused(leave_reason(&leave))),
            Ok(Ok(other)) => {
                return Err(ClientError::Refused(format!(
                    "expected join, got {other:?}"
                )))
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ClientError::Signal("no join response".into())),
        };
        let bind = || async {
            UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(|e| ClientError::Media(e.to_string()))
        };
        let sockets = [bind().await?, bind().await?];
        let stats = Arc::new(Mutex::new(Stats::default()));
        {
            let mut s = lock(&stats);
            s.sid = join
                .participant
                .as_ref()
                .map(|p| p.sid.clone())
                .unwrap_or_default();
            for p in &join.other_participants {
                s.participants.insert(p.identity.clone(), p.sid.clone());
                for t in &p.tracks {
                    s.published.insert(t.sid.clone(), p.identity.clone());
                    if t.r#type == lk::TrackType::Video as i32 {
                        s.video.insert(t.sid.clone());
                    }
                }
            }
        }
        let (cmd, rx) = mpsc::unbounded_channel();
        let mut worker = Worker::new(ws, sockets, stats.clone())?;
        worker.media = media;
        worker.ping_interval = signal::ping_interval(&join);
        let task = tokio::spawn(async move { worker.run(rx).await });
        Ok(Client { cmd, stats, task })
    }

    /// Publishes `track`; returns its track sid once the server accepted it.
    pub async fn publish(&self, track: LocalTrack) -> Result<String, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Publish { track, reply })
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Sends one frame of a live track: one published with no frames (an
    /// empty layer), whose frames the application makes as it goes. `time`
    /// is the frame's media time since the track's first frame; frames are
    /// sent at once, so call this as they are made.
    pub fn send_frame(&self, track_sid: &str, data: Vec<u8>, time: Duration) {
        let _ = self.cmd.send(Cmd::Frame {
            sid: track_sid.to_owned(),
            rid: None,
            data,
            time,
        });
    }

    /// Sends one frame of simulcast layer `rid` of a live track (see
    /// [`Client::send_frame`]).
    pub fn send_layer_frame(&self, track_sid: &str, rid: &str, data: Vec<u8>, time: Duration) {
        let _ = self.cmd.send(Cmd::Frame {
            sid: track_sid.to_owned(),
            rid: Some(rid.to_owned()),
            data,
            time,
        });
    }

    /// Asks for a quality (0 low, 1 medium, 2 high) of a remote video track.
    pub fn set_quality(&self, track_sid: &str, quality: u8) {
        let _ = self.cmd.send(Cmd::Quality {
            sid: track_sid.to_owned(),
            quality,
        });
    }

    /// Stops sending one of our tracks (its m-line goes inactive).
    pub fn unpublish(&self, track_sid: &str) {
        let _ = self.cmd.send(Cmd::Unpublish {
            sid: track_sid.to_owned(),
        });
    }

    /// Asks the publisher of a remote video track for a keyframe (a PLI,
    /// which the SFU passes on).
    pub fn request_keyframe(&self, track_sid: &str) {
        let _ = self.cmd.send(Cmd::Keyframe {
            sid: track_sid.to_owned(),
        });
    }

    /// Starts or stops receiving a remote track.
    pub fn subscribe(&self, track_sid: &str, subscribe: bool) {
        let _ = self.cmd.send(Cmd::Subscribe {
            sid: track_sid.to_owned(),
            subscribe,
        });
    }

    /// Why the server ended the session, once it did (without copying the
    /// rest of the stats).
    pub fn closed(&self) -> Option<String> {
        lock(&self.stats).closed.clone()
    }

    /// A snapshot of what the client has seen.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Waits until `f(stats)` holds, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, Stats> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.stats();
            if f(&s) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops the connection without saying goodbye, as a lost network would.
    pub fn abort(self) {
        // Ahead of the channel closing (which would say goodbye).
        let _ = self.cmd.send(Cmd::Abort);
        self.task.abort();
    }

    /// Leaves the call and waits for the client task to end.
    pub async fn leave(self) {
        let _ = self.cmd.send(Cmd::Leave);
        let _ = self.task.await;
    }
}

struct Worker {
    ws: Ws,
    /// Publisher socket, subscriber socket.
    sockets: [UdpSocket; 2],
    locals: [SocketAddr; 2],
    publisher: Rtc,
    subscriber: Rtc,
    stats: Arc<Mutex<Stats>>,
    pending_tracks: HashMap<String, PendingTrack>,
    /// Our published track sids → their m-lines.
    own_tracks: HashMap<String, Mid>,
    publisher_offer: Option<SdpPendingOffer>,
    offer_id: u32,
    sending: Vec<Sending>,
    sub_mids: HashMap<String, String>,
    publisher_up: bool,
    subscriber_up: bool,
    last_ping: Instant,
    /// How often to ping, as the join response asks.
    ping_interval: Duration,
    /// Where received frames go, if anywhere.
    media: Option<mpsc::UnboundedSender<MediaEvent>>,
    next_cid: u32,
    /// The clock the files play on: time 0 of every file's loop.
    epoch: Instant,
}

fn new_rtc(local: SocketAddr) -> Result<Rtc, ClientError> {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_h264(true)
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| ClientError::Media(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    Ok(rtc)
}

impl Worker {
    fn new(ws: Ws, sockets: [UdpSocket; 2], stats: Arc<Mutex<Stats>>) -> Result<Self, ClientError> {
        let addr = |s: &UdpSocket| {
            s.local_addr()
                .map_err(|e| ClientError::Media(e.to_string()))
        };
        let locals = [addr(&sockets[0])?, addr(&sockets[1])?];
        Ok(Self {
            ws,
            sockets,
            locals,
            publisher: new_rtc(locals[0])?,
            subscriber: new_rtc(locals[1])?,
            stats,
            pending_tracks: HashMap::new(),
            own_tracks: HashMap::new(),
            publisher_offer: None,
            offer_id: 0,
            sending: Vec::new(),
            sub_mids: HashMap::new(),
            publisher_up: false,
            subscriber_up: false,
            last_ping: Instant::now(),
            ping_interval: Duration::from_secs(5),
            media: None,
            next_cid: 0,
            epoch: Instant::now(),
        })
    }

    async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<Cmd>) {
        let mut buf = vec![0u8; 2000];
        let mut buf2 = vec![0u8; 2000];
        let reason = loop {
            let publisher_timeout = match self.drain(true).await {
                Ok(t) => t,
                Err(e) => break e.to_string(),
            };
            let subscriber_timeout = match self.drain(false).await {
                Ok(t) => t,
                Err(e) => break e.to_string(),
            };
            let next_frame = self
                .sending
                .iter()
                .flat_map(|s| s.layers.iter())
                // Live layers (no frames) send when frames come, not on a clock.
                .filter(|l| !l.frames.is_empty())
                .map(|l| l.at)
                .min();
            let mut wake = publisher_timeout
                .min(subscriber_timeout)
                .min(Instant::now() + Duration::from_millis(200));
            if let Some(f) = next_frame {
                wake = wake.min(f);
            }
            tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(WsMessage::Binary(bytes))) => match lk::SignalResponse::decode(bytes.as_ref()) {
                        Ok(resp) => if let Some(m) = resp.message {
                            if let Err(e) = self.response(m).await { break e.to_string() }
                        },
                        Err(e) => tracing::debug!(error = %e, "bad signal message"),
                    },
                    Some(Ok(WsMessage::Close(_))) | None => break "signal closed".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                },
                received = self.sockets[0].recv_from(&mut buf) => {
                    if let Ok((n, source)) = received {
                        self.receive(true, source, &buf[..n]);
                    }
                }
                received = self.sockets[1].recv_from(&mut buf2) => {
                    if let Ok((n, source)) = received {
                        self.receive(false, source, &buf2[..n]);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Cmd::Abort) => break "aborted".into(),
                    Some(Cmd::Leave) | None => {
                        signal::leave(&mut self.ws).await;
                        break "left".into();
                    }
                    Some(Cmd::Publish { track, reply }) => self.add_track(track, reply).await,
                    Some(Cmd::Unpublish { sid }) => {
                        if let Err(e) = self.unpublish(&sid).await {
                            tracing::debug!(error = %e, "unpublish failed");
                        }
                    }
                    Some(Cmd::Subscribe { sid, subscribe }) => {
                        let update = lk::UpdateSubscription { track_sids: vec![sid], subscribe, ..Default::default() };
                        let _ = self.send(Req::Subscription(update)).await;
                    }
                    Some(Cmd::Keyframe { sid }) => self.request_keyframe(&sid),
                    Some(Cmd::Frame { sid, rid, data, time }) => self.send_live(&sid, rid.as_deref(), data, time),
                    Some(Cmd::Quality { sid, quality }) => {
                        let settings = lk::UpdateTrackSettings { track_sids: vec![sid], quality: i32::from(quality), ..Default::default() };
                        let _ = self.send(Req::TrackSetting(settings)).await;
                    }
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            for rtc in [&mut self.publisher, &mut self.subscriber] {
                let _ = rtc.handle_input(Input::Timeout(now));
            }
            self.send_frames(now);
            if now.duration_since(self.last_ping) >= self.ping_interval {
                self.last_ping = now;
                let ping = lk::Ping {
                    timestamp: now_ms(),
                    rtt: 0,
                };
                let _ = self.send(Req::PingReq(ping)).await;
            }
        };
        let mut s = lock(&self.stats);
        s.connected = false;
        if s.closed.is_none() {
            s.closed = Some(reason);
        }
    }

    async fn send(&mut self, msg: Req) -> Result<(), ClientError> {
        signal::send(&mut self.ws, msg).await
    }

    /// Sends a PLI for the remote track `sid`, if we receive it.
    fn request_keyframe(&mut self, sid: &str) {
        let Some(mid) = self
            .sub_mids
            .iter()
            .find(|(_, s)| *s == sid)
            .map(|(m, _)| m)
        else {
            return;
        };
        if let Some(mut writer) = self.subscriber.writer(Mid::from(mid.as_str())) {
            if let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli) {
                tracing::debug!(track = sid, error = %e, "keyframe request not sent");
            }
        }
    }

    /// Polls one peer connection until it waits; returns when it next wants time.
    async fn drain(&mut self, publisher: bool) -> Result<Instant, ClientError> {
        loop {
            let rtc = if publisher {
                &mut self.publisher
            } else {
                &mut self.subscriber
            };
            match rtc
                .poll_output()
                .map_err(|e| ClientError::Media(e.to_string()))?
            {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    let socket = &self.sockets[usize::from(!publisher)];
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => self.event(publisher, e),
            }
        }
    }

    fn event(&mut self, publisher: bool, event: Event) {
        match event {
            Event::Connected => {
                if publisher {
                    self.publisher_up = true;
                } else {
                    self.subscriber_up = true;
                }
                lock(&self.stats).connected =
                    self.subscriber_up && (self.publisher_up || self.sending.is_empty());
            }
            Event::KeyframeRequest(_) if publisher => lock(&self.stats).keyframe_requests += 1,
            Event::MediaData(data) if !publisher => {
                let Some(sid) = self.sub_mids.get(&data.mid.to_string()).cloned() else {
                    return;
                };
                let mut s = lock(&self.stats);
                let identity = s.published.get(&sid).cloned().unwrap_or_default();
                let keyframe = data.is_keyframe();
                let codec = match data.params.spec().codec {
                    StrCodec::Opus => Some(Codec::Opus),
                    StrCodec::Vp8 => Some(Codec::Vp8),
                    StrCodec::H264 => Some(Codec::H264),
                    _ => None,
                };
                if let (Some(media), Some(codec)) = (&self.media, codec) {
                    let _ = media.send(MediaEvent::Frame(RemoteFrame {
                        track_sid: sid.clone(),
                        identity: identity.clone(),
                        codec,
                        keyframe,
                        media_time: data.time.as_seconds(),
                        arrival: data.network_time,
                        data: data.data.clone(),
                    }));
                }
                let t = s.tracks.entry(sid).or_default();
                t.identity = identity;
                t.kind = if codec == Some(Codec::Opus) {
                    "audio".into()
                } else {
                    "video".into()
                };
                t.codec = codec;
                t.frames += 1;
                t.packets += (**data.seq_range.end()).saturating_sub(**data.seq_range.start()) + 1;
                if keyframe {
                    t.keyframes += 1;
                    if let Some(w) = vp8_width(&data.data).filter(|_| codec == Some(Codec::Vp8)) {
                        t.width = w;
                    }
                }
            }
            Event::ChannelData(d) if !publisher => {
                if let Ok(packet) = lk::DataPacket::decode(d.data.as_slice()) {
                    if let Some(lk::data_packet::Value::User(user)) = packet.value {
                        lock(&self.stats)
                            .data
                            .push((packet.participant_identity, user.payload));
                    }
                }
            }
            _ => {}
        }
    }

    fn receive(&mut self, publisher: bool, source: SocketAddr, packet: &[u8]) {
        let local = self.locals[usize::from(!publisher)];
        let Ok(receive) = Receive::new(Protocol::Udp, source, local, packet) else {
            return;
        };
        let rtc = if publisher {
            &mut self.publisher
        } else {
            &mut self.subscriber
        };
        let _ = rtc.handle_input(Input::Receive(Instant::now(), receive));
    }

    async fn response(&mut self, msg: Resp) -> Result<(), ClientError> {
        match msg {
            Resp::Offer(offer) => {
                self.sub_mids.extend(offer.mid_to_track_id.clone());
                let parsed = SdpOffer::from_sdp_string(&offer.sdp)
                    .map_err(|e| ClientError::Media(e.to_string()))?;
                let answer = self
                    .subscriber
                    .sdp_api()
                    .accept_offer(parsed)
                    .map_err(|e| ClientError::Media(e.to_string()))?;
                let answer = lk::SessionDescription {
                    r#type: "answer".into(),
                    sdp: answer.to_sdp_string(),
                    id: offer.id,
                    ..Default::default()
                };
                self.send(Req::Answer(answer)).await?;
            }
            Resp::Answer(answer) => {
                if let Some(pending) = self.publisher_offer.take() {
                    let parsed = SdpAnswer::from_sdp_string(&answer.sdp)
                        .map_err(|e| ClientError::Media(e.to_string()))?;
                    self.publisher
                        .sdp_api()
                        .accept_answer(pending, parsed)
                        .map_err(|e| ClientError::Media(e.to_string()))?;
                }
            }
            Resp::TrackPublished(published) => {
                let Some(pending) = self.pending_tracks.remove(&published.cid) else {
                    return Ok(());
                };
                let Some(info) = published.track else {
                    return Ok(());
                };
                let mid = self.negotiate_track(&published.cid, pending.track).await?;
                self.own_tracks.insert(info.sid.clone(), mid);
                let _ = pending.reply.send(Ok(info.sid));
            }
            Resp::RequestResponse(r) => {
                let refused: Vec<String> = self.pending_tracks.keys().cloned().collect();
                for cid in refused {
                    if let Some(p) = self.pending_tracks.remove(&cid) {
                        let _ = p.reply.send(Err(ClientError::Refused(r.message.clone())));
                    }
                }
            }
            Resp::Update(update) => {
                let mut s = lock(&self.stats);
                for p in update.participants {
                    if p.sid == s.sid {
                        continue;
                    }
                    // The update carries the full track list of that participant.
                    let before: Vec<String> = s
                        .published
                        .iter()
                        .filter(|(_, who)| **who == p.identity)
                        .map(|(sid, _)| sid.clone())
                        .collect();
                    let left = p.state == lk::participant_info::State::Disconnected as i32;
                    for sid in before {
                        if left || !p.tracks.iter().any(|t| t.sid == sid) {
                            if let Some(media) = &self.media {
                                let _ = media.send(MediaEvent::TrackGone { track_sid: sid });
                            }
                        }
                    }
                    if left {
                        s.participants.remove(&p.identity);
                        s.published.retain(|_, who| who != &p.identity);
                    } else {
                        s.participants.insert(p.identity.clone(), p.sid.clone());
                        s.published.retain(|_, who| who != &p.identity);
                        for t in &p.tracks {
                            if t.muted {
                                s.muted.insert(t.sid.clone());
                            } else {
                                s.muted.remove(&t.sid);
                            }
                            s.published.insert(t.sid.clone(), p.identity.clone());
                            if t.r#type == lk::TrackType::Video as i32 {
                                s.video.insert(t.sid.clone());
                            }
                        }
                    }
                }
                let Stats {
                    video, published, ..
                } = &mut *s;
                video.retain(|sid| published.contains_key(sid));
            }
            Resp::SpeakersChanged(sc) => {
                let mut s = lock(&self.stats);
                // The SFU lists speakers loudest first.
                if let Some(media) = &self.media {
                    let loudest = sc.speakers.iter().find(|sp| sp.active).and_then(|sp| {
                        s.participants
                            .iter()
                            .find(|(_, sid)| **sid == sp.sid)
                            .map(|(identity, _)| identity.clone())
                    });
                    let _ = media.send(MediaEvent::Speaker { identity: loudest });
                }
                for sp in sc.speakers {
                    s.speakers.retain(|x| x != &sp.sid);
                    if sp.active {
                        s.speakers.push(sp.sid);
                    }
                }
            }
            Resp::Mute(m) => {
                // A moderator muted us: comply and confirm, as livekit-client does.
                if let Some(mid) = self.own_tracks.get(&m.sid) {
                    for s in self.sending.iter_mut().filter(|s| s.mid == *mid) {
                        s.muted = m.muted;
                    }
                    self.send(Req::Mute(lk::MuteTrackRequest {
                        sid: m.sid,
                        muted: m.muted,
                    }))
                    .await?;
                }
            }
            Resp::Leave(leave) => {
                lock(&self.stats).closed = Some(leave_reason(&leave));
                return Err(ClientError::Refused("server asked us to leave".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Width from a VP8 keyframe header (RFC 6386 §9.1).
fn vp8_width(frame: &[u8]) -> Option<u32> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    Some(u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
