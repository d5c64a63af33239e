//! The RTMP server OBS streams to. Each connection is its own task: the
//! handshake, then an `rml_rtmp` server session fed with the bytes read
//! (sans-IO), whose packets are written back and whose events drive the
//! [`Stream`]. A connection that sends garbage, stalls, is refused, does
//! not publish in time, announces oversized messages, or comes over the
//! connection caps is closed with a log line; the others go on.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::chunks::{ChunkError, ChunkGuard};
use crate::stream::Stream;
use crate::{authorize, IngestConfig, Target};

/// A connection silent this long (mid-handshake, or mid-stream) is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// From its first byte, a connection must have published with a valid
/// key within this, however it trickles its bytes.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// RTMP connections open at once, in all.
const MAX_CONNECTIONS: usize = 256;
/// RTMP connections open at once from one address.
const MAX_PER_ADDRESS: usize = 8;

/// Who is connected, to hold the caps.
#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A connection counted in [`Open`] until dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Slot {
    /// Counts a connection from `ip`, unless a cap is reached.
    fn take(open: &Arc<Mutex<Open>>, ip: IpAddr) -> Option<Slot> {
        let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = o.by_address.get(&ip).copied().unwrap_or(0);
        if o.total >= MAX_CONNECTIONS || mine >= MAX_PER_ADDRESS {
            return None;
        }
        o.total += 1;
        o.by_address.insert(ip, mine + 1);
        Some(Slot {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(|e| e.into_inner());
        o.total -= 1;
        if let Some(n) = o.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                o.by_address.remove(&self.ip);
            }
        }
    }
}

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no data for {0:?}")]
    Idle(Duration),
    #[error("not publishing {0:?} after connecting")]
    NotPublishing(Duration),
    #[error("{0}")]
    Chunk(#[from] ChunkError),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("RTMP session: {0}")]
    Session(String),
    #[error("refused: {0}")]
    Refused(#[from] super::Refused),
    #[error("stream: {0}")]
    Stream(#[from] super::stream::StreamError),
}

fn session_error(e: ServerSessionError) -> ConnectionError {
    ConnectionError::Session(format!("{e:?}"))
}

/// Accepts RTMP connections on `listener` until the process ends.
pub async fn serve(listener: TcpListener, config: Arc<IngestConfig>, tls: Option<TlsAcceptor>) {
    let open = Arc::new(Mutex::new(Open::default()));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = Slot::take(&open, peer.ip()) else {
            tracing::warn!(%peer, "RTMP connection refused: too many open ({MAX_CONNECTIONS} in all, {MAX_PER_ADDRESS} per address)");
            limit_hit("rtmp_connections");
            continue;
        };
        let (config, tls) = (config.clone(), tls.clone());
        let span = tracing::info_span!("rtmp", %peer, call_cid = tracing::field::Empty);
        tokio::spawn(
            async move {
                let _slot = slot;
                let outcome = match accept(socket, tls).await {
                    Ok(socket) => connection(socket, peer, &config).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => tracing::info!("RTMP connection closed"),
                    Err(e) => {
                        match &e {
                            ConnectionError::NotPublishing(_) => limit_hit("rtmp_publish_deadline"),
                            ConnectionError::Idle(_) => limit_hit("rtmp_idle"),
                            ConnectionError::Chunk(_) => limit_hit("rtmp_message_size"),
                            _ => {}
                        }
                        tracing::warn!(error = %e, "RTMP connection closed");
                    }
                }
            }
            .instrument(span),
        );
    }
}

/// A connection's byte stream: TCP, or TLS over it (RTMPS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection's stream, after the TLS handshake for RTMPS (which must
/// end by the time a client has to be publishing).
async fn accept(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
) -> Result<Box<dyn Io>, ConnectionError> {
    socket.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Box::new(socket));
    };
    match tokio::time::timeout(ADMIT_TIMEOUT, tls.accept(socket)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(ConnectionError::Handshake(format!("TLS: {e}"))),
        Err(_) => Err(ConnectionError::NotPublishing(ADMIT_TIMEOUT)),
    }
}

/// Counts a limit hit (`onair_limit_hits_total{limit=…}`).
fn limit_hit(limit: &'static str) {
    metrics::counter!("onair_limit_hits_total", "limit" => limit).increment(1);
}

/// Reads some bytes; fails after [`IDLE_TIMEOUT`] without any, or at
/// `admit_by` if the client is not publishing yet.
async fn read(
    socket: &mut dyn Io,
    buf: &mut [u8],
    admit_by: Option<Instant>,
) -> Result<usize, ConnectionError> {
    let idle = Instant::now() + IDLE_TIMEOUT;
    let until = admit_by.map_or(idle, |a| a.min(idle));
    match tokio::time::timeout_at(until, socket.read(buf)).await {
        Ok(read) => read.map_err(ConnectionError::from),
        Err(_) if until < idle => Err(ConnectionError::NotPublishing(ADMIT_TIMEOUT)),
        Err(_) => Err(ConnectionError::Idle(IDLE_TIMEOUT)),
    }
}

