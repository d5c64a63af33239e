//! A minimal TURN client (RFC 5389 long-term credentials with SHA-1 and
//! USERNAME, as browsers speak it) over UDP or TLS, a UDP echo peer, and a
//! server factory. Real sockets on 127.0.0.1.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use onair_turn::{credentials, TurnConfig, TurnServer, TurnTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn_server_proto::types::attribute::{
    ChannelNumber, Data, Lifetime, RequestedTransport, XorPeerAddress, XorRelayedAddress,
};
use turn_server_proto::types::message::{
    ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, DATA, REFRESH, SEND,
};
use turn_server_proto::types::stun::attribute::{ErrorCode, Nonce, Realm, Username};
use turn_server_proto::types::stun::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageType, MessageWrite,
    MessageWriteExt, MessageWriteVec, Method, TransactionId,
};

pub const SECRET: &[u8] = b"turn-test-secret";
pub const REALM: &str = "onair.test";
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A config on 127.0.0.1 with a port range of its own per test.
pub fn config(relay_ports: std::ops::RangeInclusive<u16>, allow: Vec<SocketAddr>) -> TurnConfig {
    TurnConfig {
        udp_listen: SocketAddr::new(localhost(), 0),
        tls: None,
        public_ip: localhost(),
        relay_ip: localhost(),
        relay_ports,
        realm: REALM.to_owned(),
        secret: SECRET.to_vec(),
        allow_peers: allow,
        max_allocations_per_user: 2,
    }
}

pub fn start(config: TurnConfig) -> TurnServer {
    if let Ok(filter) = std::env::var("TURN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    TurnServer::start(config).expect("TURN server starts")
}

pub fn tls_config() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

pub fn with_tls(mut c: TurnConfig, server: Arc<rustls::ServerConfig>) -> TurnConfig {
    c.tls = Some(TurnTls {
        listen: SocketAddr::new(localhost(), 0),
        config: server,
    });
    c
}

/// A UDP peer that sends back whatever it receives; returns its address.
pub async fn echo_peer() -> SocketAddr {
    let sock = UdpSocket::bind((localhost(), 0)).await.expect("bind echo");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    addr
}

enum Link {
    Udp(UdpSocket, SocketAddr),
    Tls(
        Box<tokio_rustls::client::TlsStream<TcpStream>>,
        Vec<u8>, // read buffer
    ),
}

/// What came back from the relay.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Data { peer: SocketAddr, data: Vec<u8> },
    Channel { channel: u16, data: Vec<u8> },
}

pub struct Client {
    link: Link,
    pub username: String,
    pub password: String,
    realm: Option<String>,
    nonce: Option<String>,
    pub relayed: Option<SocketAddr>,
}

impl Client {
    pub async fn udp(server: SocketAddr, username: &str, password: &str) -> Client {
        let sock = UdpSocket::bind((localhost(), 0))
            .await
            .expect("bind client");
        Client::new(Link::Udp(sock, server), username, password)
    }

    pub async fn tls(
        server: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        username: &str,
        password: &str,
    ) -> Client {
        let tcp = TcpStream::connect(server).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        Client::new(Link::Tls(Box::new(tls), Vec::new()), username, password)
    }

    /// A client with credentials minted for `participant`, valid for an hour.
    pub async fn for_participant(server: SocketAddr, participant: &str) -> Client {
        let (u, p) = credentials(SECRET, participant, unix_now() + 3600);
        Client::udp(server, &u, &p).await
    }

    fn new(link: Link, username: &str, password: &str) -> Client {
        Client {
            link,
            username: username.to_owned(),
            password: password.to_owned(),
            realm: None,
            nonce: None,
            relayed: None,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(sock, server) => {
                sock.send_to(bytes, *server).await.expect("send");
            }
            Link::Tls(stream, _) => {
                stream.write_all(bytes).await.expect("write");
            }
        }
    }

