//! The `/rtc` WebSocket: LiveKit's client signal protocol (binary protobuf).
//!
//! One task per participant: it verifies the join token, joins the room and
//! the media worker, then relays between the client, its room and the media
//! worker. OnAir speaks the dual peer-connection flavour (`/rtc`): the
//! server offers the subscriber connection, the client offers the
//! publisher one. `livekit-client` tries `/rtc/v1` first; that path answers
//! 404 (and so does its `validate`), which makes the client fall back.
//!
//! A participant outlives its WebSocket: a client that lost it (a network
//! change, a sleeping laptop) comes back with `reconnect=1&sid=PA_…` within
//! the participant timeout and resumes — the session gets the new socket,
//! answers `ReconnectResponse`, sends the room state again and restarts
//! ICE, while its tracks and subscriptions stay as they were. A participant
//! not heard from for the timeout is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use onair_auth::token::verify_join;
use onair_auth::{JoinClaims, KeySet};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::media::{Command, Media, Notice, Pid, Want};
use crate::room::{leave_request, RoomMsg, Rooms};
use crate::unix_ms;

/// Version we report; livekit-client needs ≥ 1.8 for RPC.
const SERVER_VERSION: &str = "1.9.0";
/// Protocol we implement.
const PROTOCOL: i32 = 16;
/// Seconds between client pings, and before the client gives up (at
/// most; shorter when the participant timeout is short).
const PING_INTERVAL: u64 = 5;
const PING_TIMEOUT: u64 = 15;
/// A write to the client that takes longer means its connection is dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the signal endpoint needs.
pub struct Signal {
    /// Keys that sign join tokens.
    pub keys: Arc<KeySet>,
    /// Rooms on this SFU.
    pub rooms: Rooms,
    /// The media worker.
    pub media: Media,
    /// How long a participant not heard from (silent, or its connection
    /// lost and not resumed) stays in its room.
    pub participant_timeout: Duration,
    /// Sessions a client may resume, by participant sid.
    sessions: Mutex<HashMap<String, Resumable>>,
}

/// Where a resuming client's new socket goes.
struct Resumable {
    identity: String,
    room: String,
    sockets: mpsc::UnboundedSender<WebSocket>,
}

impl Signal {
    /// The endpoint state.
    pub fn new(
        keys: Arc<KeySet>,
        rooms: Rooms,
        media: Media,
        participant_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            keys,
            rooms,
            media,
            participant_timeout,
            sessions: Mutex::default(),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resumable>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session `sid` if the token's user in the token's room owns it.
    fn resumable(
        &self,
        sid: &str,
        claims: &JoinClaims,
    ) -> Option<mpsc::UnboundedSender<WebSocket>> {
        self.sessions()
            .get(sid)
            .filter(|r| r.identity == claims.sub && r.room == claims.video.room)
            .map(|r| r.sockets.clone())
    }
}

/// `/rtc`, `/rtc/validate`, and the refused `/rtc/v1` paths.
pub fn router(signal: Arc<Signal>) -> Router {
    Router::new()
        .route("/rtc", get(rtc))
        .route("/rtc/validate", get(validate))
        .route("/rtc/v1", get(v1_not_supported))
        .route("/rtc/v1/validate", get(v1_not_supported))
        .with_state(signal)
}

type Params = Query<HashMap<String, String>>;

fn token<'a>(params: &'a HashMap<String, String>, headers: &'a HeaderMap) -> Option<&'a str> {
    params.get("access_token").map(String::as_str).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
    })
}

/// The verified join token, or the refusal text (answered as 401).
fn verify(
    signal: &Signal,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<JoinClaims, String> {
    let Some(token) = token(params, headers) else {
        return Err("missing_token: pass access_token".into());
    };
    verify_join(token, &signal.keys, (unix_ms() / 1000) as u64).map_err(|e| {
        tracing::info!(reason = e.code(), "join token refused");
        format!("{}: {e}", e.code())
    })
}

fn refuse(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        text.to_owned(),
    )
        .into_response()
}

