//! The media half of the SFU (LiveKit's `pkg/sfu`): one UDP socket, the
//! str0m peers, and forwarding between them. Room logic lives in
//! [`crate::room`]; the two talk through [`Command`]s and [`Notice`]s.
//!
//! Each participant has two peer connections, as livekit-client makes them:
//! a *publisher* (the client offers, we answer) and a *subscriber* (we
//! offer the tracks it receives plus the `_reliable`/`_lossy` data
//! channels, the client answers).
//!
//! A datagram's way from the socket through `dispatch.rs` to its worker and
//! out to the subscribers is told in `docs/ARCHITECTURE.md`, "A packet's
//! path".

mod dispatch;
pub mod downtrack;
pub mod mime;
mod worker;

/// The in-memory network the worker's and the room's tests run on.
#[cfg(test)]
pub(crate) use worker::sim;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use crate::ids::{ParticipantSid, Pid, TrackSid};
pub use worker::{NegotiationError, PeerFailure};
#[cfg(fuzzing)]
pub use {dispatch::Routes, worker::Output, worker::Worker};

/// Where the media worker listens and what it advertises.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// UDP address to bind (one port for every peer).
    pub udp_bind: SocketAddr,
    /// Addresses put in ICE candidates; default: the bound address.
    pub candidates: Vec<SocketAddr>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

/// Media kind of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Opus.
    Audio,
    /// VP8 / H.264.
    Video,
}

impl Kind {
    /// str0m's name for it.
    pub fn media_kind(self) -> str0m::media::MediaKind {
        match self {
            Kind::Audio => str0m::media::MediaKind::Audio,
            Kind::Video => str0m::media::MediaKind::Video,
        }
    }
}

/// A simulcast layer as the publisher announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// 0 = low (`q`), 1 = medium (`h`), 2 = high (`f`).
    pub quality: u8,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Bits per second (0 if unknown).
    pub bitrate: u32,
}

/// A track a publisher announced (`AddTrackRequest`), before media flows.
#[derive(Clone, Debug)]
pub struct TrackSpec {
    /// Server track id (`TR_…`).
    pub track_sid: TrackSid,
    /// Client track id (`AddTrackRequest.cid`: the `a=msid` track id in
    /// the publisher's SDP).
    pub client_track_id: String,
    /// Audio or video.
    pub kind: Kind,
    /// Simulcast layers (empty: one layer).
    pub layers: Vec<Layer>,
    /// The codec the client asked to publish (`h264`, `vp8`…), if it said.
    pub codec: Option<String>,
}

/// What a subscriber asked for a track (`UpdateTrackSettings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Nothing (paused).
    Paused,
    /// A maximum quality (0..=2).
    Quality(u8),
    /// A display size; the smallest layer that covers it is chosen.
    Size(u32, u32),
}

