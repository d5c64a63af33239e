//! OnAir's embedded TURN server (RFC 5766 / RFC 8656) for clients that cannot
//! reach the SFU's UDP port directly.
//!
//! - **Transports**: TURN over UDP, and over TLS (`turns:`) when
//!   [`TurnConfig::tls`] is set. Relays are UDP only (no RFC 6062 TCP relays).
//! - **Credentials**: the TURN REST API scheme of coturn's `use-auth-secret`
//!   and LiveKit: username `"{expiry_unix}:{participant}"`, password
//!   base64(HMAC-SHA1(secret, username)), minted by [`credentials`]. A wrong
//!   password or a malformed username gets 401; an expired username gets 401
//!   for a new allocation (existing allocations may still be refreshed, so a
//!   call outlives its credentials the way it outlives its join token).
//! - **Relay policy**: CreatePermission / ChannelBind toward loopback, private
//!   (RFC 1918, fc00::/7), link-local, unspecified, multicast and broadcast
//!   peers get 403, and nothing is sent to (or accepted from) such peers,
//!   except those in [`TurnConfig::allow_peers`] (the SFU's own media addresses).
//! - **Limits**: [`TurnConfig::max_allocations_per_user`] allocations per
//!   participant (486 beyond); relay ports from [`TurnConfig::relay_ports`]
//!   (508 when none is free); allocation lifetime as the RFC says (600 s by
//!   default, at most 3600 s, renewed by Refresh); permissions 300 s, channels
//!   600 s. Malformed datagrams are dropped with a debug log.
//! - **Counters**: [`TurnServer::stats`], and through the `metrics` facade
//!   `onair_turn_allocations` (gauge), `onair_turn_allocations_created_total`,
//!   `onair_turn_relayed_bytes_total` (both directions) and
//!   `onair_turn_refused_total{reason}` (reasons: [`RefuseReason::as_str`]).
//!   Metric handles are taken in [`TurnServer::start`], so install the
//!   recorder before starting the server.
//!
//! # Why `turn-server-proto`
//! The protocol is [`turn-server-proto`](https://docs.rs/turn-server-proto)
//! (Centricular's sans-IO TURN server, MIT/Apache-2.0, maintained alongside
//! its `turn-client-proto` and `stun-proto`): the same model as str0m in the
//! SFU — the core never touches a socket or a clock, this crate owns both.
//! That is what lets OnAir's rules sit in front of it: every STUN request is
//! parsed and checked here (credentials from the secret, quota, peer policy)
//! before the core sees it, and every packet the core wants sent from a relay
//! socket is checked again on the way out. webrtc-rs's `turn` (async, owns its
//! sockets) has an auth hook but no hook for peer permissions or per-user
//! quotas; `turn-server` (turn-rs) is a whole server with its own config and
//! gRPC API, not a library to embed.
//!
//! Worked around in 0.7.3 (worth reporting upstream): `DelayedMessage::write_into`
//! writes Data indications as Send indications (we use `build` for those);
//! over TCP/TLS, ChannelData padding is neither stripped on the way in nor
//! added on the way out (done here); and the cores can add users but not
//! remove them, so idle cores are replaced once 1024 usernames were added.
//!
//! # Runtime
//! [`TurnServer::start`] spawns on the current Tokio runtime: one task reading
//! the UDP listen socket, one timer task (allocation / permission expiry, once
//! a second at most), one task per relay socket, and with TLS one accept task
//! plus one task per TLS connection. All state sits behind one mutex, held
//! only for synchronous work (sends are non-blocking `try_send_to`; a UDP
//! send that would block is dropped, like a lost datagram).
//! [`TurnServer::stop`] (or dropping the server) aborts them all and closes
//! every socket.

#![deny(missing_docs)]

mod credentials;
mod engine;
mod policy;
mod stats;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

pub use credentials::credentials;
pub use stats::{RefuseReason, TurnStats};

use engine::{Engine, EngineConfig, Proto, Shared, TLS_QUEUE};
use policy::PeerPolicy;

