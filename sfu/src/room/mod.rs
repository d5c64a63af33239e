//! Rooms (= calls) as the signal protocol sees them (LiveKit's `pkg/rtc`):
//! who is in the room, what they publish, who may receive what.
//!
//! Each room is a task that owns its state; sessions and the bus talk to it
//! with [`RoomMsg`]s, so there is no lock around room state. Handling a
//! message sends nothing to media itself: it leaves the commands for the
//! media workers in `commands`, which the task sends (and tests hand to an
//! in-memory worker). The rule for
//! media: a subscriber receives a publisher's tracks when it may subscribe
//! and the call is live, or, while the call is in backstage, when it may
//! publish itself (it holds `join-backstage`).
//!
//! This file holds the messages, the registry of rooms and the room task's
//! loop; the room's jobs live beside it:
//!
//! - `members.rs`: who comes and goes, and what everyone hears of it.
//! - `tracks.rs`: what members publish ([`PublishRefusal`] when they may not).
//! - `subscriptions.rs`: who receives which track.
//! - `events.rs`: call-state changes from the bus (`docs/ARCHITECTURE.md`,
//!   "Bus events"), and the events the room publishes.
//! - `metadata.rs`: the room's metadata and counts; members' own info.
//! - `permissions.rs`: a connected member's permissions changed by the API.
//! - `track_permissions.rs`: who may subscribe to a publisher's tracks.

mod events;
mod members;
mod metadata;
mod permissions;
#[cfg(test)]
mod sim_tests;
mod subscriptions;
mod track_permissions;
mod tracks;

