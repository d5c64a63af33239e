//! The server's state under one lock: the sans-IO cores (one per client
//! transport), the relay sockets, the allocations per participant, and the
//! checks OnAir adds in front of the cores (credentials, quota, peer policy).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use turn_server_proto::api::{
    DelayedMessageOrChannelSend, SocketAllocateError, TcpConnectError, Transmit, TurnServerApi,
    TurnServerPollRet,
};
use turn_server_proto::server::TurnServer as Core;
use turn_server_proto::types::attribute::{RequestedTransport, XorPeerAddress};
use turn_server_proto::types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, SEND};
use turn_server_proto::types::prelude::DelayedTransmitBuild;
use turn_server_proto::types::stun::attribute::{
    ErrorCode, MessageIntegrity, MessageIntegritySha256, Nonce, Realm, Userhash, Username,
};
use turn_server_proto::types::stun::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageWrite,
    MessageWriteExt, MessageWriteVec, BINDING,
};
use turn_server_proto::types::stun::prelude::{Attribute, AttributeFromRaw, AttributeStaticType};
use turn_server_proto::types::transmit::TransmitBuild;
use turn_server_proto::types::{AddressFamily, Instant, TransportType};

mod precheck;
mod relays;

use crate::credentials::{parse_username, password_for};
use crate::policy::PeerPolicy;
use crate::stats::{RefuseReason, Stats};

/// Largest UDP datagram we read.
pub(crate) const MAX_DATAGRAM: usize = 65_536;
/// Queued writes per TLS connection before it is dropped as too slow.
pub(crate) const TLS_QUEUE: usize = 256;
/// Usernames remembered (and given to the cores) at once; beyond this new
/// usernames are refused until expired ones are pruned.
const MAX_USERS: usize = 100_000;
/// How long past its expiry a username without allocations is kept.
const USER_GRACE_SECS: u64 = 60;
/// `turn-server-proto` can add users but not remove them, nor forget the
/// nonces of clients that never allocated. Once this many usernames have been
/// given to the cores, they are replaced by fresh ones the next time no
/// allocation and no TLS connection is open.
const RECYCLE_CORES_AFTER_USERS: usize = 1024;

/// Which client-facing transport (and so which core) a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Proto {
    Udp,
    Tcp,
}

/// Everything the tasks share.
pub(crate) struct Shared {
    pub(crate) engine: Mutex<Engine>,
    pub(crate) stats: Arc<Stats>,
}

