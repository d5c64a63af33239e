//! An in-memory network on virtual time for the [`Worker`] state machine
//! and str0m client peers, so the SFU's rules are tested in milliseconds,
//! without threads, sockets or a clock (as str0m's `tests/common.rs` and
//! quinn's `Pair` do). Clients behave as livekit-client does: a publisher
//! connection that offers, a subscriber connection that answers every
//! offer the worker sends; or (`/rtc/v1`) one connection that offers, and
//! offers again with the receiving m-lines the worker asks for.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpApi, SdpOffer};
use str0m::media::{Direction, MediaTime, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output as RtcOutput, Rtc};
use tokio::sync::{mpsc, oneshot};

use super::{Output, Worker};
use crate::media::dispatch::Routes;
use crate::media::{
    Answer, Command, Kind, Layer, Notice, ParticipantSid, Pid, TrackSid, TrackSpec, Want,
};

mod frames;
mod single_tests;
mod tests;

pub(super) use frames::three_layers;

/// One-way delay of every link.
const LATENCY: Duration = Duration::from_millis(10);
/// Virtual time advances in steps of this.
const TICK: Duration = Duration::from_millis(1);
/// A bottleneck's queue: what would wait longer is dropped.
const QUEUE_LIMIT: Duration = Duration::from_millis(200);
/// A negotiated connection not up after this is dropped by the worker.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client's peer connection.
pub(crate) struct Client {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    timeout: Instant,
    /// Everything it reported, in order.
    pub events: Vec<Event>,
}

/// A participant as its app sees it: two peer connections (indices into
/// [`Sim::clients`]), or one in both places.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub pid: Pid,
    pub publisher: usize,
    pub subscriber: usize,
}

