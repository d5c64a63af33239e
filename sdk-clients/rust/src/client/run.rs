//! The worker's loop. Each turn polls both peer connections until they
//! wait, then waits for whichever comes first: a signal message, a datagram
//! on either socket, commands from the handle, or the earliest deadline
//! (str0m's, the next file frame's, the paced video's, or 200 ms). After
//! handling it, the turn lets time pass: str0m's timers, due file frames,
//! paced video, the ping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use prost::Message as _;
use str0m::media::KeyframeRequestKind;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::{Command, Peer, Worker};
use crate::lock;
use crate::pacer::Pacer;
use crate::signal;
use crate::types::{ClientError, MediaEvent, Stats};

/// The longest a turn waits, so the clock work runs at least this often.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// Commands carried out in one turn at most: a burst (a relay's packets)
/// costs one poll of the connections, not one each.
const COMMAND_BATCH: usize = 64;

/// Receive buffer asked for each socket.
const RECEIVE_BUFFER: usize = 1 << 20;

/// Room for one datagram: WebRTC keeps its packets under a network's MTU.
const DATAGRAM_BUF: usize = 2000;

/// Datagrams one turn takes from a socket at most before the others get theirs.
const DATAGRAM_BATCH: usize = 32;

/// What a turn's wait ended with: go on, or end the session for this reason.
type Turn = ControlFlow<String>;

impl Worker {
    /// Binds both sockets and sets up both peer connections on them.
    pub(super) async fn new(
        ws: signal::Ws,
        stats: Arc<Mutex<Stats>>,
        media_events: Option<mpsc::UnboundedSender<MediaEvent>>,
        ping_interval: Duration,
        rtp_mode: bool,
    ) -> Result<Self, ClientError> {
        let ip = signal::local_ip(&ws);
        let sockets = [bind(ip).await?, bind(ip).await?];
        let local_addr = |s: &UdpSocket| {
            s.local_addr()
                .map_err(|e| ClientError::Media(e.to_string()))
        };
        let locals = [local_addr(&sockets[0])?, local_addr(&sockets[1])?];
        let publisher = new_rtc(locals[Peer::Publisher.index()], rtp_mode)?;
        let pacer = Pacer::for_connection(&publisher);
        Ok(Self {
            ws,
            sockets,
            locals,
            publisher,
            subscriber: new_rtc(locals[Peer::Subscriber.index()], rtp_mode)?,
            stats,
            pending_tracks: HashMap::new(),
            own_track_mids: HashMap::new(),
            publisher_offer: None,
            unoffered: Default::default(),
            last_offer_id: 0,
            sending_tracks: Vec::new(),
            remote_track_by_mid: HashMap::new(),
            packet_names: HashMap::new(),
            publisher_up: false,
            subscriber_up: false,
            last_ping: Instant::now(),
            ping_interval,
            rtp_mode,
            media_events,
            counted: None,
            due: [Instant::now(); 2],
            pacer,
            last_cid: 0,
            epoch: Instant::now(),
        })
    }

