//! Rooms (= calls) as the signal protocol sees them (LiveKit's `pkg/rtc`):
//! who is in the room, what they publish, who may receive what.
//!
//! Each room is a task that owns its state; sessions and the bus talk to it
//! with [`RoomMsg`]s, so there is no lock around room state. The rule for
//! media: a subscriber receives a publisher's tracks when it may subscribe
//! and the call is live, or, while the call is in backstage, when it may
//! publish itself (it holds `join-backstage`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use onair_bus::{Bus, Event, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::gate::Refusal;
use crate::ids::TrackSid;
use crate::limits::{count, Limit, SignalLimits};
use crate::media::{Command, Kind, Layer, Media, Pid, TrackSpec};
use crate::outbox::Outbox;

/// Longest track name or client track id, in bytes: they are repeated in
/// every participant update to everyone.
const MAX_TRACK_NAME: usize = 256;

/// Why a participant may not publish a track (`AddTrackRequest`); the
/// client is told the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    /// The participant is not (or no longer) in the room.
    #[error("not in the room")]
    NotInRoom,
    /// Its grant does not let it publish.
    #[error("this participant may not publish")]
    MayNotPublish,
    /// The track's name or client id is longer than `max` bytes.
    #[error("track names and ids are at most {max} bytes")]
    NameTooLong {
        /// The longest allowed, in bytes.
        max: usize,
    },
    /// It already publishes its most tracks.
    #[error("at most {max} tracks per participant")]
    TooManyTracks {
        /// Tracks one participant may publish at once.
        max: usize,
    },
    /// Its grant does not list the track's source (camera, screen…).
    #[error("this participant may not publish that source")]
    SourceNotAllowed,
}

