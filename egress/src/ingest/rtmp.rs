//! The RTMP server OBS streams to. Each connection is its own task: the
//! handshake, then an `rml_rtmp` server session fed with the bytes read
//! (sans-IO), whose packets are written back and whose events drive the
//! [`Stream`]. A connection that sends garbage, stalls, or is refused is
//! closed with a log line; the others go on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

use super::stream::Stream;
use super::{authorize, IngestConfig, Target};

/// A connection silent this long (mid-handshake, or mid-stream) is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no data for {0:?}")]
    Idle(Duration),
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
pub async fn serve(listener: TcpListener, config: Arc<IngestConfig>) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let config = config.clone();
        let span = tracing::info_span!("rtmp", %peer, call_cid = tracing::field::Empty);
        tokio::spawn(
            async move {
                match connection(socket, peer, &config).await {
                    Ok(()) => tracing::info!("RTMP connection closed"),
                    Err(e) => tracing::warn!(error = %e, "RTMP connection closed"),
                }
            }
            .instrument(span),
        );
    }
}

/// Reads some bytes, or fails after [`IDLE_TIMEOUT`] without any.
async fn read(socket: &mut TcpStream, buf: &mut [u8]) -> Result<usize, ConnectionError> {
    tokio::time::timeout(IDLE_TIMEOUT, socket.read(buf))
        .await
        .map_err(|_| ConnectionError::Idle(IDLE_TIMEOUT))?
        .map_err(ConnectionError::from)
}

async fn connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    config: &IngestConfig,
) -> Result<(), ConnectionError> {
    socket.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut handshake = Handshake::new(PeerType::Server);
    let leftover = loop {
        let n = read(&mut socket, &mut buf).await?;
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
                break remaining_bytes;
            }
        }
    };
    tracing::debug!(%peer, "RTMP handshake done");
    let (mut session, results) =
        ServerSession::new(ServerSessionConfig::new()).map_err(session_error)?;
    let mut conn = Connection {
        stream: None,
        pending: results,
        finished: false,
    };
    conn.flush(&mut socket, &mut session, config).await?;
    conn.pending = session.handle_input(&leftover).map_err(session_error)?;
    conn.flush(&mut socket, &mut session, config).await?;
    let outcome = loop {
        // Transcoded frames go out while waiting for more input.
        let n = match &mut conn.stream {
            Some(stream) => tokio::select! {
                n = read(&mut socket, &mut buf) => n,
                _ = stream.send_transcoded() => continue,
            },
            None => read(&mut socket, &mut buf).await,
        };
        let n = match n {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
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
        socket: &mut TcpStream,
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
                if self.stream.is_some() {
                    return Err(ConnectionError::Session(
                        "a second publish on one connection".into(),
                    ));
                }
                match self.start(&app_name, &stream_key, config).await {
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
                                .reject_request(
                                    request_id,
                                    "NetStream.Publish.Unauthorized",
                                    &description,
                                )
                                .map_err(session_error)?,
                        );
                        self.finished = true;
                        return Ok(());
                    }
                }
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