pub use tracks::PublishRefusal;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use onair_bus::{Bus, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::gate::{CallStatus, Refusal};
use crate::ids::TrackSid;
use crate::limits::SignalLimits;
use crate::media::{Command, Media, Notice, Pid, TrackSink};
use crate::outbox::Outbox;

/// The attribute that marks a participant another node's relay publishes
/// here (its value: that node's id). Clients cannot set `onair.` attributes.
pub const RELAYED_FROM: &str = "onair.relayed_from";

/// Messages to a room task.
pub enum RoomMsg {
    /// A participant joined. The room completes `join` (room, others) and
    /// sends it as the participant's first message, then replies.
    Join {
        /// The participant.
        pid: Pid,
        /// Its join response, with its own info filled in.
        join: Box<lk::JoinResponse>,
        /// Subscribe to everything (else only to what the client asks for).
        auto_subscribe: bool,
        /// The call as the store had it when the participant entered.
        status: CallStatus,
        /// Where the room's messages to the participant go.
        outbox: Outbox,
        /// Whether the room admits it.
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// `AddTrackRequest`; the reply is the `TrackInfo` to publish, or why not.
    AddTrack {
        /// The publishing participant.
        pid: Pid,
        /// What the client asks.
        req: lk::AddTrackRequest,
        /// The track's info, or why not.
        reply: oneshot::Sender<Result<lk::TrackInfo, PublishRefusal>>,
    },
    /// Media for a track is negotiated.
    TrackLive {
        /// The publisher.
        pid: Pid,
        /// The track.
        track_sid: TrackSid,
        /// Its m-line in the publisher's SDP.
        mid: String,
        /// Its codec as LiveKit names it (`audio/opus`, `video/VP8`).
        mime: String,
    },
    /// The publisher stopped sending a track.
    TrackEnded {
        /// The publisher.
        pid: Pid,
        /// The track.
        track_sid: TrackSid,
    },
    /// The publisher (un)muted a track.
    Mute {
        /// The publisher.
        pid: Pid,
        /// The track.
        track_sid: TrackSid,
        /// Muted, or not any more.
        muted: bool,
    },
    /// The participant changes its own name, metadata or attributes
    /// (`UpdateParticipantMetadata`).
    UpdateMetadata {
        /// The participant.
        pid: Pid,
        /// What it asks.
        update: lk::UpdateParticipantMetadata,
    },
    /// The participant sets who may subscribe to its tracks.
    TrackPermissions {
        /// The publisher.
        pid: Pid,
        /// Its rules.
        rules: lk::SubscriptionPermission,
    },
    /// The participant asks to (un)subscribe tracks.
    Subscription {
        /// The subscriber.
        pid: Pid,
        /// The tracks it names (at most the per-message limit).
        track_sids: Vec<TrackSid>,
        /// Subscribe, or unsubscribe.
        subscribe: bool,
    },
    /// The participant resumed on a new connection: send it the room again.
    Resync {
        /// The resumed participant.
        pid: Pid,
    },
    /// The participant left.
    Leave {
        /// The departing participant.
        pid: Pid,
        /// Why (`left`, `timeout`, `removed`…), for the call's events.
        reason: &'static str,
    },
    /// A call-state change from the API.
    Bus(EventKind),
    /// The call's `custom` data now, as room metadata.
    Metadata(String),
    /// What the registry says of the room: its own publishers, if it has
    /// participants of its own.
    Hosted(oneshot::Sender<Option<onair_bus::HostedRoom>>),
    /// The node stops: every participant is asked to reconnect, which
    /// OnAir's SDKs do on the node the API names next.
    MoveAway,
    /// The call's state as the store had it at `read_at` (see
    /// [`Rooms::reconcile`]); older than the last bus event, it is ignored.
    Reconcile {
        /// The state, as the event that would have set it.
        kind: EventKind,
        /// When the store was read.
        read_at: std::time::Instant,
    },
}

/// A participant as its room keeps it.
struct Member {
    info: lk::ParticipantInfo,
    outbox: Outbox,
    /// Receives every track it may, unless declined (else only `wanted`).
    auto_subscribe: bool,
    /// Tracks this participant unsubscribed from explicitly.
    declined: Vec<TrackSid>,
    /// Tracks this participant asked for explicitly.
    wanted: Vec<TrackSid>,
    /// Who may subscribe to its tracks (none: everyone the rules allow).
    track_permissions: Option<lk::SubscriptionPermission>,
}

impl Member {
    /// Its tracks whose media flows (they have an m-line).
    fn live_tracks(&self) -> Vec<TrackSid> {
        let live = self.info.tracks.iter().filter(|t| !t.mid.is_empty());
        live.map(|t| TrackSid::from(t.sid.as_str())).collect()
    }
}

/// One room's state, owned by its task.
struct Room {
    bus: Arc<dyn Bus>,
    limits: SignalLimits,
    /// Bus events to publish once the current message is handled.
    pending_events: Vec<EventKind>,
    name: String,
    room_sid: String,
    created: i64,
    live: bool,
    /// When a bus event last set `live`: a store reading older than that
    /// must not undo it.
    live_set_at: std::time::Instant,
    members: BTreeMap<Pid, Member>,
    /// Commands for the media workers from the message being handled.
    commands: Vec<Command>,
    /// Its replies, sent once `commands` are: see [`Room::step`].
    replies: Vec<Box<dyn FnOnce() + Send>>,
    /// The call's `custom` data (JSON): LiveKit's room metadata.
    metadata: String,
    /// The participant and publisher counts everyone last heard.
    counts_sent: (u32, u32),
}

/// All rooms of this SFU, by name (call cid).
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<RoomMsg>>>>,
    media: Media,
    bus: Arc<dyn Bus>,
    limits: SignalLimits,
}

impl Rooms {
    /// No rooms yet. Clients in them are held to `limits`.
    pub fn new(media: Media, bus: Arc<dyn Bus>, limits: SignalLimits) -> Self {
        Self {
            inner: Arc::default(),
            media,
            bus,
            limits,
        }
    }

    /// The room named `name`, started if it does not run, in the state the
    /// store gave (`backstage` or live); a running room keeps its own,
    /// which the bus keeps current.
    pub fn get_or_start(&self, name: &str, backstage: bool) -> mpsc::UnboundedSender<RoomMsg> {
        let mut rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = rooms.get(name).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Room::new(name, backstage, self.bus.clone(), self.limits.clone());
        let registry = self.clone();
        let span = tracing::info_span!("room", call_cid = %name);
        let media = self.media.clone();
        let task = async move {
            let name = room.name.clone();
            room.run(rx, media).await;
            registry.remove_closed(&name);
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
        rooms.insert(name.to_owned(), tx.clone());
        tx
    }

    /// Delivers a bus event to the room it concerns, if that room runs here.
    pub fn bus_event(&self, call_cid: &str, kind: EventKind) {
        self.send(call_cid, RoomMsg::Bus(kind));
    }

    /// Hands the room `name` its call's state as the store had it at
    /// `read_at`, unless a bus event changed it since.
    pub fn reconcile(&self, name: &str, kind: EventKind, read_at: std::time::Instant) {
        self.send(name, RoomMsg::Reconcile { kind, read_at });
    }

    /// Hands the room `name` its call's `custom` data (room metadata).
    pub fn set_metadata(&self, name: &str, metadata: String) {
        self.send(name, RoomMsg::Metadata(metadata));
    }

    /// Hands `msg` to the room `name`, if it runs here.
    fn send(&self, name: &str, msg: RoomMsg) {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = rooms.get(name) {
            let _ = tx.send(msg);
        }
    }

    /// The rooms with participants of this node's own, with those who
    /// publish (what the SFU registry announces).
    pub async fn hosted(&self) -> Vec<onair_bus::HostedRoom> {
        let asked: Vec<oneshot::Receiver<Option<onair_bus::HostedRoom>>> = {
            let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            rooms
                .values()
                .filter_map(|tx| {
                    let (reply, answer) = oneshot::channel();
                    tx.send(RoomMsg::Hosted(reply)).ok().map(|_| answer)
                })
                .collect()
        };
        let mut hosted = Vec::new();
        for answer in asked {
            if let Ok(Some(room)) = answer.await {
                hosted.push(room);
            }
        }
        hosted.sort_by(|a, b| a.cid.cmp(&b.cid));
        hosted
    }

    /// Asks every participant of every room here to reconnect
    /// ([`RoomMsg::MoveAway`]).
    pub fn move_away(&self) {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for tx in rooms.values() {
            let _ = tx.send(RoomMsg::MoveAway);
        }
    }

    /// The names of the rooms running here.
    pub fn names(&self) -> Vec<String> {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        rooms.keys().cloned().collect()
    }

    /// How many rooms run now.
    pub fn open(&self) -> usize {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        rooms.values().filter(|tx| !tx.is_closed()).count()
    }

    fn remove_closed(&self, name: &str) {
        let mut rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.get(name).is_some_and(|tx| tx.is_closed()) {
            rooms.remove(name);
        }
    }
}

/// A request that the client leave (`action`) for `reason`.
pub fn leave_request(reason: lk::DisconnectReason, action: lk::leave_request::Action) -> Out {
    Out::Leave(lk::LeaveRequest {
        reason: reason as i32,
        action: action as i32,
        ..Default::default()
    })
}

impl RoomMsg {
    /// Where a participant's media worker sends its tracks' start and end:
    /// straight into the room's queue.
    pub fn track_sink(room: mpsc::UnboundedSender<RoomMsg>, pid: Pid) -> TrackSink {
        Arc::new(move |notice| {
            if let Some(msg) = RoomMsg::of_track(pid, notice) {
                let _ = room.send(msg);
            }
        })
    }

    /// What `pid`'s track starting or ending tells its room; `None` for
    /// any other notice.
    fn of_track(pid: Pid, notice: Notice) -> Option<RoomMsg> {
        match notice {
            Notice::TrackLive {
                track_sid,
                mid,
                mime,
            } => Some(RoomMsg::TrackLive {
                pid,
                track_sid,
                mid,
                mime,
            }),
            Notice::TrackEnded { track_sid } => Some(RoomMsg::TrackEnded { pid, track_sid }),
            _ => None,
        }
    }
}

impl Room {
    /// An empty room `name`, live or in `backstage`.
    fn new(name: &str, backstage: bool, bus: Arc<dyn Bus>, limits: SignalLimits) -> Self {
        Room {
            bus,
            limits,
            pending_events: Vec::new(),
            name: name.to_owned(),
            room_sid: crate::ids::room_sid(),
            created: onair_auth::clock::unix_ms() / 1000,
            live: !backstage,
            live_set_at: std::time::Instant::now(),
            metadata: String::new(),
            counts_sent: (0, 0),
            members: BTreeMap::new(),
            commands: Vec::new(),
            replies: Vec::new(),
        }
    }

    /// The room as the protocol describes it.
    fn room_info(&self) -> lk::Room {
        lk::Room {
            sid: self.room_sid.clone(),
            name: self.name.clone(),
            creation_time: self.created,
            metadata: self.metadata.clone(),
            num_participants: self.counts().0,
            num_publishers: self.counts().1,
            ..Default::default()
        }
    }

    /// How many participants (recorders not counted) and publishers.
    fn counts(&self) -> (u32, u32) {
        let visible = self.members.values().filter(|m| !is_hidden(&m.info));
        let publishing = visible.clone().filter(|m| !m.info.tracks.is_empty());
        (visible.count() as u32, publishing.count() as u32)
    }

    /// Handles one message: its commands go to `send`, then its replies.
    /// In that order: a client acts on a reply at once (offers the track it
    /// was told is accepted, sends the offer of a join), and that reaches
    /// its media worker on another path, which must find what the room
    /// commanded already there (the track expected, the others subscribed).
    fn step(&mut self, msg: RoomMsg, mut send: impl FnMut(Command)) {
        self.handle(msg);
        for cmd in self.commands.drain(..) {
            send(cmd);
        }
        for reply in self.replies.drain(..) {
            reply();
        }
    }

    /// Handles one message.
    fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Join {
                pid,
                join,
                auto_subscribe,
                status,
                outbox,
                reply,
            } => {
                let joined = self.admit(&join, status.max_participants);
                if joined.is_ok() {
                    self.set_metadata(status.metadata);
                }
                if joined.is_ok() {
                    self.join(pid, *join, auto_subscribe, outbox);
                }
                self.replies
                    .push(Box::new(move || drop(reply.send(joined))));
            }
            RoomMsg::AddTrack { pid, req, reply } => {
                let accepted = self.add_track(pid, req);
                self.replies
                    .push(Box::new(move || drop(reply.send(accepted))));
            }
            RoomMsg::TrackLive {
                pid,
                track_sid,
                mid,
                mime,
            } => self.track_live(pid, &track_sid, mid, mime),
            RoomMsg::TrackEnded { pid, track_sid } => self.track_ended(pid, &track_sid),
            RoomMsg::Mute {
                pid,
                track_sid,
                muted,
            } => self.mute(pid, &track_sid, muted),
            RoomMsg::UpdateMetadata { pid, update } => self.update_metadata(pid, update),
            RoomMsg::TrackPermissions { pid, rules } => self.set_track_permissions(pid, rules),
            RoomMsg::Subscription {
                pid,
                track_sids,
                subscribe,
            } => self.subscription(pid, track_sids, subscribe),
            RoomMsg::Resync { pid } => self.resync(pid),
            RoomMsg::Leave { pid, reason } => self.leave(pid, reason),
            RoomMsg::Bus(kind) => self.handle_bus(kind),
            RoomMsg::Metadata(metadata) => self.set_metadata(metadata),
            RoomMsg::Hosted(reply) => drop(reply.send(self.hosted())),
            RoomMsg::MoveAway => self.move_away(),
            RoomMsg::Reconcile { kind, read_at } => self.handle_reconcile(kind, read_at),
        }
    }

    /// Runs the room until its last member leaves, sending its commands
    /// to `media`.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomMsg>, media: Media) {
        tracing::info!(room = %self.name, live = self.live, "room started");
        let open = metrics::gauge!("onair_sfu_rooms");
        open.increment(1.0);
        // When changed counts go out: batched, as LiveKit does, so a crowd
        // joining costs one update per interval, not one per join.
        let mut counts_due: Option<tokio::time::Instant> = None;
        loop {
            let msg = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                _ = sleep_until(counts_due) => {
                    counts_due = None;
                    self.send_counts();
                    continue;
                }
            };
            // The call's state (a bus event, the reconcile loop's state or
            // metadata) may reach a room before its first participant does;
            // only a departure (or a refused join) closes an empty room.
            let may_close = !matches!(
                msg,
                RoomMsg::Bus(_)
                    | RoomMsg::Reconcile { .. }
                    | RoomMsg::Metadata(_)
                    | RoomMsg::Hosted(_)
            );
            self.step(msg, |cmd| media.send(cmd));
            self.publish_pending().await;
            if may_close && self.members.is_empty() {
                break;
            }
            if counts_due.is_none() && self.counts() != self.counts_sent {
                counts_due = Some(tokio::time::Instant::now() + COUNTS_EVERY);
            }
        }
        open.decrement(1.0);
        tracing::info!(room = %self.name, "room closed");
    }
}

