//! The real-time client: joins a call over LiveKit's signal protocol and
//! carries media on str0m, as two peer connections (publisher, subscriber),
//! each on its own UDP socket: the SFU answers both from one address, so
//! only the local port tells them apart.
//!
//! A [`Client`] is a handle; the work happens in one task, a [`Worker`],
//! that owns the WebSocket, both sockets and both peer connections, so none
//! of them needs a lock. This file holds what the parts share; the parts:
//!
//! - [`handle`]: the public [`Client`], which joins and then sends the
//!   worker [`Command`]s;
//! - [`run`]: the worker's loop (signal, sockets, commands, the clock);
//! - [`responses`]: what the worker does with each signal response;
//! - [`events`]: what it does with the peer connections' events;
//! - [`publish`]: announcing, negotiating and sending our tracks;
//! - [`packets`]: what a client in packet mode receives and sends (RTP
//!   packets as they are, for relays: nothing waits for a whole frame).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livekit_protocol::signal_request::Message as Req;
use str0m::change::SdpPendingOffer;
use str0m::media::Mid;
use str0m::net::Transmit;
use str0m::Rtc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::pacer::Pacer;
use crate::signal::{self, Ws};
use crate::types::{ClientError, LocalPacket, LocalTrack, MediaEvent, Stats};
use packets::PacketNames;
use publish::{PendingTrack, SendingTrack, Unoffered};

mod events;
mod handle;
mod packets;
mod publish;
mod responses;
mod run;

pub use handle::Client;

/// What the handle asks of the worker.
enum Command {
    Publish {
        track: LocalTrack,
        /// The track sid once the server accepted it.
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    /// How we want a remote track: its quality, or the size shown.
    Settings(livekit_protocol::UpdateTrackSettings),
    Subscribe {
        track_sid: String,
        subscribe: bool,
    },
    Unpublish {
        track_sid: String,
    },
    Keyframe {
        track_sid: String,
    },
    Mute {
        track_sid: String,
        muted: bool,
    },
    UpdateProfile(livekit_protocol::UpdateParticipantMetadata),
    /// A frame of one of our live tracks.
    LiveFrame {
        track_sid: String,
        /// The simulcast layer, if it has several.
        rid: Option<String>,
        data: Vec<u8>,
        /// Media time since the track's first frame.
        time: Duration,
        /// Audio: the level to announce (else steady speech).
        level: Option<(i8, bool)>,
    },
    /// An RTP packet of one of our live tracks (packet mode).
    LivePacket {
        track_sid: String,
        /// The simulcast layer, if it has several.
        rid: Option<String>,
        packet: LocalPacket,
    },
    /// Say goodbye and end.
    Leave,
    /// End without a goodbye.
    Abort,
}

/// One of the two peer connections (and the socket it uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// Sends our tracks.
    Publisher,
    /// Receives the others' tracks and data.
    Subscriber,
}

impl Peer {
    /// Its place in [`Worker::sockets`] and [`Worker::locals`].
    fn index(self) -> usize {
        match self {
            Peer::Publisher => 0,
            Peer::Subscriber => 1,
        }
    }
}

/// The client task's state: everything that touches the network.
struct Worker {
    ws: Ws,
    /// Publisher socket, subscriber socket (see [`Peer::index`]).
    sockets: [UdpSocket; 2],
    /// Their local addresses.
    locals: [SocketAddr; 2],
    publisher: Rtc,
    subscriber: Rtc,
    /// Shared with the handle, which reads it.
    stats: Arc<Mutex<Stats>>,
    /// Tracks announced but not yet accepted, by our client track id.
    pending_tracks: HashMap<String, PendingTrack>,
    /// Our published track sids → their m-lines.
    own_track_mids: HashMap<String, Mid>,
    /// Our publisher offer awaiting the SFU's answer.
    publisher_offer: Option<SdpPendingOffer>,
    /// Changes to the publisher connection not offered yet: they wait
    /// while an offer is in flight (see [`Worker::renegotiate`]).
    unoffered: Unoffered,
    /// Id of the last publisher offer sent.
    last_offer_id: u32,
    /// Our tracks being sent.
    sending_tracks: Vec<SendingTrack>,
    /// Subscriber m-lines → the remote track sids they carry.
    remote_track_by_mid: HashMap<Mid, String>,
    /// Packet mode: subscriber m-line → the names its packets carry, made
    /// once rather than per packet, and the packets not yet in the stats.
    packet_names: HashMap<Mid, PacketNames>,
    publisher_up: bool,
    subscriber_up: bool,
    last_ping: Instant,
    /// How often to ping, as the join response asks.
    ping_interval: Duration,
    /// Packet mode: both connections hand over and take RTP packets
    /// (str0m's RTP mode) instead of whole frames.
    rtp_mode: bool,
    /// Where received frames (or packets) go, if anywhere.
    media_events: Option<mpsc::UnboundedSender<MediaEvent>>,
    /// Load tests: once the subscriber connection is up, its SRTP
    /// datagrams are only counted here, not decrypted.
    counted: Option<Arc<AtomicU64>>,
    /// When each connection's str0m timer is next due (see [`Peer::index`]).
    due: [Instant; 2],
    /// Frame mode: the publisher's video leaves at a pace, as a browser's.
    pacer: Pacer<Transmit>,
    /// Number of the last client track id made.
    last_cid: u32,
    /// The clock the files play on: time 0 of every file's loop.
    epoch: Instant,
}

impl Worker {
    /// Sends one signal request.
    async fn send(&mut self, msg: Req) -> Result<(), ClientError> {
        signal::send(&mut self.ws, msg).await
    }

    /// The peer connection `peer`.
    fn rtc(&mut self, peer: Peer) -> &mut Rtc {
        match peer {
            Peer::Publisher => &mut self.publisher,
            Peer::Subscriber => &mut self.subscriber,
        }
    }
}