/// Requests to the media worker.
pub enum Command {
    /// Creates the participant's two peer connections; answers with the
    /// first subscriber offer (data channels only).
    Join {
        /// The participant (it names the worker).
        pid: Pid,
        /// Its room's name (the call cid).
        room: String,
        /// Its identity, as data packets name their sender.
        identity: String,
        /// Its server id, as data packets and speaker lists name it.
        participant_sid: ParticipantSid,
        /// May send data packets (`canPublishData`).
        can_publish_data: bool,
        /// One peer connection for both directions (livekit-client's
        /// `/rtc/v1`): the client makes every offer, and is asked for one
        /// ([`Notice::OfferWanted`]) when tracks are to reach it.
        single_pc: bool,
        /// Where the worker tells the participant's session what happens.
        notices: mpsc::UnboundedSender<Notice>,
        /// Where its tracks starting and ending ([`Notice::TrackLive`],
        /// [`Notice::TrackEnded`]) go: straight to its room, which
        /// subscribes the others in the same step (LiveKit's
        /// `onTrackPublished`), without a hop through the session.
        tracks: TrackSink,
        /// The first subscriber offer (SDP; none with one peer
        /// connection), or why the join failed.
        reply: oneshot::Sender<Result<Option<String>, NegotiationError>>,
    },
    /// The client's publisher offer; answers with our SDP answer.
    PublisherOffer {
        /// The publishing participant.
        pid: Pid,
        /// The client's offer.
        sdp: String,
        /// Our answer, or why there is none.
        reply: oneshot::Sender<Result<Answer, NegotiationError>>,
    },
    /// The client's answer to our last subscriber offer.
    SubscriberAnswer {
        /// The subscribing participant.
        pid: Pid,
        /// The client's answer.
        sdp: String,
    },
    /// A track the participant will publish (its m-line is matched by
    /// `client_track_id`).
    ExpectTrack {
        /// The publishing participant.
        pid: Pid,
        /// The announced track.
        spec: TrackSpec,
    },
    /// Starts sending track `track_sid` of `publisher` to `pid`, under
    /// stream id `stream` (livekit-client wants `PA_…|TR_…`).
    Subscribe {
        /// The subscriber.
        pid: Pid,
        /// The track's publisher.
        publisher: Pid,
        /// The track.
        track_sid: TrackSid,
        /// The stream id the subscriber's SDP names (`PA_…|TR_…`).
        stream: String,
    },
    /// Stops sending track `track_sid` to `pid`.
    Unsubscribe {
        /// The subscriber.
        pid: Pid,
        /// The track.
        track_sid: TrackSid,
    },
    /// Subscriber's wish for track `track_sid`.
    Settings {
        /// The subscriber.
        pid: Pid,
        /// The track.
        track_sid: TrackSid,
        /// What it wants of the track.
        want: Want,
    },
    /// The client resumed on a new signal connection: restart ICE toward it.
    Resume {
        /// The resumed participant.
        pid: Pid,
    },
    /// Whether the participant may send data packets now (its permission
    /// changed).
    DataPermission {
        /// The participant.
        pid: Pid,
        /// Allowed or not.
        allowed: bool,
    },
    /// A data packet from the server to the participant (its reliable channel).
    SendData {
        /// The participant.
        pid: Pid,
        /// The encoded `DataPacket`.
        packet: Vec<u8>,
    },
    /// Removes the participant and everything it published or received.
    Leave {
        /// The departing participant.
        pid: Pid,
    },
    /// Forwarding figures since the last `Stats`, then resets them.
    Stats {
        /// Where the figures go.
        reply: oneshot::Sender<ForwardStats>,
    },
}

impl Command {
    /// The participant this command is about (`None` for `Stats`).
    fn pid(&self) -> Option<Pid> {
        match self {
            Command::Join { pid, .. }
            | Command::PublisherOffer { pid, .. }
            | Command::SubscriberAnswer { pid, .. }
            | Command::ExpectTrack { pid, .. }
            | Command::Subscribe { pid, .. }
            | Command::Unsubscribe { pid, .. }
            | Command::Settings { pid, .. }
            | Command::Resume { pid }
            | Command::DataPermission { pid, .. }
            | Command::SendData { pid, .. }
            | Command::Leave { pid } => Some(*pid),
            Command::Stats { .. } => None,
        }
    }
}

/// Takes a participant's [`Notice::TrackLive`] and [`Notice::TrackEnded`].
pub type TrackSink = Arc<dyn Fn(Notice) + Send + Sync>;

/// What the worker forwarded (for benchmarks and metrics).
#[derive(Clone, Debug)]
pub struct ForwardStats {
    /// RTP packets written toward subscribers.
    pub forwarded: u64,
    /// Microseconds from reading a packet off the socket to its hand-off toward the
    /// subscriber (SRTP and send, or str0m's pacer queue).
    pub delay_us: hdrhistogram::Histogram<u64>,
    /// Linux thread ids of the media threads (workers and the receive
    /// thread), for per-thread CPU accounting.
    pub thread_ids: Vec<i32>,
}