/// How often changed participant counts are sent to the room.
const COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Whether the participant may publish (and so receives media in backstage).
fn can_publish(info: &lk::ParticipantInfo) -> bool {
    info.permission.as_ref().is_some_and(|p| p.can_publish)
}

/// Whether the participant is hidden (a recorder): not one of the call's participants.
fn is_hidden(info: &lk::ParticipantInfo) -> bool {
    info.permission.as_ref().is_some_and(|p| p.hidden)
}

/// Whether another node's relay publishes the participant here: that
/// node counts and announces it.
fn is_relayed(info: &lk::ParticipantInfo) -> bool {
    info.attributes.contains_key(RELAYED_FROM)
}

/// Whether the participant is this node's own: neither hidden nor relayed.
fn is_own(info: &lk::ParticipantInfo) -> bool {
    !is_hidden(info) && !is_relayed(info)
}

/// Whether the participant only records: nobody receives its media.
#[allow(deprecated)] // `recorder` is how LiveKit grants mark egress participants
fn is_recorder_only(info: &lk::ParticipantInfo) -> bool {
    info.permission
        .as_ref()
        .is_some_and(|p| p.recorder && !p.can_publish)
}

/// The user a participant belongs to: its identity without the `:ingest`
/// suffix an ingest session (RTMP, WHIP) carries; user ids have no colon.
pub(crate) fn owner(identity: &str) -> &str {
    identity.split(':').next().unwrap_or(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reconcile loop hands every room its metadata every few seconds
    /// (at once when the SFU starts): a room just started for a joining
    /// participant must still be there when the join arrives.
    #[tokio::test]
    async fn the_calls_state_arriving_before_the_first_member_keeps_the_room() {
        let config = crate::MediaConfig {
            udp_bind: "127.0.0.1:0".parse().unwrap(),
            candidates: Vec::new(),
            workers: 1,
        };
        let media = Media::start(config, std::time::Duration::from_secs(5)).unwrap();
        let bus = Arc::new(onair_bus::LocalBus::new());
        let rooms = Rooms::new(media, bus, SignalLimits::default());
        let room = rooms.get_or_start("default:early", false);
        rooms.set_metadata("default:early", "{}".into());
        rooms.reconcile(
            "default:early",
            EventKind::LiveStarted,
            std::time::Instant::now(),
        );
        rooms.bus_event("default:early", EventKind::LiveStarted);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!room.is_closed(), "the room closed before anyone joined");
        assert_eq!(rooms.open(), 1);
    }
}