/// TLS connections served at once; more are closed on accept.
const MAX_TLS_CONNECTIONS: usize = 4096;
/// A TLS handshake must finish within this.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A TLS connection that sends nothing for this long is closed (clients
/// refresh well within the 600 s allocation lifetime).
const TLS_IDLE_TIMEOUT: Duration = Duration::from_secs(660);
/// Largest frame on a TURN-over-TCP stream: a STUN header plus 65535 bytes.
const MAX_FRAME: usize = 20 + 65_535;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// UDP address clients send TURN to (`turn:` URLs), e.g. `0.0.0.0:3478`.
    /// Port 0 picks a free port; see [`TurnServer::udp_addr`].
    pub udp_listen: SocketAddr,
    /// TURN over TLS (`turns:` URLs); `None` for UDP only.
    pub tls: Option<TurnTls>,
    /// The address announced in XOR-RELAYED-ADDRESS (what peers send to).
    pub public_ip: IpAddr,
    /// The address relay sockets bind to (often the same as `public_ip`, or
    /// the private address behind a 1:1 NAT). Must be of `public_ip`'s family.
    pub relay_ip: IpAddr,
    /// Ports for relay sockets, e.g. `50000..=60000`; one per allocation.
    pub relay_ports: RangeInclusive<u16>,
    /// The REALM of the long-term credentials.
    pub realm: String,
    /// The secret credentials are derived from (see [`credentials`]).
    pub secret: Vec<u8>,
    /// Peers allowed although their address is in a refused range (the SFU's
    /// own media addresses). A port of 0 allows every port of that IP.
    pub allow_peers: Vec<SocketAddr>,
    /// Allocations one participant may hold at once.
    pub max_allocations_per_user: usize,
}

/// TURN over TLS.
#[derive(Clone)]
pub struct TurnTls {
    /// TCP address to accept TLS on, e.g. `0.0.0.0:5349`; port 0 picks one
    /// (see [`TurnServer::tls_addr`]).
    pub listen: SocketAddr,
    /// Certificate and key; the caller chooses the crypto provider.
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TurnTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnTls")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The configuration cannot work.
    #[error("invalid TURN configuration: {0}")]
    Config(String),
    /// A listen socket could not be bound.
    #[error("cannot bind TURN {what} on {addr}: {source}")]
    Bind {
        /// `"udp"` or `"tls"`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// [`TurnServer::start`] was called outside a Tokio runtime.
    #[error("TURN server must be started inside a Tokio runtime")]
    NoRuntime,
}

/// A running TURN server. Dropping it stops it, as [`TurnServer::stop`] does.
#[derive(Debug)]
pub struct TurnServer {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    udp_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl TurnServer {
    /// Binds the listen sockets and spawns the server's tasks on the current
    /// Tokio runtime.
    pub fn start(config: TurnConfig) -> Result<TurnServer, TurnError> {
        validate(&config)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| TurnError::NoRuntime)?;
        let _guard = handle.enter();

        let udp = engine::bind_udp(config.udp_listen).map_err(|source| TurnError::Bind {
            what: "udp",
            addr: config.udp_listen,
            source,
        })?;
        let udp_addr = udp.local_addr().map_err(|source| TurnError::Bind {
            what: "udp",
            addr: config.udp_listen,
            source,
        })?;
        let udp = Arc::new(udp);

        let tls = match &config.tls {
            Some(tls) => {
                let listener = bind_tcp(tls.listen).map_err(|source| TurnError::Bind {
                    what: "tls",
                    addr: tls.listen,
                    source,
                })?;
                let addr = listener.local_addr().map_err(|source| TurnError::Bind {
                    what: "tls",
                    addr: tls.listen,
                    source,
                })?;
                Some((listener, addr, Arc::clone(&tls.config)))
            }
            None => None,
        };
        let tls_addr = tls.as_ref().map(|(_, addr, _)| *addr);

        let stats = Arc::new(stats::Stats::new());
        let engine = Engine::new(
            EngineConfig {
                public_ip: config.public_ip,
                relay_ip: config.relay_ip,
                relay_ports: config.relay_ports.clone(),
                realm: config.realm.clone(),
                secret: config.secret.clone(),
                policy: PeerPolicy::new(config.allow_peers.clone()),
                max_allocations_per_user: config.max_allocations_per_user,
            },
            Arc::clone(&udp),
            udp_addr,
            tls_addr,
            Arc::clone(&stats),
        );
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            stats,
        });