    /// Runs the session until it ends (the handle leaves or aborts or is
    /// dropped, the server ends it, or the network fails), then records why.
    pub(super) async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut publisher_buf = vec![0u8; DATAGRAM_BUF];
        let mut subscriber_buf = vec![0u8; DATAGRAM_BUF];
        let reason = loop {
            let wake = match self.poll_peers().await {
                Ok(wake) => wake,
                Err(e) => break e.to_string(),
            };
            let turn = tokio::select! {
                msg = self.ws.next() => self.on_signal(msg).await,
                received = self.sockets[Peer::Publisher.index()].recv_from(&mut publisher_buf) => {
                    self.receive_burst(Peer::Publisher, received, &mut publisher_buf).await
                }
                received = self.sockets[Peer::Subscriber.index()].recv_from(&mut subscriber_buf) => {
                    self.receive_burst(Peer::Subscriber, received, &mut subscriber_buf).await
                }
                command = commands.recv() => self.on_commands(command, &mut commands).await,
                _ = tokio::time::sleep_until(wake.into()) => Turn::Continue(()),
            };
            self.count_packets();
            if let Turn::Break(reason) = turn {
                break reason;
            }
            if let Turn::Break(reason) = self.let_time_pass(Instant::now()).await {
                break reason;
            }
        };
        let mut s = lock(&self.stats);
        s.connected = false;
        if s.closed.is_none() {
            s.closed = Some(reason);
        }
    }

    /// Polls both peer connections until they wait; when the turn should
    /// wake at the latest.
    async fn poll_peers(&mut self) -> Result<Instant, ClientError> {
        self.due[Peer::Publisher.index()] = self.drain(Peer::Publisher).await?;
        self.due[Peer::Subscriber.index()] = self.drain(Peer::Subscriber).await?;
        let mut wake = self.due[0].min(self.due[1]).min(Instant::now() + MAX_WAIT);
        for due in [self.next_frame_due(), self.pacer.timeout()] {
            wake = wake.min(due.unwrap_or(wake));
        }
        Ok(wake)
    }

    /// Handles what the WebSocket gave; a closed or broken one ends the
    /// session, and so does a response the worker cannot go on after.
    async fn on_signal(&mut self, msg: Option<Result<WsMessage, WsError>>) -> Turn {
        match msg {
            Some(Ok(WsMessage::Binary(bytes))) => {
                match lk::SignalResponse::decode(bytes.as_ref()) {
                    Ok(lk::SignalResponse {
                        message: Some(response),
                    }) => {
                        if let Err(e) = self.on_response(response).await {
                            return Turn::Break(e.to_string());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "bad signal message"),
                }
            }
            Some(Ok(WsMessage::Close(_))) | None => return Turn::Break("signal closed".into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Turn::Break(e.to_string()),
        }
        Turn::Continue(())
    }

    /// Carries out `first` and the commands queued behind it (up to
    /// [`COMMAND_BATCH`]), stopping at one that ends the session. str0m
    /// wants every change to a connection followed by a full drain of it,
    /// so each command is; the batch saves the wait between them.
    async fn on_commands(
        &mut self,
        first: Option<Command>,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Turn {
        let mut next = first;
        for n in 1..=COMMAND_BATCH {
            // Media only changes the sending connection.
            let media = matches!(
                next,
                Some(Command::LivePacket { .. } | Command::LiveFrame { .. })
            );
            let mut turn = self.on_command(next).await;
            if !turn.is_break() {
                turn = self.settle(Peer::Publisher).await;
            }
            if !turn.is_break() && !media {
                turn = self.settle(Peer::Subscriber).await;
            }
            if turn.is_break() || n == COMMAND_BATCH {
                return turn;
            }
            match commands.try_recv() {
                Ok(command) => next = Some(command),
                Err(_) => return turn,
            }
        }
        Turn::Continue(())
    }

    /// Drains `peer`'s connection after a change, noting when it next wants time.
    async fn settle(&mut self, peer: Peer) -> Turn {
        match self.drain(peer).await {
            Ok(due) => {
                self.due[peer.index()] = due;
                Turn::Continue(())
            }
            Err(e) => Turn::Break(e.to_string()),
        }
    }

    /// Carries out a command from the handle; the handle gone (`None`)
    /// counts as leaving.
    async fn on_command(&mut self, command: Option<Command>) -> Turn {
        match command {
            Some(Command::Abort) => return Turn::Break("aborted".into()),
            Some(Command::Leave) | None => {
                signal::leave(&mut self.ws).await;
                return Turn::Break("left".into());
            }
            Some(Command::Publish { track, reply }) => self.add_track(track, reply).await,
            Some(Command::Unpublish { track_sid }) => {
                if let Err(e) = self.unpublish(&track_sid).await {
                    tracing::debug!(error = %e, "unpublish failed");
                }
            }
            Some(Command::Subscribe {
                track_sid,
                subscribe,
            }) => {
                let update = lk::UpdateSubscription {
                    track_sids: vec![track_sid],
                    subscribe,
                    ..Default::default()
                };
                let _ = self.send(Req::Subscription(update)).await;
            }
            Some(Command::Keyframe { track_sid }) => self.request_keyframe(&track_sid),
            Some(Command::Mute { track_sid, muted }) => {
                let _ = self.set_muted(track_sid, muted).await;
            }
            Some(Command::UpdateProfile(update)) => {
                let _ = self.send(Req::UpdateMetadata(update)).await;
            }
            Some(Command::LiveFrame {
                track_sid,
                rid,
                data,
                time,
                level,
            }) => self.send_live(&track_sid, (rid.as_deref(), level), data, time),
            Some(Command::LivePacket {
                track_sid,
                rid,
                packet,
            }) => self.send_packet(&track_sid, rid.as_deref(), packet),
            Some(Command::Settings(settings)) => {
                let _ = self.send(Req::TrackSetting(settings)).await;
            }
        }
        Turn::Continue(())
    }

    /// The clock work of a turn: str0m's timers that are due, the file
    /// frames now due, the paced video now due, and the ping when it is
    /// time. A connection's timer runs only when due: a full str0m timeout
    /// per received datagram cost a load test's subscribers more than the
    /// datagrams did.
    async fn let_time_pass(&mut self, now: Instant) -> Turn {
        for peer in [Peer::Publisher, Peer::Subscriber] {
            if self.due[peer.index()] <= now {
                let _ = self.rtc(peer).handle_input(Input::Timeout(now));
                if let Turn::Break(reason) = self.settle(peer).await {
                    return Turn::Break(reason);
                }
            }
        }
        // Each frame written is drained before the next, as str0m wants.
        for track in 0..self.sending_tracks.len() {
            for layer in 0..self.layer_count(track) {
                while self.send_due_frame((track, layer), now) {
                    if let Turn::Break(reason) = self.settle(Peer::Publisher).await {
                        return Turn::Break(reason);
                    }
                }
            }
        }
        while let Some(t) = self.pacer.poll(now) {
            let socket = &self.sockets[Peer::Publisher.index()];
            let _ = socket.send_to(&t.contents, t.destination).await;
        }
        if now.duration_since(self.last_ping) >= self.ping_interval {
            self.last_ping = now;
            let ping = lk::Ping {
                timestamp: now_ms(),
                rtt: 0,
            };
            let _ = self.send(Req::PingReq(ping)).await;
        }
        Turn::Continue(())
    }

    /// Sends a PLI for the remote track `track_sid`, if we receive it.
    fn request_keyframe(&mut self, track_sid: &str) {
        let Some(mid) = self
            .remote_track_by_mid
            .iter()
            .find(|(_, sid)| *sid == track_sid)
            .map(|(mid, _)| *mid)
        else {
            return;
        };
        if self.rtp_mode {
            if let Some(rx) = self.subscriber.direct_api().stream_rx_by_mid(mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
            }
        } else if let Some(mut writer) = self.subscriber.writer(mid) {
            if let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli) {
                tracing::debug!(track = track_sid, error = %e, "keyframe request not sent");
            }
        }
    }

    /// Polls one peer connection until it waits; returns when it next wants time.
    async fn drain(&mut self, peer: Peer) -> Result<Instant, ClientError> {
        loop {
            let output = self
                .rtc(peer)
                .poll_output()
                .map_err(|e| ClientError::Media(e.to_string()))?;
            match output {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    // Packet mode forwards packets at the pace they came.
                    let t = match peer {
                        Peer::Publisher if !self.rtp_mode => self.pacer.push(Instant::now(), t),
                        _ => Some(t),
                    };
                    if let Some(t) = t {
                        let socket = &self.sockets[peer.index()];
                        let _ = socket.send_to(&t.contents, t.destination).await;
                    }
                }
                Output::Event(e) => self.on_event(peer, e),
            }
        }
    }

    /// Hands the datagram `first` that arrived on `peer`'s socket to that
    /// connection, and those queued behind it (up to [`DATAGRAM_BATCH`]):
    /// a frame's packets arrive together, and one turn for all of them
    /// hands its last packet on sooner and costs less than one per packet.
    async fn receive_burst(
        &mut self,
        peer: Peer,
        first: std::io::Result<(usize, SocketAddr)>,
        buf: &mut [u8],
    ) -> Turn {
        let mut received = first;
        for _ in 0..DATAGRAM_BATCH {
            let Ok((n, source)) = received else {
                break;
            };
            if self.receive(peer, source, &buf[..n]) {
                if let Turn::Break(reason) = self.settle(peer).await {
                    return Turn::Break(reason);
                }
            }
            received = self.sockets[peer.index()].try_recv_from(buf);
        }
        Turn::Continue(())
    }

    /// Hands a datagram that arrived on `peer`'s socket to that connection
    /// (false: only counted, or not one for it).
    fn receive(&mut self, peer: Peer, source: SocketAddr, packet: &[u8]) -> bool {
        // RTP and RTCP start with a byte in 128..=191 (RFC 7983).
        let srtp = matches!(packet.first(), Some(128..=191));
        if let (Some(counted), Peer::Subscriber, true, true) =
            (&self.counted, peer, self.subscriber_up, srtp)
        {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        let local = self.locals[peer.index()];
        let Ok(receive) = Receive::new(Protocol::Udp, source, local, packet) else {
            return false;
        };
        let _ = self
            .rtc(peer)
            .handle_input(Input::Receive(Instant::now(), receive));
        true
    }
}

/// A UDP socket on a free port of `ip`, with a receive buffer for a
/// burst (keyframes of every track at once) while the task is not running.
async fn bind(ip: std::net::IpAddr) -> Result<UdpSocket, ClientError> {
    let socket = UdpSocket::bind((ip, 0))
        .await
        .map_err(|e| ClientError::Media(e.to_string()))?;
    // The kernel caps it at net.core.rmem_max; less is still a socket.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER);
    Ok(socket)
}

/// A peer connection on `local` with the codecs OnAir uses (in str0m's
/// RTP mode with `rtp_mode`).
fn new_rtc(local: SocketAddr, rtp_mode: bool) -> Result<Rtc, ClientError> {
    let mut rtc = Rtc::builder()
        .set_rtp_mode(rtp_mode)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_h264(true)
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| ClientError::Media(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    Ok(rtc)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