    /// The next datagram (UDP) or frame (TLS), or None after the timeout.
    pub async fn recv_raw(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match &mut self.link {
            Link::Udp(sock, _) => {
                let mut buf = vec![0u8; 65536];
                match tokio::time::timeout(timeout, sock.recv_from(&mut buf)).await {
                    Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
                    _ => None,
                }
            }
            Link::Tls(stream, buf) => loop {
                if buf.len() >= 4 {
                    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                    let total = if buf[0] >> 6 == 0 {
                        20 + len
                    } else {
                        4 + ((len + 3) & !3)
                    };
                    if buf.len() >= total {
                        let frame: Vec<u8> = buf.drain(..total).collect();
                        return Some(frame);
                    }
                }
                let mut chunk = [0u8; 16384];
                match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return None,
                }
            },
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self.link, Link::Tls(..))
    }

    fn sign(&self, b: &mut MessageWriteVec) {
        let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) else {
            return;
        };
        b.add_attribute(&Username::new(&self.username).expect("username"))
            .expect("add");
        b.add_attribute(&Realm::new(realm).expect("realm"))
            .expect("add");
        b.add_attribute(&Nonce::new(nonce).expect("nonce"))
            .expect("add");
        let key = LongTermKeyCredentials::new(
            self.username.clone(),
            self.password.clone(),
            realm.clone(),
        );
        b.add_message_integrity(&key.into(), IntegrityAlgorithm::Sha1)
            .expect("integrity");
    }

    /// Sends a request and returns the response with the same transaction
    /// (retransmitting over UDP); learns REALM/NONCE from 401/438 and
    /// retries once with them.
    async fn request(
        &mut self,
        method: Method,
        attrs: &dyn Fn(&mut MessageWriteVec, TransactionId),
    ) -> Vec<u8> {
        for _attempt in 0..3 {
            let mut b = Message::builder_request(method, MessageWriteVec::new());
            let tid = b.transaction_id();
            attrs(&mut b, tid);
            self.sign(&mut b);
            let bytes = b.finish();
            let resp = self.exchange(&bytes, tid).await;
            let msg = Message::from_bytes(&resp).expect("response parses");
            if msg.class() == MessageClass::Error {
                let code = msg.attribute::<ErrorCode>().expect("error code").code();
                let retry = (code == ErrorCode::UNAUTHORIZED && self.nonce.is_none())
                    || code == ErrorCode::STALE_NONCE;
                if retry {
                    if let (Ok(realm), Ok(nonce)) =
                        (msg.attribute::<Realm>(), msg.attribute::<Nonce>())
                    {
                        self.realm = Some(realm.realm().to_owned());
                        self.nonce = Some(nonce.nonce().to_owned());
                        continue;
                    }
                }
            }
            return resp;
        }
        panic!("no final response after 3 attempts");
    }

    async fn exchange(&mut self, bytes: &[u8], tid: TransactionId) -> Vec<u8> {
        for _ in 0..3 {
            self.send_raw(bytes).await;
            let deadline = tokio::time::Instant::now() + TIMEOUT;
            while let Some(resp) = self
                .recv_raw(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                if let Ok(msg) = Message::from_bytes(&resp) {
                    if msg.transaction_id() == tid && msg.class().is_response() {
                        return resp;
                    }
                }
            }
            if self.is_tls() {
                break;
            }
        }
        panic!("no response to a request");
    }

    /// Ok(relayed address) or Err(error code).
    pub async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let resp = self
            .request(ALLOCATE, &|b, _| {
                b.add_attribute(&RequestedTransport::new(RequestedTransport::UDP))
                    .expect("add");
            })
            .await;
        let msg = Message::from_bytes(&resp).expect("parse");
        result(&msg)?;
        let relayed = msg
            .attribute::<XorRelayedAddress>()
            .expect("XOR-RELAYED-ADDRESS")
            .addr(msg.transaction_id());
        self.relayed = Some(relayed);
        Ok(relayed)
    }

    pub async fn create_permission(&mut self, peer: SocketAddr) -> Result<(), u16> {
        let resp = self
            .request(CREATE_PERMISSION, &|b, tid| {
                b.add_attribute(&XorPeerAddress::new(peer, tid))
                    .expect("add");
            })
            .await;
        result(&Message::from_bytes(&resp).expect("parse"))
    }

    pub async fn channel_bind(&mut self, peer: SocketAddr, channel: u16) -> Result<(), u16> {
        let resp = self
            .request(CHANNEL_BIND, &|b, tid| {
                b.add_attribute(&ChannelNumber::new(channel)).expect("add");
                b.add_attribute(&XorPeerAddress::new(peer, tid))
                    .expect("add");
            })
            .await;
        result(&Message::from_bytes(&resp).expect("parse"))
    }

    pub async fn refresh(&mut self, lifetime: u32) -> Result<(), u16> {
        let resp = self
            .request(REFRESH, &|b, _| {
                b.add_attribute(&Lifetime::new(lifetime)).expect("add");
            })
            .await;
        result(&Message::from_bytes(&resp).expect("parse"))
    }

    pub async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut b = Message::builder(
            MessageType::from_class_method(MessageClass::Indication, SEND),
            TransactionId::generate(),
            MessageWriteVec::new(),
        );
        let tid = b.transaction_id();
        b.add_attribute(&XorPeerAddress::new(peer, tid))
            .expect("add");
        b.add_attribute(&Data::new(data)).expect("add");
        let bytes = b.finish();
        self.send_raw(&bytes).await;
    }

    pub async fn send_channel(&mut self, channel: u16, data: &[u8]) {
        let mut frame = Vec::with_capacity(4 + data.len() + 3);
        frame.extend_from_slice(&channel.to_be_bytes());
        frame.extend_from_slice(&(data.len() as u16).to_be_bytes());
        frame.extend_from_slice(data);
        if self.is_tls() {
            while frame.len() % 4 != 0 {
                frame.push(0);
            }
        }
        self.send_raw(&frame).await;
    }

    /// The next Data indication or ChannelData, if any within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Incoming> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let raw = self.recv_raw(left).await?;
            if raw.first().is_some_and(|b| b >> 6 == 1) && raw.len() >= 4 {
                let channel = u16::from_be_bytes([raw[0], raw[1]]);
                let len = usize::from(u16::from_be_bytes([raw[2], raw[3]]));
                if raw.len() >= 4 + len {
                    return Some(Incoming::Channel {
                        channel,
                        data: raw[4..4 + len].to_vec(),
                    });
                }
            } else if let Ok(msg) = Message::from_bytes(&raw) {
                if msg.has_class(MessageClass::Indication) && msg.method() == DATA {
                    let peer = msg
                        .attribute::<XorPeerAddress>()
                        .expect("peer")
                        .addr(msg.transaction_id());
                    let data = msg.attribute::<Data>().expect("data").data().to_vec();
                    return Some(Incoming::Data { peer, data });
                }
            }
        }
    }
}

fn result(msg: &Message<'_>) -> Result<(), u16> {
    match msg.class() {
        MessageClass::Success => Ok(()),
        _ => Err(msg.attribute::<ErrorCode>().map(|e| e.code()).unwrap_or(0)),
    }
}

/// Waits until `cond` holds (server counters settle asynchronously).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