/// What the worker tells a participant's session.
#[derive(Debug)]
pub enum Notice {
    /// Send this subscriber offer.
    SubscriberOffer {
        /// Our offer.
        sdp: String,
        /// `mid → TR_ sid`, for the client's track mapping.
        mid_to_track: HashMap<String, String>,
    },
    /// One peer connection: the client is to offer again, with this many
    /// more receiving m-lines of each kind (LiveKit's
    /// `MediaSectionsRequirement`), so tracks can be sent to it.
    OfferWanted {
        /// Audio m-lines to add.
        audios: u32,
        /// Video m-lines to add.
        videos: u32,
    },
    /// Media of an expected track is negotiated (published).
    TrackLive {
        /// The track.
        track_sid: TrackSid,
        /// Its m-line in the publisher's SDP.
        mid: String,
        /// Its codec, lower case (`opus`, `vp8`, `h264`).
        mime: String,
    },
    /// The publisher stopped sending a track (its m-line went inactive).
    TrackEnded {
        /// The track.
        track_sid: TrackSid,
    },
    /// Dynacast: which layers of a published video track someone watches,
    /// `(quality 0..=2, wanted)`; the publisher sends only those.
    SubscribedQualities {
        /// The track.
        track_sid: TrackSid,
        /// Its codec, lower case (`vp8`).
        codec: String,
        /// Each layer and whether it is wanted.
        qualities: Vec<(u8, bool)>,
    },
    /// Connection quality in the room changed: `(participant, class as
    /// `lk::ConnectionQuality`, score 1..5)` for everyone in it.
    ConnectionQuality(Vec<(ParticipantSid, i32, f32)>),
    /// Speaker levels in the room changed: `(participant, level 0..1, active)`.
    Speakers(Vec<(ParticipantSid, f32, bool)>),
    /// The peer connections failed or were closed; the participant is gone from media.
    Closed {
        /// What failed.
        reason: PeerFailure,
    },
}

/// Our answer to a client's offer.
#[derive(Debug)]
pub struct Answer {
    /// The SDP.
    pub sdp: String,
    /// `mid → TR_ sid` of the m-lines that carry tracks to the client
    /// (one peer connection only; empty otherwise).
    pub mid_to_track: HashMap<String, String>,
}

/// Handle to the media workers: N threads, each owning the peers of the
/// rooms assigned to it (by room name), so forwarding never crosses threads.
#[derive(Clone)]
pub struct Media {
    workers: Arc<Vec<mpsc::UnboundedSender<Command>>>,
    /// The workers' inboxes, which also count what each forwarded.
    inboxes: Arc<Vec<Arc<dispatch::Inbox>>>,
    dispatcher: Arc<AtomicI32>,
    next_pid: Arc<AtomicU64>,
    local: SocketAddr,
    candidates: Vec<SocketAddr>,
}

impl Media {
    /// Binds the UDP socket and starts the dispatcher and `workers` worker
    /// threads (0: one per core). A peer connection negotiated but not up
    /// after `connect_timeout` is dropped with its participant.
    pub fn start(
        config: MediaConfig,
        connect_timeout: std::time::Duration,
    ) -> std::io::Result<Media> {
        let socket = std::net::UdpSocket::bind(config.udp_bind)?;
        dispatch::size_buffers(&socket);
        let local = socket.local_addr()?;
        let candidates = if config.candidates.is_empty() {
            vec![local]
        } else {
            config.candidates
        };
        let count = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(256);
        let mut workers = Vec::with_capacity(count);
        let mut inboxes = Vec::with_capacity(count);
        let routes = Arc::new(dispatch::Routes::default());
        for index in 0..count {
            let (tx, rx) = mpsc::unbounded_channel();
            let inbox = Arc::new(dispatch::Inbox::new());
            let send = socket.try_clone()?;
            let (candidates, worker_inbox, routes) =
                (candidates.clone(), inbox.clone(), routes.clone());
            std::thread::Builder::new()
                .name(format!("onair-media-{index}"))
                .spawn(move || {
                    worker::run(
                        index,
                        send,
                        worker_inbox,
                        routes,
                        candidates,
                        connect_timeout,
                        rx,
                    )
                })?;
            workers.push(tx);
            inboxes.push(inbox);
        }
        let dispatcher = Arc::new(AtomicI32::new(0));
        let dispatcher_id = dispatcher.clone();
        let read = inboxes.clone();
        std::thread::Builder::new()
            .name("onair-media-rx".into())
            .spawn(move || dispatch::run(socket, read, routes, dispatcher_id))?;
        Ok(Media {
            workers: Arc::new(workers),
            inboxes: Arc::new(inboxes),
            dispatcher,
            next_pid: Arc::new(AtomicU64::new(1)),
            local,
            candidates,
        })
    }

