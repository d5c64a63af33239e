//! The public [`Client`]: joining (up to the join response, so a refused
//! token fails `connect`), then a handle that sends the worker commands
//! and reads the stats it keeps. The handle's calls never wait on the
//! network, except `publish`, which waits for the server's acceptance.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_response::Message as Resp;
use tokio::sync::{mpsc, oneshot};

use super::responses::{announce_encrypted, profile, stats_from_join};
use super::{Command, Worker};
use crate::lock;
use crate::signal::{self, leave_reason, next_response, Ws};
use crate::types::{ClientError, LocalPacket, LocalTrack, MediaEvent, Stats};

/// How long the SFU may take to answer the join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A participant in a call.
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<Stats>>,
    worker_task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connects to the SFU at `url` (`credentials.url` of a join) with a join `token`.
    pub async fn connect(url: &str, token: &str) -> Result<Client, ClientError> {
        Self::connect_with(url, token, true).await
    }

    /// Like [`Client::connect`]; without `auto_subscribe`, tracks arrive only
    /// after [`Client::subscribe`].
    pub async fn connect_with(
        url: &str,
        token: &str,
        auto_subscribe: bool,
    ) -> Result<Client, ClientError> {
        Self::open(url, token, auto_subscribe, None, None, false).await
    }

    /// Like [`Client::connect`], for load tests: once the subscriber
    /// connection is up, what arrives on it is only counted (the returned
    /// total of SRTP datagrams), never decrypted or decoded.
    pub async fn connect_counting(
        url: &str,
        token: &str,
    ) -> Result<(Client, Arc<AtomicU64>), ClientError> {
        let counted = Arc::new(AtomicU64::new(0));
        let client = Self::open(url, token, true, None, Some(counted.clone()), false).await?;
        Ok((client, counted))
    }

    /// Like [`Client::connect`], and hands every received frame on (for
    /// recorders and other egress).
    pub async fn connect_receiving(
        url: &str,
        token: &str,
    ) -> Result<(Client, mpsc::UnboundedReceiver<MediaEvent>), ClientError> {
        let (media_events, received) = mpsc::unbounded_channel();
        let client = Self::open(url, token, true, Some(media_events), None, false).await?;
        Ok((client, received))
    }

    /// Like [`Client::connect_receiving`] in packet mode: each RTP packet
    /// is handed on as it arrives ([`MediaEvent::Packet`]), not held until
    /// its frame is whole (relays, where that wait is delay).
    pub async fn connect_receiving_packets(
        url: &str,
        token: &str,
    ) -> Result<(Client, mpsc::UnboundedReceiver<MediaEvent>), ClientError> {
        let (media_events, received) = mpsc::unbounded_channel();
        let client = Self::open(url, token, true, Some(media_events), None, true).await?;
        Ok((client, received))
    }

    /// Like [`Client::connect`] in packet mode: live tracks are sent as RTP
    /// packets ([`Client::send_packet`]), not frames.
    pub async fn connect_sending_packets(url: &str, token: &str) -> Result<Client, ClientError> {
        Self::open(url, token, true, None, None, true).await
    }

    async fn open(
        url: &str,
        token: &str,
        auto_subscribe: bool,
        media_events: Option<mpsc::UnboundedSender<MediaEvent>>,
        counted: Option<Arc<AtomicU64>>,
        rtp_mode: bool,
    ) -> Result<Client, ClientError> {
        let mut ws = signal::connect(url, token, auto_subscribe, "rust").await?;
        let join = await_join(&mut ws).await?;
        let ping_interval = signal::ping_interval(&join);
        let stats = Arc::new(Mutex::new(stats_from_join(&join)));
        if let Some(media_events) = &media_events {
            for p in &join.other_participants {
                let (identity, profile) = (p.identity.clone(), profile(p));
                let _ = media_events.send(MediaEvent::Profile { identity, profile });
                announce_encrypted(&p.tracks, media_events);
            }
        }
        let mut worker =
            Worker::new(ws, stats.clone(), media_events, ping_interval, rtp_mode).await?;
        worker.counted = counted;
        let (commands, received_commands) = mpsc::unbounded_channel();
        let worker_task = tokio::spawn(async move { worker.run(received_commands).await });
        Ok(Client {
            commands,
            stats,
            worker_task,
        })
    }

    /// Publishes `track`; returns its track sid once the server accepted it.
    pub async fn publish(&self, track: LocalTrack) -> Result<String, ClientError> {
        let (reply, accepted) = oneshot::channel();
        self.commands
            .send(Command::Publish { track, reply })
            .map_err(|_| ClientError::Closed)?;
        accepted.await.map_err(|_| ClientError::Closed)?
    }

    /// Sends one frame of a live track: one published with no frames (an
    /// empty layer), whose frames the application makes as it goes. `time`
    /// is the frame's media time since the track's first frame; frames are
    /// sent at once, so call this as they are made.
    pub fn send_frame(&self, track_sid: &str, data: Vec<u8>, time: Duration) {
        self.command(Command::LiveFrame {
            track_sid: track_sid.to_owned(),
            rid: None,
            data,
            time,
            level: None,
        });
    }

    /// Sends one audio frame of a live track (see [`Client::send_frame`])
    /// announcing its `level` (RFC 6464: -dBov, and voice or not), as a
    /// relay passes on the level its sender announced.
    pub fn send_audio_frame(
        &self,
        track_sid: &str,
        data: Vec<u8>,
        time: Duration,
        level: (i8, bool),
    ) {
        self.command(Command::LiveFrame {
            track_sid: track_sid.to_owned(),
            rid: None,
            data,
            time,
            level: Some(level),
        });
    }

    /// Sends one frame of simulcast layer `rid` of a live track (see
    /// [`Client::send_frame`]).
    pub fn send_layer_frame(&self, track_sid: &str, rid: &str, data: Vec<u8>, time: Duration) {
        self.command(Command::LiveFrame {
            track_sid: track_sid.to_owned(),
            rid: Some(rid.to_owned()),
            data,
            time,
            level: None,
        });
    }

    /// Sends one RTP packet of live track `track_sid` (of its layer `rid`
    /// if it is simulcast) at once; a client in packet mode only
    /// ([`Client::connect_sending_packets`]).
    pub fn send_packet(&self, track_sid: &str, rid: Option<&str>, packet: LocalPacket) {
        self.command(Command::LivePacket {
            track_sid: track_sid.to_owned(),
            rid: rid.map(str::to_owned),
            packet,
        });
    }

    /// Asks for a quality (0 low, 1 medium, 2 high) of a remote video track.
    pub fn set_quality(&self, track_sid: &str, quality: u8) {
        self.command(Command::Settings(lk::UpdateTrackSettings {
            track_sids: vec![track_sid.to_owned()],
            quality: i32::from(quality),
            ..Default::default()
        }));
    }

    /// Asks for the layer of a remote video track that fits `width` x
    /// `height`, the size it is shown at (LiveKit's adaptive stream: the
    /// SFU picks the layer, and no larger one is sent for us).
    pub fn set_video_size(&self, track_sid: &str, width: u32, height: u32) {
        self.command(Command::Settings(lk::UpdateTrackSettings {
            track_sids: vec![track_sid.to_owned()],
            width,
            height,
            ..Default::default()
        }));
    }

    /// Stops sending one of our tracks (its m-line goes inactive).
    pub fn unpublish(&self, track_sid: &str) {
        self.command(Command::Unpublish {
            track_sid: track_sid.to_owned(),
        });
    }

    /// Asks the publisher of a remote video track for a keyframe (a PLI,
    /// which the SFU passes on).
    pub fn request_keyframe(&self, track_sid: &str) {
        self.command(Command::Keyframe {
            track_sid: track_sid.to_owned(),
        });
    }

    /// Shows `name`, `metadata` and `attributes` (LiveKit's rules: an empty
    /// name or metadata leaves it as it is; an attribute set to "" is
    /// removed). Needs `canUpdateOwnMetadata`.
    pub fn update_profile(&self, name: &str, metadata: &str, attributes: HashMap<String, String>) {
        self.command(Command::UpdateProfile(lk::UpdateParticipantMetadata {
            name: name.to_owned(),
            metadata: metadata.to_owned(),
            attributes,
            ..Default::default()
        }));
    }

    /// Mutes (stops sending, and says so) or unmutes our track `track_sid`.
    pub fn set_muted(&self, track_sid: &str, muted: bool) {
        self.command(Command::Mute {
            track_sid: track_sid.to_owned(),
            muted,
        });
    }

    /// Starts or stops receiving a remote track.
    pub fn subscribe(&self, track_sid: &str, subscribe: bool) {
        self.command(Command::Subscribe {
            track_sid: track_sid.to_owned(),
            subscribe,
        });
    }

    /// Why the server ended the session, once it did (without copying the
    /// rest of the stats).
    pub fn closed(&self) -> Option<String> {
        lock(&self.stats).closed.clone()
    }

    /// A snapshot of what the client has seen.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Waits until `f(stats)` holds, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, Stats> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.stats();
            if f(&s) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops the connection without saying goodbye, as a lost network would.
    pub fn abort(self) {
        // Ahead of the channel closing (which would say goodbye).
        self.command(Command::Abort);
        self.worker_task.abort();
    }

    /// Leaves the call and waits for the client task to end.
    pub async fn leave(self) {
        self.command(Command::Leave);
        let _ = self.worker_task.await;
    }

    /// Sends the worker `command`; once the worker has ended there is
    /// nobody to tell, and [`Client::closed`] says why.
    fn command(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

/// The join response, the SFU's first message; a leave or anything else
/// is a refusal.
async fn await_join(ws: &mut Ws) -> Result<lk::JoinResponse, ClientError> {
    match tokio::time::timeout(JOIN_TIMEOUT, next_response(ws)).await {
        Ok(Ok(Resp::Join(join))) => Ok(join),
        Ok(Ok(Resp::Leave(leave))) => Err(ClientError::Refused(leave_reason(&leave))),
        Ok(Ok(other)) => Err(ClientError::Refused(format!(
            "expected join, got {other:?}"
        ))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClientError::Signal("no join response".into())),
    }
}