impl Shared {
    /// The engine; a panic in another task while holding the lock does not
    /// take the server down with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Engine> {
        match self.engine.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

struct Relay {
    socket: Arc<UdpSocket>,
    task: JoinHandle<()>,
    proto: Proto,
}

struct Allocation {
    username: String,
    participant: String,
    relays: Vec<SocketAddr>,
}

struct UdpSide {
    core: Core,
    socket: Arc<UdpSocket>,
}

struct TcpSide {
    core: Core,
    conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

/// What the checks in front of a core decided about one STUN message.
enum Verdict {
    /// Hand it to the core.
    Pass,
    /// Answer it ourselves.
    Reply(Vec<u8>),
    /// Drop it.
    Drop,
}

pub(crate) struct EngineConfig {
    pub public_ip: IpAddr,
    pub relay_ip: IpAddr,
    pub relay_ports: RangeInclusive<u16>,
    pub realm: String,
    pub secret: Vec<u8>,
    pub policy: PeerPolicy,
    pub max_allocations_per_user: usize,
}

pub(crate) struct Engine {
    cfg: EngineConfig,
    base: std::time::Instant,
    udp: UdpSide,
    tcp: Option<TcpSide>,
    relays: HashMap<SocketAddr, Relay>,
    allocations: HashMap<(Proto, SocketAddr), Allocation>,
    per_participant: HashMap<String, usize>,
    /// Usernames the cores know, with their expiry.
    users: HashMap<String, u64>,
    userhash: HashMap<[u8; 32], String>,
    /// Usernames given to the cores since they were made.
    core_users: usize,
    /// The Allocate being handed to a core right now: (client, username, participant).
    pending: Option<((Proto, SocketAddr), String, String)>,
    port_cursor: u32,
    scratch: Vec<u8>,
    stats: Arc<Stats>,
    /// Tasks of TLS connections, aborted on stop.
    pub(crate) conn_tasks: HashMap<SocketAddr, JoinHandle<()>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Engine {
    pub(crate) fn new(
        cfg: EngineConfig,
        udp_socket: Arc<UdpSocket>,
        udp_listen: SocketAddr,
        tcp_listen: Option<SocketAddr>,
        stats: Arc<Stats>,
    ) -> Self {
        let udp = UdpSide {
            core: Core::new(TransportType::Udp, udp_listen, cfg.realm.clone()),
            socket: udp_socket,
        };
        let tcp = tcp_listen.map(|listen| TcpSide {
            core: Core::new(TransportType::Tcp, listen, cfg.realm.clone()),
            conns: HashMap::new(),
        });
        let span = u32::from(*cfg.relay_ports.end()) - u32::from(*cfg.relay_ports.start()) + 1;
        let port_cursor = rand::random::<u32>() % span;
        Self {
            cfg,
            base: std::time::Instant::now(),
            udp,
            tcp,
            relays: HashMap::new(),
            allocations: HashMap::new(),
            per_participant: HashMap::new(),
            users: HashMap::new(),
            userhash: HashMap::new(),
            core_users: 0,
            pending: None,
            port_cursor,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
            stats,
            conn_tasks: HashMap::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_std(self.base)
    }

    fn core(&mut self, proto: Proto) -> Option<&mut Core> {
        match proto {
            Proto::Udp => Some(&mut self.udp.core),
            Proto::Tcp => self.tcp.as_mut().map(|t| &mut t.core),
        }
    }

    fn listen_addr(&self, proto: Proto) -> Option<SocketAddr> {
        match proto {
            Proto::Udp => Some(self.udp.core.listen_address()),
            Proto::Tcp => self.tcp.as_ref().map(|t| t.core.listen_address()),
        }
    }

    // ---- client side ------------------------------------------------------

    /// One datagram (UDP) or one complete frame (TLS) from a client.
    pub(crate) fn on_client(
        &mut self,
        shared: &Arc<Shared>,
        proto: Proto,
        from: SocketAddr,
        data: &[u8],
    ) {
        let Some(listen) = self.listen_addr(proto) else {
            return;
        };
        let Some(&first) = data.first() else {
            return;
        };
        let mut data = data;
        let is_stun = match first >> 6 {
            0 => true,
            1 => {
                // ChannelData, 0x4000..=0x7FFF. Over TLS it comes padded to 4
                // bytes; turn-server-proto 0.7.3 would keep the padding as the
                // start of the next frame, so it is cut off here.
                if proto == Proto::Tcp && data.len() >= 4 {
                    let unpadded = 4 + usize::from(u16::from_be_bytes([data[2], data[3]]));
                    data = &data[..unpadded.min(data.len())];
                }
                false
            }
            _ => {
                debug!(%from, len = data.len(), "turn: dropping datagram that is neither STUN nor ChannelData");
                return;
            }
        };
        if is_stun {
            let msg = match Message::from_bytes(data) {
                Ok(msg) => msg,
                Err(e) => {
                    debug!(%from, error = %e, "turn: dropping malformed STUN message");
                    return;
                }
            };
            match self.precheck(proto, from, &msg) {
                Verdict::Pass => {}
                Verdict::Reply(bytes) => {
                    self.send(proto, TransportType::Udp, listen, from, &bytes);
                    return;
                }
                Verdict::Drop => return,
            }
        }
        let now = self.now();
        let transport = match proto {
            Proto::Udp => TransportType::Udp,
            Proto::Tcp => TransportType::Tcp,
        };
        let out = match self.core(proto) {
            Some(core) => core.recv(Transmit::new(data, transport, from, listen), now),
            None => None,
        };
        if let Some(out) = out {
            self.route(proto, out);
        }
        if is_stun {
            self.drive(shared, proto, now);
        }
        self.pending = None;
    }

    fn core_add_user(&mut self, username: &str, password: &str, expires_at_unix: u64) {
        self.core_users += 1;
        self.udp
            .core
            .add_user(username.to_owned(), password.to_owned());
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.core.add_user(username.to_owned(), password.to_owned());
        }
        self.users.insert(username.to_owned(), expires_at_unix);
        self.userhash.insert(
            Userhash::compute(username, &self.cfg.realm),
            username.to_owned(),
        );
    }

    fn forget_user(&mut self, username: &str) {
        self.users.remove(username);
        self.userhash
            .remove(&Userhash::compute(username, &self.cfg.realm));
    }

    // ---- relay side -------------------------------------------------------

    /// One datagram from a peer to the relay socket `relay` (public address).
    pub(crate) fn on_peer(&mut self, relay: SocketAddr, from: SocketAddr, data: &[u8]) {
        let Some(proto) = self.relays.get(&relay).map(|r| r.proto) else {
            return;
        };
        if !self.cfg.policy.allows(from) {
            debug!(%from, %relay, "turn: dropping a packet from a refused peer");
            return;
        }
        let now = self.now();
        let out = match self.core(proto) {
            Some(core) => core.recv(Transmit::new(data, TransportType::Udp, from, relay), now),
            None => None,
        };
        if let Some(out) = out {
            self.stats.relayed_to_client(data.len());
            self.route(proto, out);
        }
    }

    // ---- driving the cores ------------------------------------------------

    /// Runs a core's timers and queued work; returns when it next wants to run.
    fn drive(&mut self, shared: &Arc<Shared>, proto: Proto, now: Instant) -> Instant {
        let mut next = now + Duration::from_secs(1);
        // poll() only returns each piece of work once; the bound is a seatbelt.
        for _ in 0..10_000 {
            let Some(core) = self.core(proto) else {
                return next;
            };
            match core.poll(now) {
                TurnServerPollRet::WaitUntil(at) => {
                    next = next.min(at);
                    break;
                }
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    let result = self.allocate_relay(
                        shared,
                        proto,
                        client_addr,
                        allocation_transport,
                        family,
                    );
                    if let Some(core) = self.core(proto) {
                        core.allocated_socket(
                            transport,
                            listen_addr,
                            client_addr,
                            allocation_transport,
                            family,
                            result,
                            now,
                        );
                    }
                }
                TurnServerPollRet::SocketClose { listen_addr, .. } => {
                    self.close_relay(listen_addr);
                }
                TurnServerPollRet::TcpConnect {
                    relayed_addr,
                    peer_addr,
                    listen_addr,
                    client_addr,
                } => {
                    // TCP allocations are refused before they exist; should a core ask anyway:
                    core.tcp_connected(
                        relayed_addr,
                        peer_addr,
                        listen_addr,
                        client_addr,
                        Err(TcpConnectError::Forbidden),
                        now,
                    );
                }
                TurnServerPollRet::TcpClose {
                    local_addr,
                    remote_addr,
                } => {
                    if let Some(tcp) = self.tcp.as_mut() {
                        if tcp.core.listen_address() == local_addr {
                            // Dropping the sender ends the connection's writer.
                            tcp.conns.remove(&remote_addr);
                        }
                    }
                }
            }
        }
        self.flush(proto, now);
        next
    }