/// A datagram on the wire.
struct Packet {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// The worker, its clients, and the wire between them.
pub(crate) struct Sim {
    pub now: Instant,
    pub worker: Worker,
    server: SocketAddr,
    pub clients: Vec<Client>,
    members: Vec<(Member, ParticipantSid)>,
    wire: VecDeque<Packet>,
    /// What the worker told each participant's session (offers excepted:
    /// the subscriber answers those itself).
    pub notices: Vec<(Pid, Notice)>,
    /// The worker's answers to each participant's offers, in order.
    pub answers: Vec<(Pid, Answer)>,
    /// Datagrams lost on every link, in percent.
    pub loss_percent: u64,
    /// Datagrams from the server lost so far.
    pub lost: u64,
    /// Bottlenecks toward these addresses: bits per second, and when the
    /// link is next free.
    caps: HashMap<SocketAddr, (u64, Instant)>,
    /// Members whose audio is loud; everyone else's is near silence.
    pub speaking: Vec<Pid>,
    /// Addresses whose datagrams, both ways, are lost.
    cut: Vec<SocketAddr>,
    rng: u64,
}

impl Sim {
    /// A worker with no participants.
    pub fn new() -> Self {
        // `SIM_LOG=onair_sfu=debug` shows what the worker decides.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("SIM_LOG"))
            .with_test_writer()
            .try_init();
        let now = Instant::now();
        let server = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 7881));
        let routes = Arc::new(Routes::default());
        Sim {
            now,
            worker: Worker::new(0, routes, vec![server], CONNECT_TIMEOUT, now),
            server,
            clients: Vec::new(),
            members: Vec::new(),
            wire: VecDeque::new(),
            notices: Vec::new(),
            answers: Vec::new(),
            loss_percent: 0,
            lost: 0,
            caps: HashMap::new(),
            cut: Vec::new(),
            speaking: Vec::new(),
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// A new client peer connection on an address of its own.
    fn client(&mut self) -> usize {
        let index = self.clients.len();
        let addr = SocketAddr::from((Ipv4Addr::new(10, 0, 1, index as u8 + 1), 5000));
        let mut rtc = Rtc::builder().build(self.now);
        if let Ok(c) = Candidate::host(addr, "udp") {
            rtc.add_local_candidate(c);
        }
        self.clients.push(Client {
            rtc,
            addr,
            timeout: self.now,
            events: Vec::new(),
        });
        index
    }

    /// Joins a participant to `room`: the worker's first subscriber offer
    /// (data channels) is answered, and the connection comes up.
    pub fn join(&mut self, room: &str) -> Member {
        let (pid, sid, offer) = self.join_command(room, false);
        let offer = offer.expect("first subscriber offer");
        let member = Member {
            pid,
            publisher: self.client(),
            subscriber: self.client(),
        };
        self.members.push((member, sid));
        self.answer_offer(pid, &offer);
        self.run_until(Duration::from_secs(5), |sim| {
            sim.clients[member.subscriber].rtc.is_connected()
        });
        member
    }

    /// Joins a participant with one peer connection to `room`, as
    /// livekit-client on `/rtc/v1` does: its first offer has data channels
    /// and `audios` + `videos` receiving m-lines.
    pub fn join_single(&mut self, room: &str, audios: u32, videos: u32) -> Member {
        let (pid, sid, offer) = self.join_command(room, true);
        assert!(offer.is_none(), "no offer of ours");
        let client = self.client();
        let member = Member {
            pid,
            publisher: client,
            subscriber: client,
        };
        self.members.push((member, sid));
        self.offer(pid, |api| {
            api.add_channel("_reliable".into());
            add_receiving(api, audios, videos);
        });
        self.run_until(Duration::from_secs(5), |sim| {
            sim.clients[client].rtc.is_connected()
        });
        member
    }

    /// Joins the next participant to the worker; its pid, sid and our
    /// first offer, if any.
    fn join_command(
        &mut self,
        room: &str,
        single_pc: bool,
    ) -> (Pid, ParticipantSid, Option<String>) {
        let serial = self.members.len() as u64 + 1;
        let pid = Pid::new(serial, 0);
        let sid = ParticipantSid::random();
        let (notices, _) = mpsc::unbounded_channel();
        let (reply, mut answer) = oneshot::channel();
        self.command(Command::Join {
            pid,
            room: room.to_owned(),
            identity: format!("user{serial}"),
            participant_sid: sid.clone(),
            can_publish_data: true,
            single_pc,
            notices,
            tracks: Arc::new(|_| {}),
            reply,
        });
        let joined = answer.try_recv().expect("join answered");
        (pid, sid, joined.expect("join succeeds"))
    }

    /// `pid`'s publishing connection offers with `change`'s edits, and
    /// takes the worker's answer. Returns what `change` returned.
    pub fn offer<T>(&mut self, pid: Pid, change: impl FnOnce(&mut SdpApi) -> T) -> T {
        let member = self.members.iter().find(|(m, _)| m.pid == pid);
        let index = member.expect("a member").0.publisher;
        let mut api = self.clients[index].rtc.sdp_api();
        let made = change(&mut api);
        let (offer, pending) = api.apply().expect("an offer");
        let (reply, mut answer) = oneshot::channel();
        let sdp = offer.to_sdp_string();
        self.worker
            .handle_command(self.now, Command::PublisherOffer { pid, sdp, reply });
        let answer = answer
            .try_recv()
            .expect("offer answered")
            .expect("an answer");
        let sdp = SdpAnswer::from_sdp_string(&answer.sdp).expect("answer parses");
        let rtc = &mut self.clients[index].rtc;
        rtc.sdp_api()
            .accept_answer(pending, sdp)
            .expect("answer accepted");
        self.answers.push((pid, answer));
        self.pump();
        made
    }

    /// Publishes a track: announced, offered, answered. Returns the track
    /// and its m-line in the publisher's SDP.
    pub fn publish(&mut self, m: Member, kind: Kind, layers: Vec<Layer>) -> (TrackSid, Mid) {
        let track_sid = TrackSid::random();
        let client_track_id = format!("track-{}", track_sid.as_str());
        let spec = TrackSpec {
            track_sid: track_sid.clone(),
            client_track_id: client_track_id.clone(),
            kind,
            layers: layers.clone(),
            codec: None,
        };
        self.command(Command::ExpectTrack { pid: m.pid, spec });
        let mid = self.send_track(m, &client_track_id, kind, layers.len());
        (track_sid, mid)
    }

    /// `m` offers a track it announced as `client_track_id`, on `layers`
    /// simulcast layers (one: none), until its connection is up. Returns
    /// its m-line.
    pub fn send_track(
        &mut self,
        m: Member,
        client_track_id: &str,
        kind: Kind,
        layers: usize,
    ) -> Mid {
        let simulcast = (layers > 1).then(|| {
            let mut s = Simulcast::new();
            for rid in ["q", "h", "f"].iter().take(layers) {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let mid = self.offer(m.pid, |api| {
            let stream = Some(format!("stream-{}", m.pid));
            let media = kind.media_kind();
            api.add_media(
                media,
                Direction::SendOnly,
                stream,
                Some(client_track_id.to_owned()),
                simulcast,
            )
        });
        self.run_until(Duration::from_secs(5), |sim| {
            sim.clients[m.publisher].rtc.is_connected()
        });
        mid
    }

    /// Limits what reaches a member's subscriber connection to `bps` (a
    /// bottleneck with a queue), or lifts the limit.
    pub fn cap_downlink(&mut self, m: Member, bps: Option<u64>) {
        let addr = self.clients[m.subscriber].addr;
        match bps {
            Some(bps) => self.caps.insert(addr, (bps, self.now)),
            None => self.caps.remove(&addr),
        };
    }

    /// Cuts a member off the network (both its connections, both ways).
    pub fn cut(&mut self, m: Member) {
        let addrs = [
            self.clients[m.publisher].addr,
            self.clients[m.subscriber].addr,
        ];
        self.cut.extend(addrs);
    }

    /// Subscribes `sub` to `publisher`'s track, as its room would.
    pub fn subscribe(&mut self, sub: Member, publisher: Member, track_sid: &TrackSid) {
        let stream = format!("{}|{}", self.sid(publisher), track_sid.as_str());
        self.command(Command::Subscribe {
            pid: sub.pid,
            publisher: publisher.pid,
            track_sid: track_sid.clone(),
            stream,
        });
    }

    /// A subscriber's wish for a track, as its room passes it on.
    pub fn settings(&mut self, sub: Member, track_sid: &TrackSid, want: Want) {
        let track_sid = track_sid.clone();
        self.command(Command::Settings {
            pid: sub.pid,
            track_sid,
            want,
        });
    }

    /// Two participants joined to one room.
    pub fn room_of_two() -> (Sim, Member, Member) {
        let mut sim = Sim::new();
        let alice = sim.join("room");
        let bob = sim.join("room");
        (sim, alice, bob)
    }

    /// What `pick` takes from the last notice to `pid` it takes anything from.
    pub fn last_notice<T>(&self, pid: Pid, pick: impl Fn(&Notice) -> Option<T>) -> Option<T> {
        let mut to = self.notices.iter().rev().filter(|(p, _)| *p == pid);
        to.find_map(|(_, n)| pick(n))
    }

    /// The participant's server id.
    pub fn sid(&self, m: Member) -> ParticipantSid {
        let found = self.members.iter().find(|(x, _)| x.pid == m.pid);
        found.map(|(_, sid)| sid.clone()).expect("a member")
    }

    /// Hands the worker a command now, and delivers what it causes.
    pub fn command(&mut self, cmd: Command) {
        self.worker.handle_command(self.now, cmd);
        self.pump();
    }

    /// Advances virtual time by `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.tick();
        }
    }

    /// Advances virtual time until `done` holds; panics after `limit`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "not reached within {limit:?}");
            self.tick();
        }
    }