async fn validate(
    State(signal): State<Arc<Signal>>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    match verify(&signal, &params, &headers) {
        Ok(_) => (
            StatusCode::OK,
            [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
            "success",
        )
            .into_response(),
        Err(why) => refuse(StatusCode::UNAUTHORIZED, &why),
    }
}

/// livekit-client's single-PC path is not offered; a 404 here (and from its
/// validate) makes the client retry on `/rtc`.
async fn v1_not_supported() -> Response {
    refuse(StatusCode::NOT_FOUND, "this server speaks /rtc")
}

async fn rtc(
    State(signal): State<Arc<Signal>>,
    Query(params): Params,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let claims = match verify(&signal, &params, &headers) {
        Ok(c) => c,
        Err(why) => return refuse(StatusCode::UNAUTHORIZED, &why),
    };
    let ws = ws.max_message_size(1 << 20);
    if params.get("reconnect").is_some_and(|v| v == "1") {
        let sid = params.get("sid").map_or("", String::as_str);
        let session = signal.resumable(sid, &claims);
        if session.is_none() {
            tracing::info!(sid, identity = %claims.sub, "resume of an unknown session: the client must rejoin");
        }
        return ws.on_upgrade(move |socket| async move {
            match session {
                Some(session) => {
                    if let Err(e) = session.send(socket) {
                        refuse_resume(e.0).await;
                    }
                }
                None => refuse_resume(socket).await,
            }
        });
    }
    let auto_subscribe = params.get("auto_subscribe").is_none_or(|v| v != "0");
    ws
        .on_upgrade(move |socket| async move {
            let pid = signal.media.new_pid(&claims.video.room);
            let span = tracing::info_span!("participant", room = %claims.video.room, identity = %claims.sub, pid);
            Session::run(signal, socket, claims, pid, auto_subscribe).instrument(span).await;
        })
}

/// Tells a client whose session is gone to join again from scratch.
async fn refuse_resume(mut socket: WebSocket) {
    let leave = leave_request(
        lk::DisconnectReason::StateMismatch,
        lk::leave_request::Action::Reconnect,
    );
    let _ = socket.send(encode(leave)).await;
    let _ = socket.close().await;
}

type Sink = SplitSink<WebSocket, Message>;

/// Writes everything for the client, in order, to its current socket. A
/// socket that fails is dropped; messages wait for the resumed one.
async fn writer(mut out: mpsc::UnboundedReceiver<Out>, mut sinks: mpsc::UnboundedReceiver<Sink>) {
    let mut sink: Option<Sink> = None;
    loop {
        tokio::select! {
            biased;
            new = sinks.recv() => match new {
                Some(new) => sink = Some(new),
                None => return,
            },
            msg = out.recv(), if sink.is_some() => {
                let (Some(msg), Some(s)) = (msg, sink.as_mut()) else {
                    return;
                };
                let leaving = matches!(msg, Out::Leave(_));
                match tokio::time::timeout(WRITE_TIMEOUT, s.send(encode(msg))).await {
                    Ok(Ok(())) => {}
                    _ => {
                        sink = None;
                        continue;
                    }
                }
                if leaving {
                    let _ = s.close().await;
                    return;
                }
            }
        }
    }
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

fn server_info() -> lk::ServerInfo {
    lk::ServerInfo {
        version: SERVER_VERSION.into(),
        protocol: PROTOCOL,
        node_id: "onair".into(),
        ..Default::default()
    }
}

struct Session {
    signal: Arc<Signal>,
    pid: Pid,
    room: mpsc::UnboundedSender<RoomMsg>,
    out: mpsc::UnboundedSender<Out>,
    /// The writer's socket, replaced on resume.
    sinks: mpsc::UnboundedSender<Sink>,
    offer_id: u32,
}

#[allow(deprecated)] // `recorder` is how LiveKit grants mark egress participants
fn permission(claims: &JoinClaims) -> lk::ParticipantPermission {
    let g = &claims.video;
    let sources = g
        .can_publish_sources
        .iter()
        .filter_map(|s| match s.as_str() {
            "camera" => Some(lk::TrackSource::Camera as i32),
            "microphone" => Some(lk::TrackSource::Microphone as i32),
            "screen_share" => Some(lk::TrackSource::ScreenShare as i32),
            "screen_share_audio" => Some(lk::TrackSource::ScreenShareAudio as i32),
            _ => None,
        })
        .collect();
    lk::ParticipantPermission {
        can_subscribe: g.may_subscribe(),
        can_publish: g.may_publish(),
        can_publish_data: g.may_publish_data(),
        can_publish_sources: sources,
        hidden: g.hidden.unwrap_or(false),
        recorder: g.recorder.unwrap_or(false),
        ..Default::default()
    }
}

fn encode(msg: Out) -> Message {
    let response = lk::SignalResponse { message: Some(msg) };
    Message::Binary(response.encode_to_vec().into())
}

impl Session {
    async fn run(
        signal: Arc<Signal>,
        socket: WebSocket,
        claims: JoinClaims,
        pid: Pid,
        auto_subscribe: bool,
    ) {
        let (ws_tx, ws_rx) = socket.split();
        let (out_tx, out_rx) = mpsc::unbounded_channel::<Out>();
        let (sinks, sinks_rx) = mpsc::unbounded_channel();
        let _ = sinks.send(ws_tx);
        let mut writer = tokio::spawn(writer(out_rx, sinks_rx));

        let timeout = signal.participant_timeout;
        let backstage = claims.onair.as_ref().is_some_and(|o| o.backstage);
        let room = signal.rooms.get_or_start(&claims.video.room, backstage);
        let sid = format!("PA_{}", crate::ids::random(12));
        let info = lk::ParticipantInfo {
            sid: sid.clone(),
            identity: claims.sub.clone(),
            name: claims.name.clone(),
            metadata: claims.metadata.clone(),
            state: lk::participant_info::State::Joined as i32,
            joined_at: unix_ms() / 1000,
            joined_at_ms: unix_ms(),
            version: 1,
            permission: Some(permission(&claims)),
            ..Default::default()
        };
        let (notice_tx, mut notices) = mpsc::unbounded_channel();
        let (reply, offer) = oneshot::channel();
        signal.media.send(Command::Join {
            pid,
            room: claims.video.room.clone(),
            identity: claims.sub.clone(),
            sid: sid.clone(),
            can_publish_data: claims.video.may_publish_data(),
            notices: notice_tx,
            reply,
        });
        let first_offer = match offer.await {
            Ok(Ok(sdp)) => sdp,
            other => {
                tracing::warn!(?other, "media join failed");
                let _ = out_tx.send(leave_request(
                    lk::DisconnectReason::JoinFailure,
                    lk::leave_request::Action::Disconnect,
                ));
                let _ = writer.await;
                return;
            }
        };
        let join = lk::JoinResponse {
            participant: Some(info),
            server_version: SERVER_VERSION.into(),
            server_info: Some(server_info()),
            subscriber_primary: true,
            // Pings keep a healthy participant well inside its timeout.
            ping_interval: (timeout.as_secs() / 3).clamp(1, PING_INTERVAL) as i32,
            ping_timeout: (timeout.as_secs() / 2).clamp(2, PING_TIMEOUT) as i32,
            ..Default::default()
        };
        let (reply, joined) = oneshot::channel();
        let _ = room.send(RoomMsg::Join {
            pid,
            join: Box::new(join),
            auto_subscribe,
            out: out_tx.clone(),
            reply,
        });
        if joined.await.is_err() {
            signal.media.send(Command::Leave { pid });
            return;
        }
        let (resume_tx, mut resumes) = mpsc::unbounded_channel();
        signal.sessions().insert(
            sid.clone(),
            Resumable {
                identity: claims.sub.clone(),
                room: claims.video.room.clone(),
                sockets: resume_tx,
            },
        );
        let mut session = Session {
            signal,
            pid,
            room,
            out: out_tx,
            sinks,
            offer_id: 0,
        };
        session.send_offer(first_offer, HashMap::new());
        tracing::info!("participant joined");

        let mut ws_rx = Some(ws_rx);
        let mut heard = Instant::now();
        let mut writer_done = false;
        loop {
            tokio::select! {
                msg = next_message(&mut ws_rx) => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        heard = Instant::now();
                        match lk::SignalRequest::decode(bytes.as_ref()) {
                            Ok(req) => if !session.request(req).await { break },
                            Err(e) => tracing::info!(error = %e, "malformed signal message dropped"),
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
                        ws_rx = Some(session.resume(socket).await);
                    }
                    None => break,
                },
                // It delivered a leave (kick, end, replaced): the session is over.
                _ = &mut writer => {
                    tracing::info!("disconnected by the server");
                    writer_done = true;
                    break;
                }
                _ = tokio::time::sleep_until((heard + timeout).into()) => {
                    tracing::info!("participant vanished (not heard from for {timeout:?})");
                    break;
                }
                notice = notices.recv() => match notice {
                    Some(n) => if !session.notice(n) { break },
                    None => {
                        tracing::info!("media worker dropped the participant");
                        break;
                    }
                },
            }
        }
        session.signal.sessions().remove(&sid);
        let _ = session.room.send(RoomMsg::Leave { pid: session.pid });
        session
            .signal
            .media
            .send(Command::Leave { pid: session.pid });
        drop(session);
        if !writer_done {
            let _ = writer.await;
        }
        tracing::info!("participant left");
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
        let sent = tokio::time::timeout(WRITE_TIMEOUT, tx.send(encode(Out::Reconnect(reconnect))));
        if matches!(sent.await, Ok(Ok(()))) {
            let _ = self.sinks.send(tx);
            let _ = self.room.send(RoomMsg::Resync { pid: self.pid });
            self.signal.media.send(Command::Resume { pid: self.pid });
            tracing::info!("participant resumed");
        }
        rx
    }

    fn send_offer(&mut self, sdp: String, mid_to_track_id: HashMap<String, String>) {
        self.offer_id += 1;
        let _ = self.out.send(Out::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: self.offer_id,
            mid_to_track_id,
        }));
    }

    /// Handles one client request; `false` ends the session.
    async fn request(&mut self, req: lk::SignalRequest) -> bool {
        let pid = self.pid;
        match req.message {
            Some(In::Offer(offer)) => {
                let (reply, answer) = oneshot::channel();
                self.signal.media.send(Command::PublisherOffer {
                    pid,
                    sdp: offer.sdp,
                    reply,
                });
                match answer.await {
                    Ok(Ok(sdp)) => {
                        let _ = self.out.send(Out::Answer(lk::SessionDescription {
                            r#type: "answer".into(),
                            sdp,
                            id: offer.id,
                            mid_to_track_id: HashMap::new(),
                        }));
                    }
                    other => tracing::info!(?other, "publisher offer failed"),
                }
            }
            // An answer to an offer sent again on resume may arrive twice.
            Some(In::Answer(answer)) if answer.id != 0 && answer.id != self.offer_id => {
                tracing::debug!(id = answer.id, "stale subscriber answer dropped");
            }
            Some(In::Answer(answer)) => self.signal.media.send(Command::SubscriberAnswer {
                pid,
                sdp: answer.sdp,
            }),
            Some(In::AddTrack(add)) => {
                let cid = add.cid.clone();
                let (reply, info) = oneshot::channel();
                let _ = self.room.send(RoomMsg::AddTrack {
                    pid,
                    req: add,
                    reply,
                });
                match info.await {
                    Ok(Ok(track)) => {
                        let _ = self
                            .out
                            .send(Out::TrackPublished(lk::TrackPublishedResponse {
                                cid,
                                track: Some(track),
                            }));
                    }
                    Ok(Err(why)) => {
                        tracing::info!(why, "publish refused");
                        let _ = self.out.send(Out::RequestResponse(lk::RequestResponse {
                            reason: lk::request_response::Reason::NotAllowed as i32,
                            message: why,
                            ..Default::default()
                        }));
                    }
                    Err(_) => return false,
                }
            }
            Some(In::Mute(m)) => {
                let _ = self.room.send(RoomMsg::Mute {
                    pid,
                    sid: m.sid,
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
                for sid in s.track_sids {
                    self.signal.media.send(Command::Settings { pid, sid, want });
                }
            }
            Some(In::Subscription(s)) => {
                let mut sids = s.track_sids;
                sids.extend(s.participant_tracks.into_iter().flat_map(|p| p.track_sids));
                let _ = self.room.send(RoomMsg::Subscription {
                    pid,
                    sids,
                    subscribe: s.subscribe,
                });
            }
            Some(In::Ping(_)) => {
                let _ = self.out.send(Out::Pong(unix_ms()));
            }
            Some(In::PingReq(ping)) => {
                let _ = self.out.send(Out::PongResp(lk::Pong {
                    last_ping_timestamp: ping.timestamp,
                    timestamp: unix_ms(),
                }));
            }
            Some(In::Leave(_)) => {
                tracing::info!("the client left");
                return false;
            }
            // Trickle: the SFU is ICE-lite and learns addresses from checks.
            Some(In::Trickle(_)) | Some(_) | None => {}
        }
        true
    }

    /// Handles a media worker notice; `false` ends the session.
    fn notice(&mut self, notice: Notice) -> bool {
        match notice {
            Notice::SubscriberOffer { sdp, mid_to_track } => self.send_offer(sdp, mid_to_track),
            Notice::TrackLive { sid, mid, mime } => {
                let _ = self.room.send(RoomMsg::TrackLive {
                    pid: self.pid,
                    sid,
                    mid,
                    mime,
                });
            }
            Notice::TrackEnded { sid } => {
                let _ = self.room.send(RoomMsg::TrackEnded { pid: self.pid, sid });
            }
            Notice::Speakers(levels) => {
                let speakers = levels
                    .into_iter()
                    .map(|(sid, level, active)| lk::SpeakerInfo { sid, level, active })
                    .collect();
                let _ = self
                    .out
                    .send(Out::SpeakersChanged(lk::SpeakersChanged { speakers }));
            }
            Notice::Closed { reason } => {
                tracing::info!(reason, "media closed");
                let _ = self.out.send(leave_request(
                    lk::DisconnectReason::StateMismatch,
                    lk::leave_request::Action::Reconnect,
                ));
                return false;
            }
        }
        true
    }
}