        let mut tasks = vec![
            tokio::spawn(udp_task(Arc::clone(&shared), udp)),
            tokio::spawn(timer_task(Arc::clone(&shared))),
        ];
        if let Some((listener, _, tls_config)) = tls {
            tasks.push(tokio::spawn(tls_accept_task(
                Arc::clone(&shared),
                listener,
                tokio_rustls::TlsAcceptor::from(tls_config),
            )));
        }
        info!(udp = %udp_addr, tls = ?tls_addr, public_ip = %config.public_ip,
              relay_ports = ?config.relay_ports, "turn: server started");
        Ok(TurnServer {
            shared,
            tasks,
            udp_addr,
            tls_addr,
        })
    }

    /// The UDP address the server listens on (the bound port when
    /// [`TurnConfig::udp_listen`] had port 0).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The TLS address the server listens on, if TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The counters now.
    pub fn stats(&self) -> TurnStats {
        self.shared.stats.snapshot()
    }

    /// Stops every task and closes every socket (listen, relay, TLS); returns
    /// once they are closed.
    pub async fn stop(mut self) {
        let tasks = self.halt();
        for task in tasks {
            let _ = task.await;
        }
        info!("turn: server stopped");
    }

    fn halt(&mut self) -> Vec<JoinHandle<()>> {
        let mut tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        let mut engine = self.shared.lock();
        tasks.extend(engine.conn_tasks.drain().map(|(_, t)| t));
        engine.shutdown();
        for t in &tasks {
            t.abort();
        }
        tasks
    }
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn validate(c: &TurnConfig) -> Result<(), TurnError> {
    let bad = |m: &str| Err(TurnError::Config(m.to_owned()));
    if c.relay_ports.is_empty() {
        return bad("relay_ports is empty");
    }
    if *c.relay_ports.start() == 0 {
        return bad("relay_ports must not include port 0");
    }
    if c.public_ip.is_ipv4() != c.relay_ip.is_ipv4() {
        return bad("public_ip and relay_ip must be of the same family");
    }
    if c.public_ip.is_unspecified() {
        return bad("public_ip must be an address peers can reach, not unspecified");
    }
    if c.realm.is_empty() || c.realm.len() > 763 {
        return bad("realm must be 1 to 763 bytes");
    }
    if c.secret.is_empty() {
        return bad("secret is empty");
    }
    if c.max_allocations_per_user == 0 {
        return bad("max_allocations_per_user must be at least 1");
    }
    Ok(())
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}

async fn udp_task(shared: Arc<Shared>, socket: Arc<tokio::net::UdpSocket>) {
    let mut buf = vec![0u8; engine::MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => shared
                .lock()
                .on_client(&shared, Proto::Udp, from, &buf[..n]),
            Err(e) => {
                debug!(error = %e, "turn: udp recv error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn timer_task(shared: Arc<Shared>) {
    loop {
        let next = shared.lock().tick(&shared);
        tokio::time::sleep_until(next.into()).await;
    }
}

async fn tls_accept_task(
    shared: Arc<Shared>,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "turn: tls accept error");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut engine = shared.lock();
        engine.conn_tasks.retain(|_, t| !t.is_finished());
        if engine.conn_tasks.len() >= MAX_TLS_CONNECTIONS {
            warn!(%peer, "turn: too many TLS connections, refusing one");
            continue;
        }
        let task = tokio::spawn(tls_conn(
            Arc::clone(&shared),
            acceptor.clone(),
            stream,
            peer,
        ));
        engine.conn_tasks.insert(peer, task);
    }
}

async fn tls_conn(
    shared: Arc<Shared>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "turn: TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "turn: TLS handshake timed out");
            return;
        }
    };
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TLS_QUEUE);
    if !shared.lock().tls_connected(peer, tx) {
        return;
    }
    let writer = async {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let reader = async {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(TLS_IDLE_TIMEOUT, rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match next_frame(&buf) {
                    Frame::Incomplete => break,
                    Frame::Invalid => {
                        debug!(%peer, "turn: TLS stream is neither STUN nor ChannelData, closing");
                        return;
                    }
                    Frame::Complete(len) => {
                        shared
                            .lock()
                            .on_client(&shared, Proto::Tcp, peer, &buf[..len]);
                        buf.drain(..len);
                    }
                }
            }
            // A partial frame never exceeds MAX_FRAME, so this bounds memory.
            if buf.len() > MAX_FRAME {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
    shared.lock().tls_closed(peer);
    debug!(%peer, open = shared.lock().tls_connection_count(), "turn: TLS connection closed");
}

/// One frame of a TURN-over-TCP stream.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    Complete(usize),
    Incomplete,
    Invalid,
}

/// STUN messages carry their length after a 20-byte header; ChannelData
/// after a 4-byte one, padded to 4 bytes over TCP (RFC 8656 §12.5).
fn next_frame(buf: &[u8]) -> Frame {
    if buf.len() < 4 {
        return Frame::Incomplete;
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let total = match buf[0] >> 6 {
        0 => 20 + len,
        1 => 4 + ((len + 3) & !3),
        _ => return Frame::Invalid,
    };
    if buf.len() < total {
        Frame::Incomplete
    } else {
        Frame::Complete(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(next_frame(&[0, 1, 0]), Frame::Incomplete);
        let mut stun = vec![0u8, 1, 0, 4];
        stun.extend([0; 20]);
        assert_eq!(next_frame(&stun), Frame::Complete(24));
        assert_eq!(next_frame(&stun[..23]), Frame::Incomplete);
        assert_eq!(
            next_frame(&[0x40, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0]),
            Frame::Complete(12)
        );
        assert_eq!(next_frame(&[0x80, 0, 0, 0]), Frame::Invalid);
    }
}
