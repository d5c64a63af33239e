//! The media worker: one thread, one UDP socket, every peer connection.
//!
//! A packet reaches its peer by our ICE ufrag (the first STUN binding
//! request names it) and afterwards by its source address: two hash
//! lookups, no scan over peers and no lock. Forwarding rewrites each RTP
//! packet per subscriber ([`DownTrack`]) and hands str0m the shared payload
//! (`Arc<[u8]>`), so the loop allocates nothing per forwarded packet.
//! Every str0m call is wrapped in `catch_unwind`: a panicking peer is
//! dropped, the others carry on.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use prost::Message;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::format::{detect_h264_keyframe, detect_vp8_keyframe, Codec};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};
use tokio::sync::mpsc;

use super::downtrack::{DownTrack, Incoming, Vp8Ids};
use super::{
    choose_layer, layer_of_rid, Command, ForwardStats, Kind, Notice, Pid, TrackSpec, Want,
};
use crate::sdp_scan::msid_tracks;

/// Largest datagram we read.
const MTU: usize = 2000;
/// How often speaker levels are recomputed.
const SPEAKER_INTERVAL: Duration = Duration::from_millis(400);
/// Keyframe requests for one layer are at most this frequent.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// A layer not seen for this long counts as not flowing.
const LAYER_STALE: Duration = Duration::from_secs(2);
/// Most datagrams read per wake-up.
const RECV_BATCH: usize = 64;
/// How often connection timeouts and speakers are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// A peer that never connects is dropped after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which of a participant's two peer connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Role {
    Publisher,
    Subscriber,
}

/// A peer connection: participant + role.
type PeerId = (Pid, Role);

struct Peer {
    rtc: Rtc,
    ufrag: String,
    next_timeout: Instant,
    created: Instant,
    connected: bool,
    /// Data channel ids by label (`_reliable`, `_lossy`).
    channels: HashMap<String, ChannelId>,
    labels: HashMap<ChannelId, String>,
}

/// A track being published, with everyone receiving it.
struct PubTrack {
    publisher: Pid,
    spec: TrackSpec,
    mid: Mid,
    clock_rate: u32,
    /// Last packet per layer (simulcast index), to know which layers flow.
    seen: [Option<Instant>; 3],
    last_pli: [Option<Instant>; 3],
    downs: Vec<Down>,
}

/// One track toward one subscriber.
struct Down {
    sub: Pid,
    mid: Option<Mid>,
    want: Want,
    track: DownTrack,
    /// Publisher PT → subscriber PT (resolved on first use).
    pts: Vec<(Pt, Pt)>,
}

/// A change to a subscriber's peer connection, waiting for the next offer.
enum SubChange {
    Add {
        sid: String,
        stream: String,
        kind: Kind,
    },
    Remove {
        mid: Mid,
    },
}

struct Participant {
    room: String,
    identity: String,
    sid: String,
    notices: mpsc::UnboundedSender<Notice>,
    expected: Vec<TrackSpec>,
    /// Publisher m-line → our track sid.
    published: HashMap<Mid, String>,
    pending_offer: Option<SdpPendingOffer>,
    changes: Vec<SubChange>,
    /// Subscriber m-line → track sid, for the client's track mapping.
    sub_mids: HashMap<Mid, String>,
    /// Smoothed audio level (0..1) and when it was last heard.
    level: f32,
    heard: Option<Instant>,
    speaking: bool,
    /// Bandwidth estimate toward this subscriber (TWCC), bits per second.
    estimate: Option<u64>,
    /// May send data packets.
    can_publish_data: bool,
}

struct Worker {
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    peers: HashMap<PeerId, Peer>,
    by_ufrag: HashMap<String, PeerId>,
    by_addr: HashMap<SocketAddr, PeerId>,
    participants: HashMap<Pid, Participant>,
    /// (publisher, publisher m-line) → track: one hash lookup per packet.
    tracks: HashMap<(Pid, Mid), PubTrack>,
    events: Vec<(PeerId, Event)>,
    last_speakers: Instant,
    forwarded: u64,
    delay_us: hdrhistogram::Histogram<u64>,
    /// Reused list of peers whose timer is due.
    due: Vec<PeerId>,
    last_housekeeping: Instant,
}

