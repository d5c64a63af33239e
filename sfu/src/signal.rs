//! The `/rtc` WebSocket: LiveKit's client signal protocol (binary protobuf).
//!
//! One task per participant: it verifies the join token, joins the room and
//! the media worker, then relays between the client, its room and the media
//! worker. OnAir speaks the dual peer-connection flavour (`/rtc`): the
//! server offers the subscriber connection, the client offers the
//! publisher one. `livekit-client` tries `/rtc/v1` first; that path answers
//! 404 (and so does its `validate`), which makes the client fall back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
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
/// Seconds between client pings, and before the client gives up.
const PING_INTERVAL: i32 = 5;
const PING_TIMEOUT: i32 = 15;

/// What the signal endpoint needs.
pub struct Signal {
    /// Keys that sign join tokens.
    pub keys: Arc<KeySet>,
    /// Rooms on this SFU.
    pub rooms: Rooms,
    /// The media worker.
    pub media: Media,
}

impl Signal {
    /// The endpoint state.
    pub fn new(keys: Arc<KeySet>, rooms: Rooms, media: Media) -> Arc<Self> {
        Arc::new(Self { keys, rooms, media })
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
    let auto_subscribe = params.get("auto_subscribe").is_none_or(|v| v != "0");
    ws.max_message_size(1 << 20)
        .on_upgrade(move |socket| async move {
            let pid = signal.media.new_pid(&claims.video.room);
            let span = tracing::info_span!("participant", room = %claims.video.room, identity = %claims.sub, pid);
            Session::run(signal, socket, claims, pid, auto_subscribe).instrument(span).await;
        })
}

struct Session {
    signal: Arc<Signal>,
    pid: Pid,
    room: mpsc::UnboundedSender<RoomMsg>,
    out: mpsc::UnboundedSender<Out>,
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
        let (mut ws_tx, mut ws_rx) = socket.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
        // Writer task: everything for the client goes through `out`, in order.
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let leaving = matches!(msg, Out::Leave(_));
                if ws_tx.send(encode(msg)).await.is_err() {
                    break;
                }
                if leaving {
                    let _ = ws_tx.close().await;
                    break;
                }
            }
        });

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
            server_info: Some(lk::ServerInfo {
                version: SERVER_VERSION.into(),
                protocol: PROTOCOL,
                node_id: "onair".into(),
                ..Default::default()
            }),
            subscriber_primary: true,
            ping_interval: PING_INTERVAL,
            ping_timeout: PING_TIMEOUT,
            client_configuration: Some(lk::ClientConfiguration {
                // A dropped connection rejoins from scratch rather than resuming.
                resume_connection: lk::ClientConfigSetting::Disabled as i32,
                ..Default::default()
            }),
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
        let mut session = Session {
            signal,
            pid,
            room,
            out: out_tx,
            offer_id: 0,
        };
        session.send_offer(first_offer, HashMap::new());
        tracing::info!("participant joined");

        let idle = Duration::from_secs(PING_TIMEOUT as u64 * 2);
        loop {
            tokio::select! {
                msg = tokio::time::timeout(idle, ws_rx.next()) => match msg {
                    Ok(Some(Ok(Message::Binary(bytes)))) => {
                        match lk::SignalRequest::decode(bytes.as_ref()) {
                            Ok(req) => if !session.request(req).await { break },
                            Err(e) => tracing::info!(error = %e, "malformed signal message dropped"),
                        }
                    }
                    Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
                    Ok(Some(Ok(_))) => {}
                    Err(_) => {
                        tracing::info!("participant vanished (no message for {idle:?})");
                        break;
                    }
                },
                notice = notices.recv() => match notice {
                    Some(n) => if !session.notice(n) { break },
                    None => break,
                },
            }
        }
        let _ = session.room.send(RoomMsg::Leave { pid: session.pid });
        session
            .signal
            .media
            .send(Command::Leave { pid: session.pid });
        drop(session);
        let _ = writer.await;
        tracing::info!("participant left");
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
            Some(In::Leave(_)) => return false,
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
