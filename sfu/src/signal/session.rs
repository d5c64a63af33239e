//! One participant's signal session: from its join to its leave, across
//! resumed sockets. It relays between the client, its room and the media
//! worker, holds the client to its [`SignalLimits`](crate::limits::SignalLimits), and
//! keeps it supplied with fresh join tokens.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::StreamExt;
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use onair_auth::token::mint;
use onair_auth::JoinClaims;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::writer::{self, Sink};
use super::{server_info, Resumable, Signal, SERVER_VERSION};
use crate::gate::CallStatus;
use crate::ids::{ParticipantSid, TrackSid};
use crate::limits::{self, refresh_interval, Limit, Logged, RateLimit, Verdict};
use crate::media::{Command, Notice, Pid, Want};
use crate::outbox::Outbox;
use crate::room::{leave_request, RoomMsg};
use onair_auth::clock::unix_ms;

mod notices;

/// Seconds between client pings, and before the client gives up (at
/// most; shorter when the participant timeout is short).
const PING_INTERVAL: u64 = 5;
const PING_TIMEOUT: u64 = 15;

/// How a client connects its media.
pub(super) enum Connection {
    /// Two peer connections (`/rtc`): we offer the subscriber one.
    Dual,
    /// One (`/rtc/v1`): the client makes every offer, the first one
    /// possibly inside its join request.
    Single {
        /// The offer that came with the join.
        offer: Option<lk::SessionDescription>,
    },
}

/// One participant's session: what it relays between, and what it holds
/// the client to.
pub(super) struct Session {
    signal: Arc<Signal>,
    pid: Pid,
    claims: JoinClaims,
    room: mpsc::UnboundedSender<RoomMsg>,
    outbox: Outbox,
    /// The writer's socket, replaced on resume.
    sinks: mpsc::UnboundedSender<Sink>,
    offer_id: u32,
    rate: RateLimit,
    logged: Logged,
}

/// The media worker's reply to a join: our first offer, if any.
type MediaJoined = oneshot::Receiver<Result<Option<String>, crate::media::NegotiationError>>;

/// What the session does after a client's message.
enum Next {
    /// Goes on serving.
    Serve,
    /// Ends; what is queued for the client still goes out.
    Leave,
    /// Ends at once, dropping what is queued (the client misbehaves).
    Abort,
}