/// Runs the worker until every command sender is gone.
pub fn run(
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    commands: mpsc::UnboundedReceiver<Command>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "media worker cannot start");
            return;
        }
    };
    runtime.block_on(async move {
        let send_socket = match socket.try_clone() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "media socket");
                return;
            }
        };
        let recv_socket = match tokio::net::UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "media socket");
                return;
            }
        };
        let mut worker = Worker {
            socket: send_socket,
            candidates,
            peers: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            participants: HashMap::new(),
            tracks: HashMap::new(),
            events: Vec::new(),
            last_speakers: Instant::now(),
            forwarded: 0,
            delay_us: new_histogram(),
            due: Vec::new(),
            last_housekeeping: Instant::now(),
        };
        worker.run(recv_socket, commands).await;
    });
}

impl Worker {
    async fn run(
        &mut self,
        socket: tokio::net::UdpSocket,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut buf = vec![0u8; MTU];
        loop {
            let next = self
                .peers
                .values()
                .map(|p| p.next_timeout)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
                .min(Instant::now() + Duration::from_millis(100));
            tokio::select! {
                ready = socket.readable() => {
                    if let Err(e) = ready {
                        tracing::debug!(error = %e, "udp readiness");
                    }
                    // Take what the kernel holds before waiting again: one
                    // wake-up, many packets.
                    for _ in 0..RECV_BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => self.receive(source, &buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                tracing::debug!(error = %e, "udp receive");
                                break;
                            }
                        }
                    }
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                _ = tokio::time::sleep_until(next.into()) => {}
            }
            self.timeouts();
            self.housekeeping();
        }
    }

    // ---------------------------------------------------------------- packets

    fn receive(&mut self, source: SocketAddr, packet: &[u8]) {
        let id = match self.by_addr.get(&source) {
            Some(id) => *id,
            None => {
                let Some(id) = crate::stun::local_ufrag(packet)
                    .and_then(|u| self.by_ufrag.get(u))
                    .copied()
                else {
                    tracing::trace!(%source, "packet from unknown peer dropped");
                    return;
                };
                id
            }
        };
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let destination = self.candidates.first().copied().unwrap_or(source);
        let Ok(input) = Receive::new(Protocol::Udp, source, destination, packet) else {
            tracing::debug!(%source, "malformed datagram dropped");
            return;
        };
        let input = Input::Receive(Instant::now(), input);
        if !peer.rtc.accepts(&input) {
            tracing::trace!(%source, "packet not for this peer");
            return;
        }
        self.by_addr.entry(source).or_insert(id);
        let ok = match self.peers.get_mut(&id) {
            Some(peer) => catch_unwind(AssertUnwindSafe(|| peer.rtc.handle_input(input))),
            None => return,
        };
        match ok {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(pid = id.0, error = %e, "peer input error"),
            Err(_) => return self.fail(id.0, "peer panicked on input"),
        }
        self.drain(id);
        self.process_events();
    }

    /// Polls a peer until it has nothing more to say; transmits go out at once.
    fn drain(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let socket = &self.socket;
        let events = &mut self.events;
        let result = catch_unwind(AssertUnwindSafe(|| loop {
            match peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    peer.next_timeout = t;
                    return Ok(());
                }
                Ok(Output::Transmit(t)) => {
                    if let Err(e) = socket.send_to(&t.contents, t.destination) {
                        tracing::trace!(error = %e, "udp send");
                    }
                }
                Ok(Output::Event(e)) => events.push((id, e)),
                Err(e) => return Err(e.to_string()),
            }
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(id.0, &format!("peer error: {e}")),
            Err(_) => self.fail(id.0, "peer panicked"),
        }
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        let mut due = std::mem::take(&mut self.due);
        due.extend(
            self.peers
                .iter()
                .filter(|(_, p)| p.next_timeout <= now)
                .map(|(id, _)| *id),
        );
        for id in due.drain(..) {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                peer.rtc.handle_input(Input::Timeout(now))
            }));
            if result.is_err() {
                self.fail(id.0, "peer panicked on timeout");
                continue;
            }
            self.drain(id);
        }
        self.due = due;
        self.process_events();
    }

    fn process_events(&mut self) {
        while !self.events.is_empty() {
            let mut events = std::mem::take(&mut self.events);
            for (id, event) in events.drain(..) {
                self.event(id, event);
            }
            // Keep the allocation for next time.
            if self.events.is_empty() {
                self.events = events;
            }
        }
    }

    fn event(&mut self, id: PeerId, event: Event) {
        match event {
            Event::Connected => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.connected = true;
                }
                tracing::debug!(pid = id.0, role = ?id.1, "peer connected");
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::debug!(pid = id.0, role = ?id.1, "ice disconnected");
            }
            Event::RtpPacket(packet) if id.1 == Role::Publisher => self.forward(id.0, packet),
            Event::KeyframeRequest(req) if id.1 == Role::Subscriber => {
                self.keyframe_for(id.0, req.mid)
            }
            Event::ChannelOpen(channel, label) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.channels.insert(label.clone(), channel);
                    p.labels.insert(channel, label);
                }
            }
            Event::ChannelData(data) if id.1 == Role::Publisher => {
                self.relay_data(id.0, data.id, &data.data)
            }
            Event::MediaAdded(added)
                if id.1 == Role::Publisher
                    && matches!(added.direction, Direction::RecvOnly | Direction::SendRecv) =>
            {
                self.media_added(id.0, added.mid);
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                tracing::trace!(pid = id.0, bps = estimate.as_u64(), "bandwidth estimate");
                if let Some(p) = self.participants.get_mut(&id.0) {
                    p.estimate = Some(estimate.as_u64());
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------- commands

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                pid,
                room,
                identity,
                sid,
                can_publish_data,
                notices,
                reply,
            } => {
                let result = self.join(pid, room, identity, sid, notices);
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.can_publish_data = can_publish_data;
                }
                let _ = reply.send(result);
            }
            Command::PublisherOffer { pid, sdp, reply } => {
                let result = self.publisher_offer(pid, &sdp);
                let _ = reply.send(result);
                self.process_events();
            }
            Command::SubscriberAnswer { pid, sdp } => self.subscriber_answer(pid, &sdp),
            Command::ExpectTrack { pid, spec } => {
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.expected.push(spec);
                }
            }
            Command::Subscribe {
                pid,
                publisher,
                sid,
                stream,
            } => self.subscribe(pid, publisher, sid, stream),
            Command::Unsubscribe { pid, sid } => self.unsubscribe(pid, &sid),
            Command::Settings { pid, sid, want } => self.settings(pid, &sid, want),
            Command::Leave { pid } => self.leave(pid),
            Command::Stats { reply } => {
                let stats = ForwardStats {
                    forwarded: std::mem::take(&mut self.forwarded),
                    delay_us: std::mem::replace(&mut self.delay_us, new_histogram()),
                    // SAFETY: gettid has no preconditions.
                    thread_id: unsafe { libc::gettid() },
                };
                let _ = reply.send(stats);
            }
        }
    }

    fn new_rtc(&mut self, pid: Pid, role: Role) -> Result<(), String> {
        let ufrag = crate::ids::random(16);
        let creds = IceCreds {
            ufrag: ufrag.clone(),
            pass: crate::ids::random(32),
        };
        let now = Instant::now();
        let mut rtc = catch_unwind(|| {
            Rtc::builder()
                .set_ice_lite(true)
                .set_rtp_mode(true)
                .set_local_ice_credentials(creds)
                .clear_codecs()
                .enable_opus(true, false)
                .enable_vp8(true)
                .enable_h264(true)
                .enable_bwe((role == Role::Subscriber).then(|| Bitrate::kbps(1500)))
                .build(now)
        })
        .map_err(|_| "cannot create peer connection".to_owned())?;
        for c in &self.candidates {
            let candidate = Candidate::host(*c, "udp").map_err(|e| e.to_string())?;
            rtc.add_local_candidate(candidate);
        }
        self.by_ufrag.insert(ufrag.clone(), (pid, role));
        self.peers.insert(
            (pid, role),
            Peer {
                rtc,
                ufrag,
                next_timeout: now,
                created: now,
                connected: false,
                channels: HashMap::new(),
                labels: HashMap::new(),
            },
        );
        Ok(())
    }

    fn join(
        &mut self,
        pid: Pid,
        room: String,
        identity: String,
        sid: String,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Result<String, String> {
        self.new_rtc(pid, Role::Publisher)?;
        self.new_rtc(pid, Role::Subscriber)?;
        self.participants.insert(
            pid,
            Participant {
                room,
                identity,
                sid,
                notices,
                expected: Vec::new(),
                published: HashMap::new(),
                pending_offer: None,
                changes: Vec::new(),
                sub_mids: HashMap::new(),
                level: 0.0,
                heard: None,
                speaking: false,
                estimate: None,
                can_publish_data: false,
            },
        );
        // The first subscriber offer carries the data channels, so even a
        // participant that never publishes can receive data.
        let peer = self
            .peers
            .get_mut(&(pid, Role::Subscriber))
            .ok_or("no subscriber")?;
        let offer = catch_unwind(AssertUnwindSafe(|| {
            let mut api = peer.rtc.sdp_api();
            api.add_channel("_reliable".into());
            api.add_channel_with_config(ChannelConfig {
                label: "_lossy".into(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
            api.apply()
        }))
        .map_err(|_| "subscriber offer panicked".to_owned())?;
        let (offer, pending) = offer.ok_or("no subscriber offer")?;
        if let Some(p) = self.participants.get_mut(&pid) {
            p.pending_offer = Some(pending);
        }
        self.drain((pid, Role::Subscriber));
        Ok(offer.to_sdp_string())
    }

    fn publisher_offer(&mut self, pid: Pid, sdp: &str) -> Result<String, String> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| format!("bad offer: {e}"))?;
        let tracks = msid_tracks(sdp);
        let peer = self
            .peers
            .get_mut(&(pid, Role::Publisher))
            .ok_or("unknown participant")?;
        let answer = catch_unwind(AssertUnwindSafe(|| peer.rtc.sdp_api().accept_offer(offer)))
            .map_err(|_| "offer handling panicked".to_owned())?
            .map_err(|e| format!("offer refused: {e}"))?;
        // Remember which client track each m-line carries before MediaAdded fires.
        if let Some(p) = self.participants.get_mut(&pid) {
            for (mid, cid) in tracks {
                if let Some(pos) = p.expected.iter().position(|s| s.cid == cid) {
                    let spec = p.expected.remove(pos);
                    let mid = Mid::from(mid.as_str());
                    p.published.insert(mid, spec.sid.clone());
                    p.expected.push(spec); // kept until the track is created in media_added
                }
            }
        }
        self.drain((pid, Role::Publisher));
        Ok(answer.to_sdp_string())
    }

    fn media_added(&mut self, pid: Pid, mid: Mid) {
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        let Some(sid) = p.published.get(&mid).cloned() else {
            tracing::debug!(pid, %mid, "m-line without an announced track");
            return;
        };
        let Some(pos) = p.expected.iter().position(|s| s.sid == sid) else {
            return;
        };
        let spec = p.expected.remove(pos);
        let peer = self.peers.get(&(pid, Role::Publisher));
        let (clock_rate, mime) = peer
            .and_then(|peer| {
                peer.rtc
                    .codec_config()
                    .params()
                    .iter()
                    .find(|pp| {
                        let k = if spec.kind == Kind::Audio {
                            MediaKind::Audio
                        } else {
                            MediaKind::Video
                        };
                        pp.spec().codec.kind() == k
                    })
                    .map(|pp| (pp.spec().clock_rate.get(), pp.spec().codec.to_string()))
            })
            .unwrap_or((90_000, String::new()));
        tracing::info!(pid, sid = %sid, %mid, "track published");
        let _ = p.notices.send(Notice::TrackLive {
            sid: sid.clone(),
            mid: mid.to_string(),
            mime: mime.to_lowercase(),
        });
        self.tracks.insert(
            (pid, mid),
            PubTrack {
                publisher: pid,
                spec,
                mid,
                clock_rate,
                seen: [None; 3],
                last_pli: [None; 3],
                downs: Vec::new(),
            },
        );
    }

    fn subscriber_answer(&mut self, pid: Pid, sdp: &str) {
        let Some(pending) = self
            .participants
            .get_mut(&pid)
            .and_then(|p| p.pending_offer.take())
        else {
            tracing::debug!(pid, "answer without a pending offer");
            return;
        };
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(a) => a,
            Err(e) => {
                tracing::info!(pid, error = %e, "bad subscriber answer");
                return;
            }
        };
        let Some(peer) = self.peers.get_mut(&(pid, Role::Subscriber)) else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            peer.rtc.sdp_api().accept_answer(pending, answer)
        }));
        match result {
            Ok(Ok(())) => tracing::debug!(pid, "subscriber answer accepted"),
            Ok(Err(e)) => tracing::info!(pid, error = %e, "subscriber answer refused"),
            Err(_) => return self.fail(pid, "answer handling panicked"),
        }
        self.drain((pid, Role::Subscriber));
        self.renegotiate(pid);
        self.process_events();
    }

    fn subscribe(&mut self, pid: Pid, publisher: Pid, sid: String, stream: String) {
        let Some(track) = self
            .tracks
            .values_mut()
            .find(|t| t.publisher == publisher && t.spec.sid == sid)
        else {
            tracing::debug!(pid, sid = %sid, "subscribe to unknown track");
            return;
        };
        if track.downs.iter().any(|d| d.sub == pid) {
            return;
        }
        tracing::debug!(pid, publisher, sid = %sid, "subscribe");
        let want = if track.spec.kind == Kind::Audio {
            Want::Quality(0)
        } else {
            Want::Quality(2)
        };
        track.downs.push(Down {
            sub: pid,
            mid: None,
            want,
            track: DownTrack::new(track.clock_rate, None),
            pts: Vec::new(),
        });
        let kind = track.spec.kind;
        if let Some(p) = self.participants.get_mut(&pid) {
            p.changes.push(SubChange::Add { sid, stream, kind });
        }
        self.update_desired(pid);
        self.renegotiate(pid);
    }

    fn unsubscribe(&mut self, pid: Pid, sid: &str) {
        let mut removed = None;
        for track in self.tracks.values_mut().filter(|t| t.spec.sid == sid) {
            if let Some(pos) = track.downs.iter().position(|d| d.sub == pid) {
                removed = track.downs.remove(pos).mid;
            }
        }
        if let (Some(mid), Some(p)) = (removed, self.participants.get_mut(&pid)) {
            p.sub_mids.remove(&mid);
            p.changes.push(SubChange::Remove { mid });
            self.renegotiate(pid);
        }
        self.update_desired(pid);
    }

    fn settings(&mut self, pid: Pid, sid: &str, want: Want) {
        for track in self.tracks.values_mut().filter(|t| t.spec.sid == sid) {
            if let Some(d) = track.downs.iter_mut().find(|d| d.sub == pid) {
                d.want = want;
            }
        }
        self.update_desired(pid);
    }

    /// Sends the subscriber a new offer with the queued changes, unless one is in flight.
    fn renegotiate(&mut self, pid: Pid) {
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        if p.pending_offer.is_some() || p.changes.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut p.changes);
        let Some(peer) = self.peers.get_mut(&(pid, Role::Subscriber)) else {
            return;
        };
        let mut added: Vec<(Mid, String)> = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut api = peer.rtc.sdp_api();
            for change in &changes {
                match change {
                    SubChange::Add { sid, stream, kind } => {
                        let k = if *kind == Kind::Audio {
                            MediaKind::Audio
                        } else {
                            MediaKind::Video
                        };
                        let mid = api.add_media(
                            k,
                            Direction::SendOnly,
                            Some(stream.clone()),
                            Some(sid.clone()),
                            None,
                        );
                        added.push((mid, sid.clone()));
                    }
                    SubChange::Remove { mid } => api.stop_media(*mid),
                }
            }
            api.apply()
        }));
        let Ok(applied) = result else {
            return self.fail(pid, "renegotiation panicked");
        };
        for (mid, sid) in &added {
            p.sub_mids.insert(*mid, sid.clone());
            for track in self.tracks.values_mut().filter(|t| &t.spec.sid == sid) {
                if let Some(d) = track
                    .downs
                    .iter_mut()
                    .find(|d| d.sub == pid && d.mid.is_none())
                {
                    d.mid = Some(*mid);
                }
            }
        }
        if let Some((offer, pending)) = applied {
            tracing::debug!(pid, tracks = p.sub_mids.len(), "subscriber offer");
            p.pending_offer = Some(pending);
            let mid_to_track = p
                .sub_mids
                .iter()
                .map(|(m, s)| (m.to_string(), s.clone()))
                .collect();
            let _ = p.notices.send(Notice::SubscriberOffer {
                sdp: offer.to_sdp_string(),
                mid_to_track,
            });
        }
        self.drain((pid, Role::Subscriber));
    }

    /// Tells the subscriber's bandwidth estimator what its subscriptions
    /// need (the wanted layers' bitrates), so it probes only for that.
    fn update_desired(&mut self, pid: Pid) {
        let mut desired: u64 = 0;
        for track in self.tracks.values() {
            for d in track.downs.iter().filter(|d| d.sub == pid) {
                let quality = match d.want {
                    Want::Paused => continue,
                    Want::Quality(q) => q,
                    Want::Size(..) => {
                        choose_layer(d.want, &track.spec.layers, [true; 3], None).unwrap_or(0)
                    }
                };
                let layer = track
                    .spec
                    .layers
                    .iter()
                    .filter(|l| l.quality <= quality)
                    .max_by_key(|l| l.quality);
                desired += layer.map_or(0, |l| u64::from(l.bitrate));
            }
        }
        if let Some(peer) = self.peers.get_mut(&(pid, Role::Subscriber)) {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                peer.rtc
                    .bwe()
                    .set_bitrate(Bitrate::bps(0), Bitrate::bps(desired))
            }));
        }
    }

    fn leave(&mut self, pid: Pid) {
        let Some(p) = self.participants.remove(&pid) else {
            return;
        };
        for role in [Role::Publisher, Role::Subscriber] {
            if let Some(peer) = self.peers.remove(&(pid, role)) {
                self.by_ufrag.remove(&peer.ufrag);
            }
        }
        self.by_addr.retain(|_, id| id.0 != pid);
        // Its tracks disappear from every subscriber.
        let gone: Vec<(Pid, Mid)> = self
            .tracks
            .keys()
            .filter(|(owner, _)| *owner == pid)
            .copied()
            .collect();
        for key in gone {
            if let Some(track) = self.tracks.remove(&key) {
                for d in track.downs {
                    if let (Some(mid), Some(sub)) = (d.mid, self.participants.get_mut(&d.sub)) {
                        sub.sub_mids.remove(&mid);
                        sub.changes.push(SubChange::Remove { mid });
                    }
                    self.renegotiate(d.sub);
                }
            }
        }
        for track in self.tracks.values_mut() {
            track.downs.retain(|d| d.sub != pid);
        }
        tracing::debug!(pid, room = %p.room, "participant left media");
    }

    fn fail(&mut self, pid: Pid, reason: &str) {
        tracing::warn!(pid, reason, "dropping participant's media");
        if let Some(p) = self.participants.get(&pid) {
            let _ = p.notices.send(Notice::Closed {
                reason: reason.to_owned(),
            });
        }
        self.leave(pid);
    }

    // ------------------------------------------------------------ forwarding

    fn forward(&mut self, publisher: Pid, packet: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) else {
            return;
        };
        let Some((mid, rid)) = peer
            .rtc
            .direct_api()
            .stream_rx(&packet.header.ssrc)
            .map(|s| (s.mid(), s.rid()))
        else {
            return;
        };
        let layer = layer_of_rid(rid.as_deref());
        let Some(track) = self.tracks.get_mut(&(publisher, mid)) else {
            return;
        };
        let now = Instant::now();
        track.seen[layer as usize] = Some(now);
        let video = track.spec.kind == Kind::Video;
        let in_pt = packet.header.payload_type;
        let params = self.peers.get(&(publisher, Role::Publisher)).and_then(|p| {
            p.rtc
                .codec_config()
                .params()
                .iter()
                .find(|pp| pp.pt() == in_pt)
                .copied()
        });
        let codec = params.map(|pp| pp.spec().codec);
        let incoming = Incoming {
            layer,
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            arrival: now,
            // Audio can start anywhere; video only at a keyframe.
            keyframe_start: match codec {
                Some(Codec::Vp8) => detect_vp8_keyframe(&packet.payload),
                Some(Codec::H264) => detect_h264_keyframe(&packet.payload),
                _ => !video,
            },
            vp8: if codec == Some(Codec::Vp8) {
                Vp8Ids::parse(&packet.payload)
            } else {
                None
            },
        };
        if !video {
            if let Some(level) = packet.header.ext_vals.audio_level {
                if let Some(p) = self.participants.get_mut(&publisher) {
                    // -127..0 dBov → 0..1, smoothed.
                    let l = ((127.0 + f32::from(level)) / 127.0).clamp(0.0, 1.0);
                    p.level = p.level * 0.9 + l * 0.1;
                    if level > -50 {
                        p.heard = Some(now);
                    }
                }
            }
        }
        let available = track
            .seen
            .map(|s| s.is_some_and(|t| now.duration_since(t) < LAYER_STALE));
        let mut need_pli = [false; 3];
        for down in track.downs.iter_mut() {
            let Some(out_mid) = down.mid else { continue };
            let budget = self.participants.get(&down.sub).and_then(|p| p.estimate);
            let target = if video {
                choose_layer(down.want, &track.spec.layers, available, budget)
            } else {
                Some(0)
            };
            if down.track.target() != target {
                down.track.set_target(target);
            }
            let Some(out) = down.track.forward(&incoming) else {
                if let Some(t) = down.track.target().filter(|_| down.track.wants_keyframe()) {
                    need_pli[t as usize] = true;
                }
                continue;
            };
            let Some(sub) = self.peers.get_mut(&(down.sub, Role::Subscriber)) else {
                continue;
            };
            let out_pt = match down.pts.iter().find(|(i, _)| *i == in_pt) {
                Some((_, o)) => *o,
                None => {
                    let Some(o) = params
                        .and_then(|pp| sub.rtc.codec_config().match_params(pp).map(|m| m.pt()))
                    else {
                        tracing::debug!(sub = down.sub, pt = %in_pt, "no matching payload type at the subscriber");
                        continue;
                    };
                    tracing::debug!(sub = down.sub, from = %in_pt, to = %o, "forwarding starts");
                    down.pts.push((in_pt, o));
                    o
                }
            };
            let ext = ExtensionValues {
                audio_level: packet.header.ext_vals.audio_level,
                voice_activity: packet.header.ext_vals.voice_activity,
                video_orientation: packet.header.ext_vals.video_orientation,
                ..Default::default()
            };
            let mut write = RtpWrite::new(
                out_pt,
                out.seq.into(),
                out.ts,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .nackable(video)
            .ext_vals(ext);
            if let Some(ids) = out.vp8 {
                if let Some(patch) = Vp8Descriptor::parse(&packet.payload).ok().and_then(|d| {
                    let mut b = d.patch().picture_id(ids.picture_id);
                    if let Some(t) = ids.tl0 {
                        b = b.tl0_pic_idx(t);
                    }
                    b.build().ok()
                }) {
                    write = write.vp8_patch(patch);
                }
            }
            let sent = catch_unwind(AssertUnwindSafe(|| {
                match sub.rtc.direct_api().stream_tx_by_mid(out_mid, None) {
                    Some(tx) => {
                        // The publisher already paced this media; holding it
                        // back again only adds delay and wake-ups.
                        tx.set_unpaced(true);
                        tx.write_rtp(write);
                        true
                    }
                    None => {
                        tracing::trace!(%out_mid, "no send stream yet");
                        false
                    }
                }
            }));
            let Ok(written) = sent else {
                tracing::warn!(sub = down.sub, "subscriber panicked on write");
                continue;
            };
            let sub_id = (down.sub, Role::Subscriber);
            // Drain right away: str0m wants each write followed by polling.
            if let Some(peer) = self.peers.get_mut(&sub_id) {
                let socket = &self.socket;
                let events = &mut self.events;
                let _ = catch_unwind(AssertUnwindSafe(|| loop {
                    match peer.rtc.poll_output() {
                        Ok(Output::Timeout(t)) => {
                            peer.next_timeout = t;
                            break;
                        }
                        Ok(Output::Transmit(t)) => {
                            let _ = socket.send_to(&t.contents, t.destination);
                        }
                        Ok(Output::Event(e)) => events.push((sub_id, e)),
                        Err(_) => break,
                    }
                }));
            }
            if written {
                self.forwarded += 1;
                let _ = self
                    .delay_us
                    .record(packet.timestamp.elapsed().as_micros() as u64);
            }
        }
        let simulcast = track.spec.layers.len() > 1;
        for (layer, needed) in need_pli.iter_mut().enumerate() {
            if track.last_pli[layer].is_some_and(|t| now.duration_since(t) < PLI_INTERVAL) {
                *needed = false;
            } else if *needed {
                track.last_pli[layer] = Some(now);
            }
        }
        for (layer, needed) in need_pli.iter().enumerate() {
            if !needed {
                continue;
            }
            let rid = if simulcast {
                Some(["q", "h", "f"][layer].into())
            } else {
                None
            };
            if let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    if let Some(rx) = peer.rtc.direct_api().stream_rx_by_mid(mid, rid) {
                        rx.request_keyframe(KeyframeRequestKind::Pli);
                    }
                }));
            }
            self.drain((publisher, Role::Publisher));
        }
    }

    /// A subscriber lost a picture: ask the publisher of that m-line for a keyframe.
    fn keyframe_for(&mut self, sub: Pid, mid: Mid) {
        for track in self.tracks.values_mut() {
            if let Some(d) = track
                .downs
                .iter()
                .find(|d| d.sub == sub && d.mid == Some(mid))
            {
                let layer = d.track.current().unwrap_or(0) as usize;
                track.last_pli[layer] = None;
                let rid = if track.spec.layers.len() > 1 {
                    Some(["q", "h", "f"][layer].into())
                } else {
                    None
                };
                let (publisher, pub_mid) = (track.publisher, track.mid);
                if let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) {
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        if let Some(rx) = peer.rtc.direct_api().stream_rx_by_mid(pub_mid, rid) {
                            rx.request_keyframe(KeyframeRequestKind::Pli);
                        }
                    }));
                }
                self.drain((publisher, Role::Publisher));
                return;
            }
        }
    }

    // ------------------------------------------------------------------ data

    /// Relays a data packet from a publisher to its room (or to the named identities).
    // livekit-client 2.x still reads and writes the deprecated identity fields.
    #[allow(deprecated)]
    fn relay_data(&mut self, from: Pid, channel: ChannelId, bytes: &[u8]) {
        let Some(label) = self
            .peers
            .get(&(from, Role::Publisher))
            .and_then(|p| p.labels.get(&channel))
            .cloned()
        else {
            return;
        };
        if label != "_reliable" && label != "_lossy" {
            return;
        }
        let Some(sender) = self.participants.get(&from) else {
            return;
        };
        if !sender.can_publish_data {
            tracing::debug!(
                pid = from,
                "data from a participant without canPublishData dropped"
            );
            return;
        }
        let mut packet = match livekit_protocol::DataPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(pid = from, error = %e, "malformed data packet dropped");
                return;
            }
        };
        packet.kind = if label == "_lossy" { 1 } else { 0 };
        packet.participant_identity = sender.identity.clone();
        packet.participant_sid = sender.sid.clone();
        let mut destinations = packet.destination_identities.clone();
        if let Some(livekit_protocol::data_packet::Value::User(user)) = packet.value.as_mut() {
            user.participant_identity = sender.identity.clone();
            user.participant_sid = sender.sid.clone();
            if destinations.is_empty() {
                destinations = user.destination_identities.clone();
            }
        }
        let room = sender.room.clone();
        let encoded = packet.encode_to_vec();
        let recipients: Vec<Pid> = self
            .participants
            .iter()
            .filter(|(pid, p)| {
                **pid != from
                    && p.room == room
                    && (destinations.is_empty() || destinations.contains(&p.identity))
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in recipients {
            let id = (pid, Role::Subscriber);
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            let Some(channel) = peer.channels.get(&label).copied() else {
                continue;
            };
            let _ = catch_unwind(AssertUnwindSafe(|| {
                if let Some(mut ch) = peer.rtc.channel(channel) {
                    if !ch.write(true, &encoded).unwrap_or(false) {
                        tracing::debug!(pid, "data channel full; packet dropped");
                    }
                }
            }));
            self.drain(id);
        }
    }

    // ----------------------------------------------------------- housekeeping

    fn housekeeping(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_housekeeping) < HOUSEKEEPING_INTERVAL {
            return;
        }
        self.last_housekeeping = now;
        // Peers that never connected are dropped.
        let stale: Vec<Pid> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.connected && now.duration_since(p.created) > CONNECT_TIMEOUT)
            .map(|((pid, _), _)| *pid)
            .collect();
        for pid in stale {
            self.fail(pid, "peer connection never came up");
        }
        if now.duration_since(self.last_speakers) >= SPEAKER_INTERVAL {
            self.last_speakers = now;
            self.speakers(now);
        }
    }

    /// Tells each room who speaks, when that changed.
    fn speakers(&mut self, now: Instant) {
        let mut changed_rooms: Vec<String> = Vec::new();
        for p in self.participants.values_mut() {
            let speaking = p
                .heard
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(800));
            if speaking != p.speaking {
                p.speaking = speaking;
                if !changed_rooms.contains(&p.room) {
                    changed_rooms.push(p.room.clone());
                }
            }
        }
        for room in changed_rooms {
            let mut speakers: Vec<(String, f32, bool)> = self
                .participants
                .values()
                .filter(|p| p.room == room)
                .map(|p| {
                    (
                        p.sid.clone(),
                        if p.speaking { p.level } else { 0.0 },
                        p.speaking,
                    )
                })
                .collect();
            speakers.sort_by(|a, b| b.1.total_cmp(&a.1));
            for p in self.participants.values().filter(|p| p.room == room) {
                let _ = p.notices.send(Notice::Speakers(speakers.clone()));
            }
        }
    }
}

/// Forwarding delays from 1 µs to 10 s, 2 significant digits (allocated once).
fn new_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 10_000_000, 2)
        .unwrap_or_else(|_| unreachable!("valid bounds"))
}
