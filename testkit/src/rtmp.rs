//! A minimal RTMP publisher (on `rml_rtmp`) for tests and benchmarks: it
//! connects, asks to publish, and sends FLV tags exactly as given, so a
//! test can send what ffmpeg would not (broken tags) and a benchmark can
//! note when each frame left.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

/// An `rml_rtmp` error as an I/O error (its errors are only `Debug`).
fn rtmp_error(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// A publishing RTMP connection.
pub struct Publisher {
    socket: TcpStream,
    session: ClientSession,
}

impl Publisher {
    /// Connects to `host` (`127.0.0.1:1935`), app `app`, and publishes `key`;
    /// an error if the server refuses or closes.
    pub fn connect(host: &str, app: &str, key: &str) -> io::Result<Publisher> {
        let mut socket = TcpStream::connect(host)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut handshake = Handshake::new(PeerType::Client);
        socket.write_all(
            &handshake
                .generate_outbound_p0_and_p1()
                .map_err(rtmp_error)?,
        )?;
        let mut buf = [0u8; 4096];
        let leftover = loop {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            match handshake.process_bytes(&buf[..n]).map_err(rtmp_error)? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes)?
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes)?;
                    break remaining_bytes;
                }
            }
        };
        let (session, results) =
            ClientSession::new(ClientSessionConfig::new()).map_err(rtmp_error)?;
        let mut publisher = Publisher { socket, session };
        publisher.send(results)?;
        let results = publisher
            .session
            .handle_input(&leftover)
            .map_err(rtmp_error)?;
        publisher.send(results)?;
        let request = publisher
            .session
            .request_connection(app.into())
            .map_err(rtmp_error)?;
        publisher.send(vec![request])?;
        publisher.until(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))?;
        let request = publisher
            .session
            .request_publishing(key.into(), PublishRequestType::Live)
            .map_err(rtmp_error)?;
        publisher.send(vec![request])?;
        publisher.until(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))?;
        Ok(publisher)
    }

    /// Writes what the session wants written; the events it raised.
    fn send(&mut self, results: Vec<ClientSessionResult>) -> io::Result<Vec<ClientSessionEvent>> {
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.socket.write_all(&p.bytes)?,
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    /// Reads until the session raises an event that `want`s; the server
    /// closing first is a refusal.
    fn until(&mut self, want: fn(&ClientSessionEvent) -> bool) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.socket.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::ConnectionRefused.into());
            }
            let results = self.session.handle_input(&buf[..n]).map_err(rtmp_error)?;
            if self.send(results)?.iter().any(want) {
                return Ok(());
            }
        }
    }

    /// Sends one FLV tag body: 8 audio, 9 video, at `timestamp` ms.
    pub fn tag(&mut self, kind: u8, timestamp: u32, body: &[u8]) -> io::Result<()> {
        let data = bytes::Bytes::copy_from_slice(body);
        let at = RtmpTimestamp::new(timestamp);
        let r = match kind {
            8 => self.session.publish_audio_data(data, at, false),
            _ => self.session.publish_video_data(data, at, false),
        }
        .map_err(rtmp_error)?;
        self.send(vec![r]).map(drop)
    }

    /// Writes raw bytes on the connection (whatever a broken client would).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.socket.write_all(bytes)
    }

    /// Whether the server closes the connection within `wait`.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.socket.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// The tags of an FLV file: (8 audio / 9 video / 18 script, timestamp ms, body).
pub fn flv_tags(file: &Path) -> io::Result<Vec<(u8, u32, Vec<u8>)>> {
    let bytes = std::fs::read(file)?;
    let mut tags = Vec::new();
    let mut at = 9 + 4; // the header and the first PreviousTagSize
    while at + 11 <= bytes.len() {
        let kind = bytes[at];
        let size = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let ts = u32::from_be_bytes([bytes[at + 7], bytes[at + 4], bytes[at + 5], bytes[at + 6]]);
        let body = at + 11;
        if body + size > bytes.len() {
            break;
        }
        tags.push((kind, ts, bytes[body..body + size].to_vec()));
        at = body + size + 4;
    }
    Ok(tags)
}