    /// Sends what a core has queued.
    fn flush(&mut self, proto: Proto, now: Instant) {
        while let Some(t) = self.core(proto).and_then(|c| c.poll_transmit(now)) {
            let Transmit {
                data,
                transport,
                from,
                to,
            } = t;
            self.send(proto, transport, from, to, &data);
        }
    }

    /// Timers of both cores, user pruning; returns when to run again.
    pub(crate) fn tick(&mut self, shared: &Arc<Shared>) -> std::time::Instant {
        let now = self.now();
        let mut next = self.drive(shared, Proto::Udp, now);
        if self.tcp.is_some() {
            next = next.min(self.drive(shared, Proto::Tcp, now));
        }
        self.prune_users();
        self.recycle_cores_if_idle();
        let wait = next
            .checked_duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(1));
        std::time::Instant::now() + wait.max(Duration::from_millis(5))
    }

    fn recycle_cores_if_idle(&mut self) {
        if self.core_users < RECYCLE_CORES_AFTER_USERS
            || !self.allocations.is_empty()
            || !self.relays.is_empty()
            || self.tls_connection_count() > 0
        {
            return;
        }
        debug!(
            users = self.core_users,
            "turn: replacing idle cores to free their user and nonce tables"
        );
        let listen = self.udp.core.listen_address();
        self.udp.core = Core::new(TransportType::Udp, listen, self.cfg.realm.clone());
        if let Some(tcp) = self.tcp.as_mut() {
            let listen = tcp.core.listen_address();
            tcp.core = Core::new(TransportType::Tcp, listen, self.cfg.realm.clone());
        }
        self.users.clear();
        self.userhash.clear();
        self.core_users = 0;
    }