/// Completes the RTMP handshake; the bytes that came after it.
async fn handshake(
    socket: &mut dyn Io,
    buf: &mut [u8],
    admit_by: Instant,
) -> Result<Vec<u8>, ConnectionError> {
    let mut handshake = Handshake::new(PeerType::Server);
    loop {
        let n = read(socket, buf, Some(admit_by)).await?;
        if n == 0 {
            return Err(ConnectionError::Handshake(
                "closed during the handshake".into(),
            ));
        }
        match handshake
            .process_bytes(&buf[..n])
            .map_err(|e| ConnectionError::Handshake(format!("{e:?}")))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket.write_all(&response_bytes).await?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}

async fn connection(
    mut socket: Box<dyn Io>,
    peer: SocketAddr,
    config: &IngestConfig,
) -> Result<(), ConnectionError> {
    let admit_by = Instant::now() + ADMIT_TIMEOUT;
    let mut buf = vec![0u8; 64 * 1024];
    let leftover = handshake(&mut socket, &mut buf, admit_by).await?;
    tracing::debug!(%peer, "RTMP handshake done");
    let (mut session, results) =
        ServerSession::new(ServerSessionConfig::new()).map_err(session_error)?;
    let mut conn = Connection {
        stream: None,
        pending: results,
        finished: false,
    };
    conn.flush(&mut socket, &mut session, config).await?;
    let mut guard = ChunkGuard::default();
    guard.check(&leftover)?;
    conn.pending = session.handle_input(&leftover).map_err(session_error)?;
    conn.flush(&mut socket, &mut session, config).await?;
    let outcome = loop {
        // Transcoded frames go out while waiting for more input.
        let n = match &mut conn.stream {
            Some(stream) => tokio::select! {
                n = read(&mut socket, &mut buf, None) => n,
                _ = stream.send_transcoded() => continue,
            },
            None => read(&mut socket, &mut buf, Some(admit_by)).await,
        };
        let n = match n {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if let Err(e) = guard.check(&buf[..n]) {
            break Err(e.into());
        }
        match session.handle_input(&buf[..n]) {
            Ok(results) => conn.pending = results,
            Err(e) => break Err(session_error(e)),
        }
        if let Err(e) = conn.flush(&mut socket, &mut session, config).await {
            break Err(e);
        }
        if let Some(why) = conn.stream.as_ref().and_then(Stream::closed) {
            tracing::info!(reason = %why, "the call closed the stream");
            break Ok(());
        }
        if conn.stream.is_none() && conn.finished {
            break Ok(());
        }
    };
    if let Some(stream) = conn.stream.take() {
        stream.leave().await;
    }
    outcome
}

/// One connection's session state.
struct Connection {
    stream: Option<Stream>,
    pending: Vec<ServerSessionResult>,
    finished: bool,
}

impl Connection {
    /// Writes the session's packets and acts on its events, until none are left.
    async fn flush(
        &mut self,
        socket: &mut dyn Io,
        session: &mut ServerSession,
        config: &IngestConfig,
    ) -> Result<(), ConnectionError> {
        while !self.pending.is_empty() {
            let results = std::mem::take(&mut self.pending);
            for result in results {
                match result {
                    ServerSessionResult::OutboundResponse(packet) => {
                        socket.write_all(&packet.bytes).await?;
                    }
                    ServerSessionResult::RaisedEvent(event) => {
                        self.event(event, session, config).await?;
                    }
                    ServerSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
        }
        Ok(())
    }

    async fn event(
        &mut self,
        event: ServerSessionEvent,
        session: &mut ServerSession,
        config: &IngestConfig,
    ) -> Result<(), ConnectionError> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                tracing::debug!(app = %app_name, "RTMP connect");
                self.pending
                    .extend(session.accept_request(request_id).map_err(session_error)?);
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => {
                self.publish(request_id, &app_name, &stream_key, session, config)
                    .await?;
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                if let (Some(stream), Some(w), Some(h)) = (
                    &mut self.stream,
                    metadata.video_width,
                    metadata.video_height,
                ) {
                    stream.set_size(w, h);
                }
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                if let Some(stream) = &mut self.stream {
                    stream.video(&data, timestamp.value).await?;
                }
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                if let Some(stream) = &mut self.stream {
                    stream.audio(&data, timestamp.value).await?;
                }
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                tracing::info!("the client stopped publishing");
                self.finished = true;
                if let Some(stream) = self.stream.take() {
                    stream.leave().await;
                }
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                self.pending.extend(
                    session
                        .reject_request(
                            request_id,
                            "NetStream.Play.Failed",
                            "this server only takes streams",
                        )
                        .map_err(session_error)?,
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts publishing into the call, or refuses with the reason.
    async fn publish(
        &mut self,
        request_id: u32,
        app_name: &str,
        stream_key: &str,
        session: &mut ServerSession,
        config: &IngestConfig,
    ) -> Result<(), ConnectionError> {
        if self.stream.is_some() {
            return Err(ConnectionError::Session(
                "a second publish on one connection".into(),
            ));
        }
        match self.start(app_name, stream_key, config).await {
            Ok(stream) => {
                self.stream = Some(stream);
                self.pending
                    .extend(session.accept_request(request_id).map_err(session_error)?);
            }
            Err(refused) => {
                // Tell the client why before closing (ffmpeg and OBS show it).
                let description = refused.to_string();
                tracing::warn!(error = %description, "RTMP stream refused");
                self.pending.extend(
                    session
                        .reject_request(request_id, "NetStream.Publish.Unauthorized", &description)
                        .map_err(session_error)?,
                );
                self.finished = true;
            }
        }
        Ok(())
    }

    /// Checks the stream key and joins the call.
    async fn start(
        &self,
        app: &str,
        key: &str,
        config: &IngestConfig,
    ) -> Result<Stream, ConnectionError> {
        let target = Target::parse(app, key)?;
        tracing::Span::current().record("call_cid", target.cid.as_str());
        let admitted = authorize(config, &target).await?;
        let stream = Stream::connect(&admitted.url, &admitted.token).await?;
        tracing::info!("RTMP stream publishing into the call");
        Ok(stream)
    }
}