    /// One step: the wire delivers what is due, timers fire, and
    /// everything said in answer is put on the wire.
    fn tick(&mut self) {
        self.now += TICK;
        let now = self.now;
        while let Some(i) = self.wire.iter().position(|p| p.at <= now) {
            if let Some(p) = self.wire.remove(i) {
                self.deliver(p);
            }
        }
        if self.worker.poll_timeout() <= now {
            self.worker.handle_timeout(now);
        }
        for c in &mut self.clients {
            if c.timeout <= now {
                let _ = c.rtc.handle_input(Input::Timeout(now));
            }
        }
        self.pump();
    }

    fn deliver(&mut self, p: Packet) {
        if p.to == self.server {
            self.worker.handle_datagram(self.now, p.from, &p.bytes);
            return;
        }
        let Some(c) = self.clients.iter_mut().find(|c| c.addr == p.to) else {
            return; // an address that moved away
        };
        if let Ok(r) = Receive::new(Protocol::Udp, p.from, p.to, &p.bytes) {
            let _ = c.rtc.handle_input(Input::Receive(self.now, r));
        }
    }

    /// Collects everyone's output until all wait for time to pass.
    fn pump(&mut self) {
        loop {
            let mut quiet = true;
            while let Some(out) = self.worker.poll_output() {
                quiet = false;
                match out {
                    Output::Transmit(t) => self.send(t.source, t.destination, t.contents.into()),
                    Output::Notice(pid, Notice::SubscriberOffer { sdp, .. }) => {
                        self.answer_offer(pid, &sdp)
                    }
                    Output::Notice(pid, Notice::OfferWanted { audios, videos }) => {
                        let wanted = Notice::OfferWanted { audios, videos };
                        self.notices.push((pid, wanted));
                        self.offer(pid, |api| add_receiving(api, audios, videos));
                    }
                    Output::Notice(pid, notice) => self.notices.push((pid, notice)),
                }
            }
            for i in 0..self.clients.len() {
                loop {
                    match self.clients[i].rtc.poll_output() {
                        Ok(RtcOutput::Timeout(t)) => {
                            self.clients[i].timeout = t;
                            break;
                        }
                        Ok(RtcOutput::Transmit(t)) => {
                            quiet = false;
                            self.send(t.source, t.destination, t.contents.into())
                        }
                        Ok(RtcOutput::Event(e)) => self.clients[i].events.push(e),
                        Err(e) => panic!("client {i} failed: {e}"),
                    }
                }
            }
            if quiet {
                return;
            }
        }
    }