    /// A new participant id for `room`; it names the worker of that room.
    pub fn new_pid(&self, room: &str) -> Pid {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(room, &mut hasher);
        let worker = std::hash::Hasher::finish(&hasher) % self.workers.len() as u64;
        Pid::new(
            self.next_pid.fetch_add(1, Ordering::Relaxed),
            worker as usize,
        )
    }

    /// Sends a command to the worker of its participant (a gone worker is logged).
    pub fn send(&self, cmd: Command) {
        let Some(pid) = cmd.pid() else {
            tracing::error!("Stats goes through Media::stats");
            return;
        };
        let worker = &self.workers[pid.worker() % self.workers.len()];
        if worker.send(cmd).is_err() {
            tracing::error!("media worker is gone");
        }
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where peers reach the media (the ICE candidates handed out).
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// RTP packets forwarded to subscribers since the start, by all workers.
    pub fn forwarded(&self) -> u64 {
        let each = self.inboxes.iter();
        each.map(|i| i.forwarded.load(Ordering::Relaxed)).sum()
    }

    /// Forwarding figures of all workers since the last call (and resets them).
    pub async fn stats(&self) -> Option<ForwardStats> {
        let mut total: Option<ForwardStats> = None;
        for worker in self.workers.iter() {
            let (reply, rx) = oneshot::channel();
            worker.send(Command::Stats { reply }).ok()?;
            let s = rx.await.ok()?;
            match total.as_mut() {
                None => total = Some(s),
                Some(t) => {
                    t.forwarded += s.forwarded;
                    let _ = t.delay_us.add(&s.delay_us);
                    t.thread_ids.extend(s.thread_ids);
                }
            }
        }
        let mut total = total?;
        total
            .thread_ids
            .push(self.dispatcher.load(Ordering::Relaxed));
        Some(total)
    }
}

/// Layer index of a RID (`q` 0, `h` 1, `f` 2; none 0).
pub fn layer_of_rid(rid: Option<&str>) -> u8 {
    match rid {
        Some("h") => 1,
        Some("f") => 2,
        _ => 0,
    }
}

/// The RID of layer index `layer` (the inverse of [`layer_of_rid`]), or
/// none for a track without simulcast.
pub fn rid_of_layer(layer: usize, simulcast: bool) -> Option<str0m::media::Rid> {
    simulcast.then(|| ["q", "h", "f"][layer.min(2)].into())
}

/// Picks the layer to send: the wanted one, clamped to the layers that are
/// flowing (`available[i]`) and, when the subscriber's bandwidth estimate
/// is known, to layers whose bitrate fits in it; prefers the best layer not
/// above the wish, else the nearest one above.
pub fn choose_layer(
    want: Want,
    layers: &[Layer],
    available: [bool; 3],
    budget_bps: Option<u64>,
) -> Option<u8> {
    let wanted = match want {
        Want::Paused => return None,
        Want::Quality(q) => q.min(2),
        Want::Size(w, h) => {
            let mut sorted: Vec<&Layer> = layers.iter().collect();
            sorted.sort_by_key(|l| l.quality);
            sorted
                .iter()
                .find(|l| l.width >= w && l.height >= h)
                .or(sorted.last())
                .map_or(2, |l| l.quality)
        }
    };
    let fits = |q: u8| match (budget_bps, layers.iter().find(|l| l.quality == q)) {
        (Some(budget), Some(l)) if l.bitrate > 0 => u64::from(l.bitrate) <= budget,
        _ => true,
    };
    (0..=wanted)
        .rev()
        .find(|&q| available[q as usize] && fits(q))
        .or_else(|| (0..3).find(|&q| available[q as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<Layer> {
        vec![
            Layer {
                quality: 0,
                width: 320,
                height: 180,
                bitrate: 150_000,
            },
            Layer {
                quality: 1,
                width: 640,
                height: 360,
                bitrate: 500_000,
            },
            Layer {
                quality: 2,
                width: 1280,
                height: 720,
                bitrate: 1_700_000,
            },
        ]
    }

    #[test]
    fn layer_choice() {
        let all = [true; 3];
        let l = layers();
        let pick = |want, available, budget| choose_layer(want, &l, available, budget);
        assert_eq!(pick(Want::Quality(2), all, None), Some(2));
        assert_eq!(pick(Want::Size(300, 170), all, None), Some(0));
        assert_eq!(pick(Want::Size(600, 300), all, None), Some(1));
        assert_eq!(pick(Want::Size(4000, 3000), all, None), Some(2));
        assert_eq!(pick(Want::Paused, all, None), None);
        // The wanted layer is not flowing: best below, else the lowest flowing.
        assert_eq!(pick(Want::Quality(2), [true, true, false], None), Some(1));
        assert_eq!(pick(Want::Quality(0), [false, false, true], None), Some(2));
        assert_eq!(pick(Want::Quality(1), [false; 3], None), None);
        // The bandwidth estimate caps the layer; below every layer, the lowest.
        assert_eq!(pick(Want::Quality(2), all, Some(1_000_000)), Some(1));
        assert_eq!(pick(Want::Quality(2), all, Some(200_000)), Some(0));
        assert_eq!(pick(Want::Quality(2), all, Some(10_000)), Some(0));
        assert_eq!(pick(Want::Quality(2), all, Some(5_000_000)), Some(2));
        // Single-layer tracks.
        assert_eq!(
            choose_layer(Want::Size(100, 100), &[], [true, false, false], Some(1)),
            Some(0)
        );
    }

    #[test]
    fn rooms_keep_their_worker() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let media = Media {
            workers: Arc::new(vec![tx.clone(), tx.clone(), tx]),
            inboxes: Arc::default(),
            dispatcher: Arc::default(),
            next_pid: Arc::new(AtomicU64::new(1)),
            local: "127.0.0.1:1".parse().unwrap(),
            candidates: Vec::new(),
        };
        let worker = |pid: Pid| pid.worker();
        let a = media.new_pid("default:a");
        assert_eq!(
            worker(media.new_pid("default:a")),
            worker(a),
            "same room, same worker"
        );
        assert_ne!(media.new_pid("default:a"), a, "ids are unique");
        let used: std::collections::HashSet<usize> = (0..50)
            .map(|i| worker(media.new_pid(&format!("room-{i}"))))
            .collect();
        assert!(used.iter().all(|w| *w < 3));
        assert!(used.len() > 1, "rooms spread over workers");
    }

    #[test]
    fn rids() {
        assert_eq!(
            (
                layer_of_rid(Some("q")),
                layer_of_rid(Some("h")),
                layer_of_rid(Some("f"))
            ),
            (0, 1, 2)
        );
        assert_eq!(layer_of_rid(None), 0);
        for layer in 0..3 {
            let rid = rid_of_layer(layer, true);
            assert_eq!(layer_of_rid(rid.as_deref()) as usize, layer);
        }
        assert_eq!(rid_of_layer(2, false), None);
    }
}
