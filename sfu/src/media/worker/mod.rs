//! A media worker: the peer connections of its rooms, as a state machine.
//!
//! Like str0m's `Rtc` and quinn-proto, [`Worker`] owns no socket, clock or
//! thread: it takes datagrams, commands and the time, and hands back what
//! to send and tell ([`Output`]) and when to call again. `runtime.rs` is
//! the thread around it; `sim/` drives it in memory on virtual time.
//!
//! A packet reaches its peer by our ICE ufrag (the first STUN binding
//! request names it) and afterwards by its source address: two hash
//! lookups, no scan over peers and no lock. Forwarding rewrites each RTP
//! packet per subscriber ([`DownTrack`]) and hands str0m the shared payload
//! (`Arc<[u8]>`), so the loop allocates nothing per forwarded packet.
//! Every str0m call is wrapped in `catch_unwind`: a panicking peer is
//! dropped, the others carry on.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::format::{detect_h264_keyframe, detect_h264_nalu, detect_vp8_keyframe, Codec};
use str0m::media::{Direction, KeyframeRequestKind, Mid, Pt, Rid};
use str0m::net::Transmit;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Rtc};

use super::dispatch::Routes;
use super::downtrack::{DownTrack, Incoming, Vp8Ids};
use super::mime;
use super::{
    choose_layer, layer_of_rid, Answer, Command, Kind, Notice, ParticipantSid, Pid, TrackSid,
    TrackSpec, Want,
};
use crate::sdp_scan::{first_codec, ice_ufrag, msid_tracks, prefer_codec};

mod bwe;
mod data;
mod dynacast;
mod forward;
mod metrics;
mod negotiation;
mod peer;
mod quality;
mod runtime;
mod send_batch;
#[cfg(test)]
pub(crate) mod sim;
mod single;
mod speakers;
mod tracks;
mod ufrags;

pub use negotiation::NegotiationError;
use peer::{is_rtp, poll_peer, Peer, PeerId, Role};
pub use runtime::run;

/// Why a participant's media was dropped (its session hears it in
/// [`Notice::Closed`]).
#[derive(Debug, thiserror::Error)]
pub enum PeerFailure {
    /// str0m panicked on a datagram.
    #[error("peer panicked on input")]
    PanickedOnInput,
    /// str0m panicked on a timer.
    #[error("peer panicked on timeout")]
    PanickedOnTimeout,
    /// str0m panicked while polled.
    #[error("peer panicked")]
    Panicked,
    /// str0m gave up on the connection.
    #[error("peer error: {0}")]
    Rtc(#[source] str0m::RtcError),
    /// The connection was negotiated but never came up in time.
    #[error("peer connection never came up")]
    NeverConnected,
    /// str0m panicked on the client's subscriber answer.
    #[error("answer handling panicked")]
    AnswerPanicked,
    /// str0m panicked on a subscriber renegotiation.
    #[error("renegotiation panicked")]
    RenegotiationPanicked,
}

/// How often str0m reports each peer's stream statistics (NACKs).
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How often speaker levels are recomputed.
const SPEAKER_INTERVAL: Duration = Duration::from_millis(400);
/// Keyframe requests for one layer are at most this frequent.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// A layer not seen for this long counts as not flowing.
const LAYER_STALE: Duration = Duration::from_secs(2);
/// How often connection timeouts and speakers are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);
/// Runs of one subscriber's timer in one `Worker::poll_written` at most,
/// so a long backlog cannot hold the others up.
const MAX_RUNS: u32 = 64;

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
    /// Which layers its publisher was told to send.
    dynacast: dynacast::Dynacast,
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
        track_sid: TrackSid,
        stream: String,
        kind: Kind,
    },
    Remove {
        mid: Mid,
        /// What was sent on it: a track that takes the m-line over
        /// continues from there (one peer connection only).
        left: DownTrack,
    },
}