    /// Puts a datagram on the wire, unless the link loses it.
    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        // xorshift: the same losses every run.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if self.rng % 100 < self.loss_percent || self.cut.contains(&from) || self.cut.contains(&to)
        {
            if from == self.server {
                self.lost += 1;
            }
            return;
        }
        let mut at = self.now + LATENCY;
        if let Some((bps, free)) = self.caps.get_mut(&to) {
            let start = (*free).max(self.now);
            if start - self.now > QUEUE_LIMIT {
                self.lost += 1;
                return;
            }
            *free = start + Duration::from_secs_f64(bytes.len() as f64 * 8.0 / *bps as f64);
            at = *free + LATENCY;
        }
        self.wire.push_back(Packet {
            at,
            from,
            to,
            bytes,
        });
    }

    /// The subscriber connection of `pid` answers the worker's offer.
    fn answer_offer(&mut self, pid: Pid, sdp: &str) {
        let Some((m, _)) = self.members.iter().find(|(m, _)| m.pid == pid) else {
            return;
        };
        let sub = m.subscriber;
        let offer = SdpOffer::from_sdp_string(sdp).expect("offer parses");
        let answer = self.clients[sub]
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("offer accepted");
        let sdp = answer.to_sdp_string();
        self.worker
            .handle_command(self.now, Command::SubscriberAnswer { pid, sdp });
    }
}

/// Adds receiving m-lines to an offer being made. livekit-client offers
/// even when asked for none; str0m offers only with a change, so an
/// inactive m-line is added then.
fn add_receiving(api: &mut SdpApi, audios: u32, videos: u32) {
    if audios + videos == 0 {
        api.add_media(
            Kind::Audio.media_kind(),
            Direction::Inactive,
            None,
            None,
            None,
        );
    }
    let kinds = [(audios, Kind::Audio), (videos, Kind::Video)];
    for (n, kind) in kinds {
        for _ in 0..n {
            api.add_media(kind.media_kind(), Direction::RecvOnly, None, None, None);
        }
    }
}