/// The next message of the current socket; none while there is none.
async fn next_message(
    rx: &mut Option<SplitStream<WebSocket>>,
) -> Option<Result<Message, axum::Error>> {
    match rx {
        Some(rx) => rx.next().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Runs the participant's whole session on `socket`.
    pub(super) async fn run(
        signal: Arc<Signal>,
        socket: WebSocket,
        claims: JoinClaims,
        status: CallStatus,
        pid: Pid,
        auto_subscribe: bool,
        connection: Connection,
    ) {
        let (ws_tx, ws_rx) = socket.split();
        let (outbox, outbox_rx) = Outbox::new(signal.limits.outbox);
        let (sinks, sinks_rx) = mpsc::unbounded_channel();
        let _ = sinks.send(ws_tx);
        let writer = tokio::spawn(writer::writer(outbox_rx, sinks_rx));
        let room = signal
            .rooms
            .get_or_start(&claims.video.room, status.backstage);
        let session = Session {
            rate: RateLimit::new(&signal.limits, Instant::now()),
            signal,
            pid,
            claims,
            room,
            outbox,
            sinks,
            offer_id: 0,
            logged: Logged::default(),
        };
        session
            .enter(status, auto_subscribe, connection, ws_rx, writer)
            .await;
    }

    /// Joins the media worker and the room; then serves the client.
    async fn enter(
        mut self,
        status: CallStatus,
        auto_subscribe: bool,
        connection: Connection,
        ws_rx: SplitStream<WebSocket>,
        writer: tokio::task::JoinHandle<()>,
    ) {
        let participant_sid = ParticipantSid::random();
        let single_pc = matches!(connection, Connection::Single { .. });
        let (offer, notices) = self.join_media(&participant_sid, single_pc);
        let first_offer = match offer.await {
            Ok(Ok(sdp)) => sdp,
            other => {
                tracing::warn!(?other, "media join failed");
                // The room may have been started for this join: let it close.
                let _ = self.room.send(RoomMsg::Leave {
                    pid: self.pid,
                    reason: "join_failed",
                });
                self.refuse(lk::DisconnectReason::JoinFailure, writer).await;
                return;
            }
        };
        let (reply, joined) = oneshot::channel();
        let _ = self.room.send(RoomMsg::Join {
            pid: self.pid,
            join: Box::new(self.join_response(&participant_sid, &connection)),
            auto_subscribe,
            status,
            outbox: self.outbox.clone(),
            reply,
        });
        match joined.await {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => {
                tracing::info!(reason = refusal.code(), "room refused the participant");
                self.signal.media.send(Command::Leave { pid: self.pid });
                self.refuse(lk::DisconnectReason::JoinFailure, writer).await;
                return;
            }
            Err(_) => {
                self.signal.media.send(Command::Leave { pid: self.pid });
                return;
            }
        }
        let (resume_tx, resumes) = mpsc::unbounded_channel();
        self.signal.sessions().insert(
            participant_sid.clone(),
            Resumable {
                identity: self.claims.sub.clone(),
                room: self.claims.video.room.clone(),
                sockets: resume_tx,
            },
        );
        if let Some(sdp) = first_offer {
            self.send_offer(sdp, HashMap::new());
        }
        // Answered after the room subscribed the client to what is there:
        // the answer already carries those tracks.
        if let Connection::Single { offer: Some(offer) } = connection {
            self.handle_offer(offer).await;
        }
        tracing::info!("participant joined");
        let (writer_done, reason) = self.serve(ws_rx, resumes, notices, writer).await;
        self.signal.sessions().remove(&participant_sid);
        let _ = self.room.send(RoomMsg::Leave {
            pid: self.pid,
            reason,
        });
        self.signal.media.send(Command::Leave { pid: self.pid });
        drop(self);
        if let Some(writer) = writer_done {
            let _ = writer.await;
        }
        tracing::info!("participant left");
    }

    /// Asks the media worker for the participant's peer connections: the
    /// reply (our first offer, if any) and where its notices will come.
    fn join_media(
        &self,
        participant_sid: &ParticipantSid,
        single_pc: bool,
    ) -> (MediaJoined, mpsc::UnboundedReceiver<Notice>) {
        let (notices, notices_rx) = mpsc::unbounded_channel();
        let (reply, joined) = oneshot::channel();
        self.signal.media.send(Command::Join {
            pid: self.pid,
            room: self.claims.video.room.clone(),
            identity: self.claims.sub.clone(),
            participant_sid: participant_sid.clone(),
            can_publish_data: self.claims.video.may_publish_data(),
            single_pc,
            notices,
            tracks: RoomMsg::track_sink(self.room.clone(), self.pid),
            reply,
        });
        (joined, notices_rx)
    }

    /// Relays until the participant leaves, vanishes or is sent away.
    /// Returns the writer if it still has to finish, and why it ended.
    async fn serve(
        &mut self,
        ws_rx: SplitStream<WebSocket>,
        mut resumes: mpsc::UnboundedReceiver<WebSocket>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        mut writer: tokio::task::JoinHandle<()>,
    ) -> (Option<tokio::task::JoinHandle<()>>, &'static str) {
        let timeout = self.signal.participant_timeout;
        let mut ws_rx = Some(ws_rx);
        let mut heard = Instant::now();
        let every = refresh_interval(self.signal.join_token_ttl);
        let mut refresh = tokio::time::interval_at((Instant::now() + every).into(), every);
        let outbox = self.outbox.clone();
        loop {
            tokio::select! {
                msg = next_message(&mut ws_rx) => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        heard = Instant::now();
                        match self.handle_message(&bytes, heard).await {
                            Next::Serve => {}
                            Next::Leave => return (Some(writer), "left"),
                            Next::Abort => {
                                writer.abort();
                                return (None, "flooded");
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        tracing::info!("signal connection lost; waiting up to {timeout:?} for the client to resume");
                        ws_rx = None;
                        heard = Instant::now();
                    }
                    Some(Ok(_)) => heard = Instant::now(),
                },
                socket = resumes.recv() => match socket {
                    Some(socket) => {
                        heard = Instant::now();
                        ws_rx = Some(self.resume(socket).await);
                    }
                    None => return (Some(writer), "left"),
                },
                // It delivered a leave (kick, end, replaced): the session is over.
                _ = &mut writer => {
                    tracing::info!("disconnected by the server");
                    return (None, "removed");
                }
                _ = outbox.overflowed() => {
                    tracing::warn!(queued = self.signal.limits.outbox, "client does not read its signal connection: disconnected");
                    limits::count(Limit::Outbox, 1);
                    writer.abort();
                    return (None, "not_reading");
                }
                _ = refresh.tick() => self.refresh_token(),
                _ = tokio::time::sleep_until((heard + timeout).into()) => {
                    tracing::info!("participant vanished (not heard from for {timeout:?})");
                    return (Some(writer), "timeout");
                }
                notice = notices.recv() => match notice {
                    Some(n) => if !self.handle_notice(n) { return (Some(writer), "media_closed") },
                    None => {
                        tracing::info!("media worker dropped the participant");
                        return (Some(writer), "media_closed");
                    }
                },
            }
        }
    }

    /// Sends the client away before it joined.
    async fn refuse(self, reason: lk::DisconnectReason, writer: tokio::task::JoinHandle<()>) {
        self.outbox
            .send(leave_request(reason, lk::leave_request::Action::Disconnect));
        drop(self);
        let _ = writer.await;
    }

    /// The participant's first message: who it is, the server, and how
    /// often to ping.
    fn join_response(
        &self,
        participant_sid: &ParticipantSid,
        connection: &Connection,
    ) -> lk::JoinResponse {
        let claims = &self.claims;
        let timeout = self.signal.participant_timeout;
        let info = lk::ParticipantInfo {
            sid: participant_sid.to_string(),
            identity: claims.sub.clone(),
            name: claims.name.clone(),
            metadata: claims.metadata.clone(),
            state: lk::participant_info::State::Joined as i32,
            joined_at: unix_ms() / 1000,
            joined_at_ms: unix_ms(),
            version: 1,
            permission: Some(crate::grant::permission(&claims.video)),
            attributes: relayed_from(claims),
            ..Default::default()
        };
        lk::JoinResponse {
            participant: Some(info),
            server_version: SERVER_VERSION.into(),
            server_info: Some(server_info()),
            // With one connection the client offers it at once.
            subscriber_primary: matches!(connection, Connection::Dual),
            // Pings keep a healthy participant well inside its timeout.
            ping_interval: (timeout.as_secs() / 3).clamp(1, PING_INTERVAL) as i32,
            ping_timeout: (timeout.as_secs() / 2).clamp(2, PING_TIMEOUT) as i32,
            ..Default::default()
        }
    }

    /// Handles one binary message from the client, held to its rate.
    async fn handle_message(&mut self, bytes: &[u8], now: Instant) -> Next {
        let req = match lk::SignalRequest::decode(bytes) {
            Ok(req) => req,
            Err(e) => {
                tracing::info!(error = %e, "malformed signal message dropped");
                lk::SignalRequest::default()
            }
        };
        // Negotiation and leaving are never dropped: without
        // them the connection breaks. Everything else counts.
        let vital = matches!(
            req.message,
            Some(In::Offer(_) | In::Answer(_) | In::Leave(_))
        );
        match if vital {
            Verdict::Pass
        } else {
            self.rate.take(now)
        } {
            Verdict::Pass => {}
            Verdict::Drop => {
                self.hit(Limit::Rate, 1, "signal messages over the rate dropped");
                return Next::Serve;
            }
            Verdict::Disconnect => {
                tracing::warn!("client kept flooding its signal connection: disconnected");
                limits::count(Limit::Flood, 1);
                return Next::Abort;
            }
        }
        if self.handle_request(req).await {
            Next::Serve
        } else {
            Next::Leave
        }
    }

    /// Handles one client request; `false` ends the session.
    async fn handle_request(&mut self, req: lk::SignalRequest) -> bool {
        let pid = self.pid;
        match req.message {
            Some(In::Offer(offer)) => self.handle_offer(offer).await,
            // An answer to an offer sent again on resume may arrive twice.
            Some(In::Answer(answer)) if answer.id != 0 && answer.id != self.offer_id => {
                tracing::debug!(id = answer.id, "stale subscriber answer dropped");
            }
            Some(In::Answer(answer)) => self.signal.media.send(Command::SubscriberAnswer {
                pid,
                sdp: answer.sdp,
            }),
            Some(In::AddTrack(add)) => return self.handle_add_track(add).await,
            Some(In::Mute(m)) => {
                let _ = self.room.send(RoomMsg::Mute {
                    pid,
                    track_sid: TrackSid::from(m.sid),
                    muted: m.muted,
                });
            }
            Some(In::TrackSetting(s)) => {
                let want = if s.disabled {
                    Want::Paused
                } else if s.width > 0 && s.height > 0 {
                    Want::Size(s.width, s.height)
                } else {
                    Want::Quality(s.quality.clamp(0, 2) as u8)
                };
                for track_sid in self.bounded_ids(s.track_sids) {
                    self.signal.media.send(Command::Settings {
                        pid,
                        track_sid,
                        want,
                    });
                }
            }
            Some(In::Subscription(s)) => {
                let all = s
                    .track_sids
                    .into_iter()
                    .chain(s.participant_tracks.into_iter().flat_map(|p| p.track_sids));
                let track_sids = self.bounded_ids(all);
                let _ = self.room.send(RoomMsg::Subscription {
                    pid,
                    track_sids,
                    subscribe: s.subscribe,
                });
            }
            Some(In::SubscriptionPermission(rules)) => {
                let _ = self.room.send(RoomMsg::TrackPermissions { pid, rules });
            }
            Some(In::UpdateMetadata(update)) => {
                let _ = self.room.send(RoomMsg::UpdateMetadata { pid, update });
            }
            Some(In::Ping(_)) => self.outbox.send(Out::Pong(unix_ms())),
            Some(In::PingReq(ping)) => self.outbox.send(Out::PongResp(lk::Pong {
                last_ping_timestamp: ping.timestamp,
                timestamp: unix_ms(),
            })),
            Some(In::Leave(_)) => {
                tracing::info!("the client left");
                return false;
            }
            Some(In::Simulate(s)) => return self.simulate(s),
            // Trickle: the SFU is ICE-lite and learns addresses from checks.
            Some(In::Trickle(_)) | Some(_) | None => {}
        }
        true
    }

    /// LiveKit's test hooks that only touch the asking client: a node
    /// failure or a full-reconnect request answer with a `leave` that makes
    /// it reconnect from scratch, a server leave with one that ends it.
    /// The others (speaker, bandwidth, migration…) are ignored.
    fn simulate(&mut self, s: lk::SimulateScenario) -> bool {
        use lk::simulate_scenario::Scenario;
        let action = match s.scenario {
            Some(Scenario::NodeFailure(true) | Scenario::LeaveRequestFullReconnect(true)) => {
                lk::leave_request::Action::Reconnect
            }
            Some(Scenario::ServerLeave(true)) => lk::leave_request::Action::Disconnect,
            other => {
                tracing::debug!(?other, "simulated scenario ignored");
                return true;
            }
        };
        tracing::info!(?action, "simulated scenario: the client is asked to leave");
        self.outbox
            .send(leave_request(lk::DisconnectReason::ServerShutdown, action));
        false
    }

    /// The publisher's offer: the media worker answers it.
    async fn handle_offer(&mut self, offer: lk::SessionDescription) {
        let (reply, answer) = oneshot::channel();
        self.signal.media.send(Command::PublisherOffer {
            pid: self.pid,
            sdp: offer.sdp,
            reply,
        });
        match answer.await {
            Ok(Ok(answer)) => self.outbox.send(Out::Answer(lk::SessionDescription {
                r#type: "answer".into(),
                sdp: answer.sdp,
                id: offer.id,
                mid_to_track_id: answer.mid_to_track,
            })),
            other => tracing::info!(?other, "publisher offer failed"),
        }
    }

    /// `AddTrackRequest`: the room decides; the client hears the track's
    /// info or why not.
    async fn handle_add_track(&mut self, add: lk::AddTrackRequest) -> bool {
        let client_track_id = add.cid.clone();
        let (reply, info) = oneshot::channel();
        let _ = self.room.send(RoomMsg::AddTrack {
            pid: self.pid,
            req: add,
            reply,
        });
        match info.await {
            Ok(Ok(track)) => self
                .outbox
                .send(Out::TrackPublished(lk::TrackPublishedResponse {
                    cid: client_track_id,
                    track: Some(track),
                })),
            Ok(Err(why)) => {
                tracing::info!(%why, "publish refused");
                self.outbox.send(Out::RequestResponse(lk::RequestResponse {
                    reason: lk::request_response::Reason::NotAllowed as i32,
                    message: why.to_string(),
                    ..Default::default()
                }));
            }
            Err(_) => return false,
        }
        true
    }

    /// Counts a limit hit, and logs it the first time for this client.
    fn hit(&mut self, limit: Limit, n: u64, what: &str) {
        limits::count(limit, n);
        if self.logged.first(limit) {
            tracing::warn!(room = %self.claims.video.room, n, "limit hit: {what}");
        }
    }

    /// At most `ids_per_message` distinct track ids of a client's list.
    fn bounded_ids(&mut self, ids: impl IntoIterator<Item = String>) -> Vec<TrackSid> {
        let max = self.signal.limits.ids_per_message;
        let mut seen = BTreeSet::new();
        let mut dropped = 0u64;
        for id in ids {
            if seen.len() < max {
                seen.insert(id);
            } else if !seen.contains(&id) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.hit(
                Limit::Ids,
                dropped,
                "track ids over the per-message limit ignored",
            );
        }
        seen.into_iter().map(TrackSid::from).collect()
    }

    /// Hands the client a join token like its own, valid for another
    /// token lifetime, for resuming later.
    fn refresh_token(&mut self) {
        let Some(key) = self.signal.keys.get(&self.claims.iss) else {
            return;
        };
        let now = onair_auth::clock::unix_secs();
        let claims = JoinClaims {
            exp: now + self.signal.join_token_ttl.as_secs().max(1),
            nbf: now.saturating_sub(10),
            ..self.claims.clone()
        };
        self.outbox.send(Out::RefreshToken(mint(key, &claims)));
    }

    /// Takes over a resuming client's new socket: `ReconnectResponse` first,
    /// then what was queued meanwhile, the room state again and an ICE
    /// restart of the subscriber connection.
    async fn resume(&mut self, socket: WebSocket) -> SplitStream<WebSocket> {
        let (mut tx, rx) = socket.split();
        let reconnect = lk::ReconnectResponse {
            server_info: Some(server_info()),
            ..Default::default()
        };
        if writer::send_now(&mut tx, Out::Reconnect(reconnect)).await {
            let _ = self.sinks.send(tx);
            let _ = self.room.send(RoomMsg::Resync { pid: self.pid });
            self.signal.media.send(Command::Resume { pid: self.pid });
            tracing::info!("participant resumed");
        }
        rx
    }
}

/// The mark of a participant another node's relay publishes here.
fn relayed_from(claims: &JoinClaims) -> std::collections::HashMap<String, String> {
    let relay = claims.onair.as_ref().and_then(|o| o.relay.clone());
    relay
        .map(|node| (crate::room::RELAYED_FROM.to_owned(), node))
        .into_iter()
        .collect()
}