struct Participant {
    room: String,
    identity: String,
    participant_sid: ParticipantSid,
    expected: Vec<TrackSpec>,
    /// Publisher m-line → our track sid.
    published: HashMap<Mid, TrackSid>,
    /// The codec (and its clock rate) each publisher m-line settled on in
    /// our answer.
    codecs: HashMap<Mid, (Codec, u32)>,
    pending_offer: Option<SdpPendingOffer>,
    /// The last subscriber offer, to send again if a resumed client lost it.
    last_offer: Option<(String, HashMap<String, String>)>,
    /// The next subscriber offer restarts ICE.
    restart_ice: bool,
    changes: Vec<SubChange>,
    /// Subscriber m-line → track sid, for the client's track mapping.
    sub_mids: HashMap<Mid, TrackSid>,
    /// Smoothed audio level (0..1) and when it was last heard.
    level: f32,
    heard: Option<Instant>,
    speaking: bool,
    /// Bandwidth estimate toward this subscriber (TWCC), bits per second.
    estimate: Option<u64>,
    /// When it last asked for more (a higher layer, a new track): its
    /// estimate may have followed a smaller load down (`bwe.rs`).
    asked_more: Option<Instant>,
    /// What its streams' reports said since its link was last scored.
    link: quality::Link,
    /// Its last connection quality class and score.
    quality: Option<(i32, f32)>,
    /// May send data packets.
    can_publish_data: bool,
    /// Its one peer connection's receiving m-lines, when it has only one.
    single: Option<single::Slots>,
}

/// What the worker has to send or say.
#[derive(Debug)]
pub enum Output {
    /// A datagram for the socket.
    Transmit(Transmit),
    /// Something a participant's session must hear.
    Notice(Pid, Notice),
}

/// The media worker's state: its peers, tracks and participants.
pub struct Worker {
    /// The time of the call being handled.
    now: Instant,
    /// What is waiting for [`Worker::poll_output`].
    out: VecDeque<Output>,
    ufrags: ufrags::Ufrags,
    candidates: Vec<SocketAddr>,
    /// A negotiated peer connection not up after this long is dropped.
    connect_timeout: Duration,
    peers: HashMap<PeerId, Peer>,
    by_addr: HashMap<SocketAddr, PeerId>,
    participants: HashMap<Pid, Participant>,
    /// (publisher, publisher m-line) → track: one hash lookup per packet.
    tracks: HashMap<(Pid, Mid), PubTrack>,
    events: Vec<(PeerId, Event)>,
    last_speakers: Instant,
    last_quality: Instant,
    /// RTP packets handed to subscribers, ever.
    forwarded: u64,
    /// Figures for `/metrics` since the last housekeeping round.
    counts: metrics::Counts,
    published: metrics::Published,
    /// Reused list of peers whose timer is due.
    due: Vec<PeerId>,
    /// Subscribers written to and not polled since.
    written: Vec<PeerId>,
    /// Counts [`Worker::handle_timeout`] calls (`Peer::settled_in`).
    round: u64,
    last_housekeeping: Instant,
}

impl Worker {
    /// Worker `index`, whose ufrags are announced on `routes`, offering
    /// `candidates`, dropping peers not up `connect_timeout` after
    /// negotiation.
    pub fn new(
        index: usize,
        routes: Arc<Routes>,
        candidates: Vec<SocketAddr>,
        connect_timeout: Duration,
        now: Instant,
    ) -> Self {
        Worker {
            now,
            out: VecDeque::new(),
            ufrags: ufrags::Ufrags::new(index, routes),
            candidates,
            connect_timeout,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            participants: HashMap::new(),
            tracks: HashMap::new(),
            events: Vec::new(),
            last_speakers: now,
            last_quality: now,
            forwarded: 0,
            counts: metrics::Counts::default(),
            published: metrics::Published::new(index),
            due: Vec::new(),
            written: Vec::new(),
            round: 1,
            last_housekeeping: now,
        }
    }