/// Messages to a room task.
pub enum RoomMsg {
    /// A participant joined. The room completes `join` (room, others) and
    /// sends it as the participant's first message, then replies.
    Join {
        pid: Pid,
        join: Box<lk::JoinResponse>,
        /// Subscribe to everything (else only to what the client asks for).
        auto_subscribe: bool,
        /// The call's own limit on users at once.
        max_participants: Option<u32>,
        outbox: Outbox,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// `AddTrackRequest`; the reply is the `TrackInfo` to publish, or why not.
    AddTrack {
        pid: Pid,
        req: lk::AddTrackRequest,
        reply: oneshot::Sender<Result<lk::TrackInfo, PublishRefusal>>,
    },
    /// Media for a track is negotiated.
    TrackLive {
        pid: Pid,
        track_sid: TrackSid,
        mid: String,
        mime: String,
    },
    /// The publisher stopped sending a track.
    TrackEnded { pid: Pid, track_sid: TrackSid },
    /// The publisher (un)muted a track.
    Mute {
        pid: Pid,
        track_sid: TrackSid,
        muted: bool,
    },
    /// The participant asks to (un)subscribe tracks.
    Subscription {
        pid: Pid,
        track_sids: Vec<TrackSid>,
        subscribe: bool,
    },
    /// The participant resumed on a new connection: send it the room again.
    Resync { pid: Pid },
    /// The participant left.
    Leave { pid: Pid },
    /// A call-state change from the API.
    Bus(EventKind),
    /// The call's state as the store had it at `read_at` (see
    /// [`Rooms::reconcile`]); older than the last bus event, it is ignored.
    Reconcile {
        kind: EventKind,
        read_at: std::time::Instant,
    },
}

struct Member {
    info: lk::ParticipantInfo,
    outbox: Outbox,
    /// Receives every track it may, unless declined (else only `wanted`).
    auto_subscribe: bool,
    /// Tracks this participant unsubscribed from explicitly.
    declined: Vec<TrackSid>,
    /// Tracks this participant asked for explicitly.
    wanted: Vec<TrackSid>,
}

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
    media: Media,
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
        let room = Room {
            bus: self.bus.clone(),
            limits: self.limits.clone(),
            pending_events: Vec::new(),
            name: name.to_owned(),
            room_sid: crate::ids::room_sid(),
            created: onair_auth::clock::unix_ms() / 1000,
            live: !backstage,
            live_set_at: std::time::Instant::now(),
            members: BTreeMap::new(),
            media: self.media.clone(),
        };
        let registry = self.clone();
        tokio::spawn(async move {
            let name = room.name.clone();
            room.run(rx).await;
            registry.remove_closed(&name);
        });
        rooms.insert(name.to_owned(), tx.clone());
        tx
    }

    /// Delivers a bus event to the room it concerns, if that room runs here.
    pub fn bus_event(&self, cid: &str, kind: EventKind) {
        self.send(cid, RoomMsg::Bus(kind));
    }

    /// Hands the room `name` its call's state as the store had it at
    /// `read_at`, unless a bus event changed it since.
    pub fn reconcile(&self, name: &str, kind: EventKind, read_at: std::time::Instant) {
        self.send(name, RoomMsg::Reconcile { kind, read_at });
    }

    /// Hands `msg` to the room `name`, if it runs here.
    fn send(&self, name: &str, msg: RoomMsg) {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = rooms.get(name) {
            let _ = tx.send(msg);
        }
    }

    /// The names of the rooms running here.
    pub fn names(&self) -> Vec<String> {
        let rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        rooms.keys().cloned().collect()
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

impl Room {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomMsg>) {
        tracing::info!(room = %self.name, live = self.live, "room started");
        while let Some(msg) = rx.recv().await {
            // A bus event may reach a room before its first participant
            // does; only a departure (or a refused join) closes an empty room.
            let may_close = !matches!(msg, RoomMsg::Bus(_) | RoomMsg::Reconcile { .. });
            match msg {
                RoomMsg::Join {
                    pid,
                    join,
                    auto_subscribe,
                    max_participants,
                    outbox,
                    reply,
                } => {
                    let joined = self.admit(&join, max_participants);
                    if joined.is_ok() {
                        self.join(pid, *join, auto_subscribe, outbox);
                    }
                    let _ = reply.send(joined);
                }
                RoomMsg::AddTrack { pid, req, reply } => {
                    let _ = reply.send(self.add_track(pid, req));
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
                RoomMsg::Subscription {
                    pid,
                    track_sids,
                    subscribe,
                } => self.subscription(pid, track_sids, subscribe),
                RoomMsg::Resync { pid } => self.resync(pid),
                RoomMsg::Leave { pid } => self.leave(pid),
                RoomMsg::Bus(kind) => {
                    if matches!(kind, EventKind::LiveStarted | EventKind::LiveStopped) {
                        self.live_set_at = std::time::Instant::now();
                    }
                    self.bus(kind)
                }
                RoomMsg::Reconcile { kind, read_at } => {
                    let stale = matches!(kind, EventKind::LiveStarted | EventKind::LiveStopped)
                        && read_at < self.live_set_at;
                    if !stale {
                        self.bus(kind);
                    }
                }
            }
            for kind in std::mem::take(&mut self.pending_events) {
                let event = Event::new(self.name.clone(), onair_auth::clock::unix_ms(), kind);
                if let Err(e) = self.bus.publish(event).await {
                    tracing::warn!(room = %self.name, error = %e, "bus publish failed");
                }
            }
            if may_close && self.members.is_empty() {
                break;
            }
        }
        tracing::info!(room = %self.name, "room closed");
    }

    fn room_info(&self) -> lk::Room {
        lk::Room {
            sid: self.room_sid.clone(),
            name: self.name.clone(),
            creation_time: self.created,
            num_participants: self.members.len() as u32,
            num_publishers: self
                .members
                .values()
                .filter(|m| !m.info.tracks.is_empty())
                .count() as u32,
            ..Default::default()
        }
    }

    /// Refuses a newcomer when the call (its own limit) or the room (the
    /// node's) has its most users; the same user again, and hidden
    /// participants, always fit.
    fn admit(&self, join: &lk::JoinResponse, max_participants: Option<u32>) -> Result<(), Refusal> {
        let Some(info) = join.participant.as_ref() else {
            return Ok(());
        };
        if is_hidden(info) {
            return Ok(());
        }
        let me = owner(&info.identity);
        let others: std::collections::BTreeSet<&str> = self
            .members
            .values()
            .filter(|m| !is_hidden(&m.info))
            .map(|m| owner(&m.info.identity))
            .filter(|o| *o != me)
            .collect();
        let max = max_participants
            .map_or(usize::MAX, |m| m as usize)
            .min(self.limits.participants_per_room);
        if others.len() >= max {
            tracing::info!(room = %self.name, identity = %info.identity, max, "join refused: the call is full");
            count(Limit::Full, 1);
            return Err(Refusal::Full);
        }
        Ok(())
    }

    fn join(&mut self, pid: Pid, mut join: lk::JoinResponse, auto_subscribe: bool, outbox: Outbox) {
        let info = join.participant.clone().unwrap_or_default();
        // The same user again (a rejoin after a network loss, or a second
        // device): the newer connection replaces the older one.
        let older: Vec<Pid> = self
            .members
            .iter()
            .filter(|(_, m)| m.info.identity == info.identity)
            .map(|(p, _)| *p)
            .collect();
        for old in older {
            if let Some(member) = self.members.get(&old) {
                member.outbox.send(leave_request(
                    lk::DisconnectReason::DuplicateIdentity,
                    lk::leave_request::Action::Disconnect,
                ));
            }
            tracing::info!(room = %self.name, identity = %info.identity, "replacing the older connection");
            self.leave(old);
            self.media.send(Command::Leave { pid: old });
        }
        let others: Vec<lk::ParticipantInfo> = self
            .members
            .values()
            .filter(|m| !is_hidden(&m.info))
            .map(|m| m.info.clone())
            .collect();
        // Hidden participants (recorders) are not the call's participants.
        if !is_hidden(&info) {
            self.broadcast_update(&info, Some(pid));
            self.pending_events.push(EventKind::ParticipantJoined {
                user_id: info.identity.clone(),
                participant_sid: info.sid.clone(),
            });
        }
        // Nothing may reach the participant before its join response.
        join.room = Some(self.room_info());
        join.other_participants = others;
        outbox.send(Out::Join(join));
        self.members.insert(
            pid,
            Member {
                info,
                outbox,
                auto_subscribe,
                declined: Vec::new(),
                wanted: Vec::new(),
            },
        );
        // Existing published tracks flow to the newcomer if the rules allow.
        let sources: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for publisher in sources {
            self.subscribe_all(pid, publisher);
        }
    }

    // `layers`/`simulcast` are deprecated in the protocol but still read by clients.
    #[allow(deprecated)]
    fn add_track(
        &mut self,
        pid: Pid,
        req: lk::AddTrackRequest,
    ) -> Result<lk::TrackInfo, PublishRefusal> {
        let member = self.members.get(&pid).ok_or(PublishRefusal::NotInRoom)?;
        let permission = member.info.permission.clone().unwrap_or_default();
        if !permission.can_publish {
            return Err(PublishRefusal::MayNotPublish);
        }
        if req.name.len() > MAX_TRACK_NAME || req.cid.len() > MAX_TRACK_NAME {
            count(Limit::Ids, 1);
            return Err(PublishRefusal::NameTooLong {
                max: MAX_TRACK_NAME,
            });
        }
        if member.info.tracks.len() >= self.limits.tracks_per_participant {
            count(Limit::Tracks, 1);
            return Err(PublishRefusal::TooManyTracks {
                max: self.limits.tracks_per_participant,
            });
        }
        if !permission.can_publish_sources.is_empty()
            && !permission.can_publish_sources.contains(&req.source)
        {
            return Err(PublishRefusal::SourceNotAllowed);
        }
        let kind = if req.r#type == lk::TrackType::Video as i32 {
            Kind::Video
        } else {
            Kind::Audio
        };
        let mut layers: Vec<lk::VideoLayer> = req.layers.clone();
        layers.sort_by_key(|l| l.quality);
        let info = lk::TrackInfo {
            sid: TrackSid::random().into_string(),
            r#type: req.r#type,
            name: req.name.clone(),
            muted: req.muted,
            width: req.width,
            height: req.height,
            simulcast: layers.len() > 1,
            source: req.source,
            layers: layers.clone(),
            stream: if req.source == lk::TrackSource::ScreenShare as i32 {
                "screen".into()
            } else {
                "camera".into()
            },
            ..Default::default()
        };
        let spec = TrackSpec {
            track_sid: TrackSid::from(info.sid.clone()),
            client_track_id: req.cid.clone(),
            kind,
            layers: layers
                .iter()
                .map(|l| Layer {
                    quality: l.quality.clamp(0, 2) as u8,
                    width: l.width,
                    height: l.height,
                    bitrate: l.bitrate,
                })
                .collect(),
        };
        self.media.send(Command::ExpectTrack { pid, spec });
        // Others hear of it when media flows (TrackLive).
        if let Some(member) = self.members.get_mut(&pid) {
            member.info.tracks.push(info.clone());
        }
        Ok(info)
    }

    fn track_live(&mut self, pid: Pid, track_sid: &TrackSid, mid: String, mime: String) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        if !member.info.tracks.iter().any(|t| *track_sid == t.sid) {
            return;
        }
        for t in member
            .info
            .tracks
            .iter_mut()
            .filter(|t| *track_sid == t.sid)
        {
            t.mid = mid.clone();
            t.mime_type = mime.clone();
        }
        member.info.version += 1;
        member.info.is_publisher = true;
        let info = member.info.clone();
        self.broadcast_update(&info, None);
        let subscribers: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for sub in subscribers {
            self.subscribe_one(sub, pid, track_sid);
        }
    }

    fn track_ended(&mut self, pid: Pid, track_sid: &TrackSid) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let before = member.info.tracks.len();
        member.info.tracks.retain(|t| *track_sid != t.sid);
        if member.info.tracks.len() != before {
            member.info.version += 1;
            let info = member.info.clone();
            self.broadcast_update(&info, None);
        }
        self.forget_tracks(std::slice::from_ref(track_sid));
    }

    /// Nobody's explicit (un)subscriptions keep naming tracks that are gone.
    fn forget_tracks(&mut self, gone: &[TrackSid]) {
        for member in self.members.values_mut() {
            member.wanted.retain(|s| !gone.contains(s));
            member.declined.retain(|s| !gone.contains(s));
        }
    }

    fn mute(&mut self, pid: Pid, track_sid: &TrackSid, muted: bool) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let mut changed = false;
        for t in member
            .info
            .tracks
            .iter_mut()
            .filter(|t| *track_sid == t.sid && t.muted != muted)
        {
            t.muted = muted;
            changed = true;
        }
        if changed {
            member.info.version += 1;
            let info = member.info.clone();
            self.broadcast_update(&info, None);
        }
    }

    /// Explicit (un)subscriptions. Only tracks published in the room count,
    /// each once, and a participant holds a bounded number of them.
    fn subscription(&mut self, pid: Pid, track_sids: Vec<TrackSid>, subscribe: bool) {
        for track_sid in track_sids {
            let Some(publisher) = self
                .members
                .iter()
                .find(|(_, m)| m.info.tracks.iter().any(|t| track_sid == t.sid))
                .map(|(p, _)| *p)
            else {
                continue;
            };
            let limit = self.limits.subscriptions_per_participant;
            let Some(member) = self.members.get_mut(&pid) else {
                return;
            };
            member.declined.retain(|s| *s != track_sid);
            member.wanted.retain(|s| *s != track_sid);
            // An unsubscribe always takes effect; only its record is bounded.
            let full = member.declined.len() + member.wanted.len() >= limit;
            if full {
                count(Limit::Ids, 1);
            }
            if subscribe {
                if full {
                    continue;
                }
                member.wanted.push(track_sid.clone());
                self.subscribe_one(pid, publisher, &track_sid);
            } else {
                if !full {
                    member.declined.push(track_sid.clone());
                }
                self.media.send(Command::Unsubscribe { pid, track_sid });
            }
        }
    }

    fn leave(&mut self, pid: Pid) {
        let Some(mut member) = self.members.remove(&pid) else {
            return;
        };
        let gone: Vec<TrackSid> = member
            .info
            .tracks
            .iter()
            .map(|t| TrackSid::from(t.sid.as_str()))
            .collect();
        self.forget_tracks(&gone);
        if !is_hidden(&member.info) {
            self.pending_events.push(EventKind::ParticipantLeft {
                user_id: member.info.identity.clone(),
                participant_sid: member.info.sid.clone(),
            });
        }
        member.info.state = lk::participant_info::State::Disconnected as i32;
        member.info.version += 1;
        if !is_hidden(&member.info) {
            self.broadcast_update(&member.info, None);
        }
    }

    fn bus(&mut self, kind: EventKind) {
        match kind {
            EventKind::LiveStarted if !self.live => {
                self.live = true;
                tracing::info!(room = %self.name, "live: media opens to everyone");
                let ids: Vec<Pid> = self.members.keys().copied().collect();
                for sub in &ids {
                    for publisher in &ids {
                        if sub != publisher {
                            self.subscribe_all(*sub, *publisher);
                        }
                    }
                }
            }
            EventKind::LiveStopped if self.live => {
                self.live = false;
                tracing::info!(room = %self.name, "backstage: media closes to viewers");
                for (pid, member) in &self.members {
                    if can_publish(&member.info) {
                        continue;
                    }
                    for publisher in self.members.values() {
                        for t in &publisher.info.tracks {
                            self.media.send(Command::Unsubscribe {
                                pid: *pid,
                                track_sid: TrackSid::from(t.sid.as_str()),
                            });
                        }
                    }
                }
            }
            EventKind::UserKicked { user_id } | EventKind::UserBlocked { user_id } => {
                let leave = leave_request(
                    lk::DisconnectReason::ParticipantRemoved,
                    lk::leave_request::Action::Disconnect,
                );
                for member in self
                    .members
                    .values()
                    .filter(|m| owner(&m.info.identity) == user_id)
                {
                    tracing::info!(room = %self.name, user = %user_id, "kicking");
                    member.outbox.send(leave.clone());
                }
            }
            EventKind::UsersMuted {
                user_ids,
                all,
                audio,
                video,
                screenshare,
            } => {
                let sources: Vec<i32> = [
                    (audio, lk::TrackSource::Microphone),
                    (video, lk::TrackSource::Camera),
                    (screenshare, lk::TrackSource::ScreenShare),
                    (screenshare, lk::TrackSource::ScreenShareAudio),
                ]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, s)| s as i32)
                .collect();
                let targets: Vec<Pid> = self
                    .members
                    .iter()
                    .filter(|(_, m)| all || user_ids.iter().any(|u| u == owner(&m.info.identity)))
                    .map(|(p, _)| *p)
                    .collect();
                for pid in targets {
                    let Some(member) = self.members.get(&pid) else {
                        continue;
                    };
                    let outbox = member.outbox.clone();
                    let track_sids: Vec<TrackSid> = member
                        .info
                        .tracks
                        .iter()
                        .filter(|t| sources.contains(&t.source) && !t.muted)
                        .map(|t| TrackSid::from(t.sid.as_str()))
                        .collect();
                    for track_sid in track_sids {
                        // The client mutes itself on this request and reports back.
                        outbox.send(Out::Mute(lk::MuteTrackRequest {
                            sid: track_sid.to_string(),
                            muted: true,
                        }));
                        self.mute(pid, &track_sid, true);
                    }
                }
            }
            EventKind::CallEnded { reason } => {
                tracing::info!(room = %self.name, ?reason, "call ended: disconnecting everyone");
                self.close();
            }
            EventKind::CallDeleted => {
                tracing::info!(room = %self.name, "call deleted: disconnecting everyone");
                self.close();
            }
            _ => {}
        }
    }

    /// Sends everyone away: the call is over.
    fn close(&self) {
        let leave = leave_request(
            lk::DisconnectReason::RoomClosed,
            lk::leave_request::Action::Disconnect,
        );
        for member in self.members.values() {
            member.outbox.send(leave.clone());
        }
    }

    /// Everyone `pid` may see (itself included) and the room, for a
    /// client that may have missed updates while it was away.
    fn resync(&self, pid: Pid) {
        let Some(member) = self.members.get(&pid) else {
            return;
        };
        let participants = self
            .members
            .iter()
            .filter(|(p, m)| **p == pid || !is_hidden(&m.info))
            .map(|(_, m)| m.info.clone())
            .collect();
        member
            .outbox
            .send(Out::Update(lk::ParticipantUpdate { participants }));
        member.outbox.send(Out::RoomUpdate(lk::RoomUpdate {
            room: Some(self.room_info()),
        }));
    }

    /// Sends `info` to every member except `skip`.
    fn broadcast_update(&self, info: &lk::ParticipantInfo, skip: Option<Pid>) {
        let update = lk::ParticipantUpdate {
            participants: vec![info.clone()],
        };
        for (pid, member) in &self.members {
            if Some(*pid) != skip {
                member.outbox.send(Out::Update(update.clone()));
            }
        }
    }

    /// May `sub` receive `publisher`'s media now?
    fn may_receive(&self, sub: Pid, publisher: Pid) -> bool {
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return false;
        };
        let perm = s.info.permission.clone().unwrap_or_default();
        perm.can_subscribe && !is_recorder_only(&p.info) && (self.live || can_publish(&s.info))
    }

    fn subscribe_all(&self, sub: Pid, publisher: Pid) {
        let Some(p) = self.members.get(&publisher) else {
            return;
        };
        for t in p.info.tracks.iter().filter(|t| !t.mid.is_empty()) {
            self.subscribe_one(sub, publisher, &TrackSid::from(t.sid.as_str()));
        }
    }

    fn subscribe_one(&self, sub: Pid, publisher: Pid, track_sid: &TrackSid) {
        if !self.may_receive(sub, publisher) {
            return;
        }
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return;
        };
        let wants = if s.auto_subscribe {
            !s.declined.contains(track_sid)
        } else {
            s.wanted.contains(track_sid)
        };
        if !wants {
            return;
        }
        self.media.send(Command::Subscribe {
            pid: sub,
            publisher,
            track_sid: track_sid.clone(),
            stream: format!("{}|{}", p.info.sid, track_sid),
        });
    }
}

fn can_publish(info: &lk::ParticipantInfo) -> bool {
    info.permission.as_ref().is_some_and(|p| p.can_publish)
}

fn is_hidden(info: &lk::ParticipantInfo) -> bool {
    info.permission.as_ref().is_some_and(|p| p.hidden)
}

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