    fn prune_users(&mut self) {
        let cutoff = unix_now().saturating_sub(USER_GRACE_SECS);
        let stale: Vec<String> = self
            .users
            .iter()
            .filter(|(_, &exp)| exp < cutoff)
            .map(|(u, _)| u.clone())
            .filter(|u| !self.allocations.values().any(|a| &a.username == u))
            .collect();
        for u in stale {
            self.forget_user(&u);
        }
    }

    // ---- output -----------------------------------------------------------

    fn route<T: AsRef<[u8]> + std::fmt::Debug>(
        &mut self,
        proto: Proto,
        out: TransmitBuild<DelayedMessageOrChannelSend<T>>,
    ) {
        if matches!(out.data, DelayedMessageOrChannelSend::Message(_)) {
            // turn-types 0.7.3's `DelayedMessage::write_into` always writes a
            // Send indication, even toward a client (`build` is right), so Data
            // indications take the allocating path.
            let t = out.build();
            self.send(proto, t.transport, t.from, t.to, &t.data);
            return;
        }
        let mut buf = std::mem::take(&mut self.scratch);
        let len = out.data.len();
        buf.clear();
        buf.resize(len, 0);
        let t = out.write_into(&mut buf[..len]);
        let (transport, from, to) = (t.transport, t.from, t.to);
        self.send(proto, transport, from, to, &buf[..len]);
        self.scratch = buf;
    }

    /// Sends from the core's listen address (to a client) or from a relay
    /// address (to a peer, if the policy allows that peer).
    fn send(
        &mut self,
        proto: Proto,
        transport: TransportType,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) {
        if let Some(relay) = self.relays.get(&from) {
            if !self.cfg.policy.allows(to) {
                debug!(%from, %to, "turn: not relaying to a refused peer");
                self.stats.refuse(RefuseReason::ForbiddenPeer);
                return;
            }
            match relay.socket.try_send_to(data, to) {
                Ok(_) => self.stats.relayed_to_peer(data.len()),
                Err(e) => debug!(%from, %to, error = %e, "turn: relay send dropped"),
            }
            return;
        }
        match proto {
            Proto::Udp if transport == TransportType::Udp => {
                if let Err(e) = self.udp.socket.try_send_to(data, to) {
                    debug!(%to, error = %e, "turn: send to client dropped");
                }
            }
            Proto::Tcp => {
                let Some(tcp) = self.tcp.as_mut() else {
                    return;
                };
                let full = match tcp.conns.get(&to) {
                    Some(tx) => {
                        let mut frame = data.to_vec();
                        // ChannelData over TCP/TLS is padded to 4 bytes (RFC 8656
                        // §12.5); turn-server-proto leaves that to the transport.
                        if frame.first().is_some_and(|b| b >> 6 == 1) {
                            frame.resize(frame.len().next_multiple_of(4), 0);
                        }
                        tx.try_send(frame).is_err()
                    }
                    None => false,
                };
                if full {
                    debug!(%to, "turn: TLS client too slow, closing it");
                    tcp.conns.remove(&to);
                }
            }
            Proto::Udp => debug!(%from, %to, "turn: no route for a transmit"),
        }
    }

    // ---- TLS connections --------------------------------------------------

    pub(crate) fn tls_connected(&mut self, peer: SocketAddr, tx: mpsc::Sender<Vec<u8>>) -> bool {
        match self.tcp.as_mut() {
            Some(tcp) => {
                tcp.conns.insert(peer, tx);
                true
            }
            None => false,
        }
    }

    pub(crate) fn tls_closed(&mut self, peer: SocketAddr) {
        let now = self.now();
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.conns.remove(&peer);
            let listen = tcp.core.listen_address();
            // An empty read tells the core the connection is gone.
            let _ = tcp.core.recv(
                Transmit::new(&[][..], TransportType::Tcp, peer, listen),
                now,
            );
        }
        self.conn_tasks.remove(&peer);
    }

    pub(crate) fn tls_connection_count(&self) -> usize {
        self.tcp.as_ref().map_or(0, |t| t.conns.len())
    }

    /// Stops every relay and connection task and drops their sockets.
    pub(crate) fn shutdown(&mut self) {
        for (_, relay) in self.relays.drain() {
            relay.task.abort();
        }
        for (_, task) in self.conn_tasks.drain() {
            task.abort();
        }
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.conns.clear();
        }
        self.allocations.clear();
        self.per_participant.clear();
        self.stats.set_allocations(0);
    }
}

pub(crate) fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let std_sock = std::net::UdpSocket::bind(addr)?;
    std_sock.set_nonblocking(true)?;
    UdpSocket::from_std(std_sock)
}