    /// The next thing to send or say, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            self.poll_written();
        }
        self.out.pop_front()
    }

    /// Sends what was written to subscribers. str0m sends a written
    /// packet only from its timer, one per run when it paces (with
    /// bandwidth estimation): so a subscriber's timer runs right away, once
    /// per packet it is owed, rather than at the next round of timers.
    /// Polling first would only learn that the timer is due (str0m asks
    /// for a drain after each change, but a write only queues the packet,
    /// unstamped, and says nothing: the run and its drain see all of it).
    /// Each run but the last is polled only up to the packet it sends; the
    /// last is drained. A run that sends nothing means str0m holds the
    /// rest back (a probe sets the pace): that waits for its timer.
    fn poll_written(&mut self) {
        let now = self.now;
        let round = self.round;
        let mut written = std::mem::take(&mut self.written);
        for id in written.drain(..) {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            peer.written = false;
            if peer.owed == 0 {
                self.drain(id); // no send stream took it
                continue;
            }
            let mut owed = peer.owed;
            let mut drained = false;
            for _ in 0..MAX_RUNS {
                let Some((sent, left, done)) = self.run_timer(id, now, owed > 1) else {
                    drained = true; // gone
                    break;
                };
                (owed, drained) = (left, done);
                if sent == 0 {
                    break;
                }
                if owed == 0 {
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.settled_in = round;
                    }
                    break;
                }
            }
            if !drained {
                self.drain(id);
            }
        }
        self.written = written;
        self.process_events();
    }

    /// Runs peer `id`'s timer at `now`, then polls it until it waits, or
    /// with `at_rtp` only up to the RTP packet the run sends (the next run
    /// goes on from there, as str0m allows inside a drain). Returns the
    /// RTP packets sent, those still owed, and whether it was drained;
    /// none once the peer is gone.
    fn run_timer(&mut self, id: PeerId, now: Instant, at_rtp: bool) -> Option<(u32, u32, bool)> {
        let peer = self.peers.get_mut(&id)?;
        let result = catch_unwind(AssertUnwindSafe(|| {
            peer.rtc.handle_input(Input::Timeout(now))
        }));
        if result.is_err() {
            self.fail(id.0, PeerFailure::PanickedOnTimeout);
            return None;
        }
        let before = self.out.len();
        let polled = poll_peer(id, peer, at_rtp, &mut self.out, &mut self.events);
        let stopped = match polled {
            Ok(stopped) => stopped,
            Err(e) => {
                self.fail(id.0, e);
                return None;
            }
        };
        let sent = self.out.range(before..).filter(|o| is_rtp(o)).count() as u32;
        Some((sent, peer.owed, !stopped))
    }

    /// When [`Worker::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Instant {
        self.peers
            .values()
            .map(|p| p.next_timeout)
            .fold(self.last_housekeeping + HOUSEKEEPING_INTERVAL, Instant::min)
    }

    /// RTP packets handed to subscribers so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded
    }

    /// Notes the time the thread around it spent working, and the longest
    /// queue of datagrams it saw, for `/metrics`.
    pub fn note_load(&mut self, busy: Duration, queued: usize) {
        self.counts.busy += busy;
        self.counts.queue_peak = self.counts.queue_peak.max(queued);
    }

    /// Carries out one command from a room or a session.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        self.now = self.now.max(now);
        self.command(cmd);
    }

    /// Runs the peers' timers and the worker's own rounds due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.handle_timeouts();
        self.housekeeping();
        self.round += 1;
    }

    // ---------------------------------------------------------------- packets

    /// Hands a datagram read at `now` to its peer: the one its address is
    /// known for, else the one its STUN ufrag names.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, packet: &[u8]) {
        // A datagram's read time can be older than the last timer run, and
        // str0m ignores a timer that goes back: the datagram keeps its own
        // time, the timers its writes start (`poll_written`) do not.
        self.now = self.now.max(now);
        let id = match self.by_addr.get(&source) {
            Some(id) => *id,
            None => {
                let ufrag = crate::stun::local_ufrag_span(packet).and_then(|r| packet.get(r));
                let Some(id) = ufrag.and_then(|u| self.ufrags.get(u)) else {
                    tracing::trace!(%source, "packet from unknown peer dropped");
                    self.counts.dropped += 1;
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
            self.counts.dropped += 1;
            return;
        };
        let input = Input::Receive(now, input);
        if !peer.rtc.accepts(&input) {
            tracing::trace!(%source, "packet not for this peer");
            self.counts.dropped += 1;
            return;
        }
        self.by_addr.entry(source).or_insert(id);
        let ok = match self.peers.get_mut(&id) {
            Some(peer) => catch_unwind(AssertUnwindSafe(|| peer.rtc.handle_input(input))),
            None => return,
        };
        match ok {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(pid = %id.0, error = %e, "peer input error"),
            Err(_) => return self.fail(id.0, PeerFailure::PanickedOnInput),
        }
        self.drain(id);
        self.process_events();
    }

    /// Polls a peer until it has nothing more to say; a failing peer is dropped.
    fn drain(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = poll_peer(id, peer, false, &mut self.out, &mut self.events) {
            self.fail(id.0, e);
        }
    }

    /// Feeds due timers to their peers.
    fn handle_timeouts(&mut self) {
        let now = self.now;
        let round = self.round;
        let mut due = std::mem::take(&mut self.due);
        // str0m asks for a run after each packet it paces: for a subscriber
        // `poll_written` settled this round, that run waits a round, where
        // the next packets' runs often do it.
        due.extend(
            self.peers
                .iter()
                .filter(|(_, p)| p.next_timeout <= now && p.settled_in != round)
                .map(|(id, _)| *id),
        );
        for id in due.drain(..) {
            self.run_timer(id, now, false);
        }
        self.due = due;
        self.process_events();
    }

    /// Handles the queued peer events, and those they cause.
    fn process_events(&mut self) {
        while !self.events.is_empty() {
            let mut events = std::mem::take(&mut self.events);
            for (id, event) in events.drain(..) {
                self.handle_event(id, event);
            }
            // Keep the allocation for next time.
            if self.events.is_empty() {
                self.events = events;
            }
        }
    }

    /// Acts on one event of peer `id`.
    fn handle_event(&mut self, id: PeerId, event: Event) {
        match event {
            Event::Connected => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.connected = true;
                }
                tracing::debug!(pid = %id.0, role = ?id.1, "peer connected");
                if id.1.subscribes() {
                    self.subscriber_connected(id.0);
                }
            }
            Event::IceConnectionStateChange(state) => {
                let down = state == IceConnectionState::Disconnected;
                if down {
                    tracing::debug!(pid = %id.0, role = ?id.1, "ice disconnected");
                }
                if let Some(p) = self.peers.get_mut(&id) {
                    p.ice_down = down;
                }
            }
            Event::RtpPacket(packet) if id.1.publishes() => self.forward(id, packet),
            Event::MediaEgressStats(s) => {
                self.count_nacks(id, (s.mid, s.rid, true), s.nacks);
                let jitter = s.remote.as_ref().map_or(0, |r| r.jitter);
                self.link_report(id, s.mid, s.loss, s.rtt, jitter);
            }
            Event::MediaIngressStats(s) => {
                self.count_nacks(id, (s.mid, s.rid, false), s.nacks);
                self.link_report(id, s.mid, s.loss, s.rtt, s.jitter);
            }
            Event::KeyframeRequest(req) if id.1.subscribes() => {
                self.counts.plis_received += 1;
                self.keyframe_for(id.0, req.mid)
            }
            Event::ChannelOpen(channel, label) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.channels.insert(label.clone(), channel);
                    p.labels.insert(channel, label);
                }
            }
            Event::ChannelData(data) if id.1.publishes() => {
                self.relay_data(id.0, data.id, &data.data)
            }
            Event::MediaAdded(added)
                if id.1.publishes()
                    && matches!(added.direction, Direction::RecvOnly | Direction::SendRecv) =>
            {
                self.media_added(id.0, added.mid);
            }
            Event::MediaChanged(changed) if id.1.publishes() => {
                if matches!(changed.direction, Direction::RecvOnly | Direction::SendRecv) {
                    self.media_added(id.0, changed.mid); // a reused m-line sends again
                } else {
                    self.unpublish(id.0, changed.mid);
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                tracing::trace!(pid = %id.0, bps = estimate.as_u64(), "bandwidth estimate");
                if let Some(p) = self.participants.get_mut(&id.0) {
                    p.estimate = Some(estimate.as_u64());
                }
            }
            _ => {}
        }
    }

    // ----------------------------------------------------------- housekeeping

    fn housekeeping(&mut self) {
        let now = self.now;
        if now.duration_since(self.last_housekeeping) < HOUSEKEEPING_INTERVAL {
            return;
        }
        self.last_housekeeping = now;
        let load = metrics::Load {
            participants: self.participants.len(),
            published: self.tracks.len(),
            subscribed: self.tracks.values().map(|t| t.downs.len()).sum(),
        };
        self.published.flush(&mut self.counts, load);
        // Peers negotiated but never connected are dropped.
        let stale: Vec<Pid> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                !p.connected
                    && p.negotiated
                        .is_some_and(|t| now.duration_since(t) > self.connect_timeout)
            })
            .map(|((pid, _), _)| *pid)
            .collect();
        for pid in stale {
            self.fail(pid, PeerFailure::NeverConnected);
        }
        self.dynacast(now);
        self.update_bwe_targets();
        if now.duration_since(self.last_quality) >= quality::QUALITY_INTERVAL {
            self.last_quality = now;
            self.score_links();
        }
        if now.duration_since(self.last_speakers) >= SPEAKER_INTERVAL {
            self.last_speakers = now;
            self.speakers(now);
        }
    }

    /// The peer connection that carries `pid`'s media in `role`'s
    /// direction: its only one, if it has one.
    fn peer_of(&self, pid: Pid, role: Role) -> PeerId {
        match self.participants.get(&pid) {
            Some(p) if p.single.is_some() => (pid, Role::Single),
            _ => (pid, role),
        }
    }

    /// Tells everyone in `room` what `notice` makes (a copy each).
    fn tell_room(&mut self, room: &str, notice: impl Fn() -> Notice) {
        for (pid, p) in &self.participants {
            if p.room == room {
                self.out.push_back(Output::Notice(*pid, notice()));
            }
        }
    }
}
