//! A Dart client's media session against `onair dev`: join, publish the
//! microphone then the camera in the order `livekit_client` does it
//! (`AddTrackRequest` → `TrackPublishedResponse` → publisher offer, one
//! track at a time: lib/src/participant/local.dart), a second Dart client
//! subscribing by hand (`auto_subscribe=0`, adaptive stream), pings, a
//! mute, a resume after the first join token expired, and a leave.

use std::time::{Duration, Instant};

use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use onair_client::files::{ivf, ogg_opus};

use super::dart_rtc::{self, DartSignal, Options, Resume};
use super::peer::{Peer, Track};
use super::support::call::{media, Call};
use super::{answer_offer, joined, now_ms, WAIT};

/// A Dart client: its signal connection and both peer connections.
struct Dart {
    signal: DartSignal,
    token: String,
    url: String,
    options: Options,
    sid: String,
    /// How often the Dart client pings (the join response's `ping_interval`).
    ping_every: Duration,
    publisher: Peer,
    subscriber: Peer,
    /// The last subscriber offer and our answer (for `SyncState`).
    last_offer: lk::SessionDescription,
    last_answer: String,
}

impl Dart {
    async fn join(call: &Call, user: &str, cid: &str, options: Options) -> Dart {
        let creds = call.credentials(user, cid).await;
        let mut signal = dart_rtc::connect(&creds.url, &creds.token, &options, None)
            .await
            .unwrap();
        let join = joined(&mut signal).await;
        let subscriber = Peer::new().await;
        let (last_offer, last_answer) = answer_offer(&mut signal, &subscriber).await;
        Dart {
            signal,
            token: creds.token,
            url: creds.url,
            options,
            sid: join.participant.unwrap().sid,
            ping_every: Duration::from_secs(join.ping_interval.max(1) as u64),
            publisher: Peer::new().await,
            subscriber,
            last_offer,
            last_answer,
        }
    }

    /// One `_sendPing`.
    async fn ping(&mut self) {
        for ping in dart_rtc::pings(now_ms(), 0) {
            self.signal.send(ping).await;
        }
    }

    /// Lets `wait` pass pinging as `SignalClient._startPingInterval` does
    /// (a silent client is removed after the participant timeout).
    async fn keep_alive_for(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            self.ping().await;
            tokio::time::sleep(
                self.ping_every
                    .min(until.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }

    /// `publishAudioTrack` / `publishVideoTrack`: `AddTrackRequest`, wait
    /// for `TrackPublishedResponse`, then the publisher offer; the track.
    async fn publish(&mut self, add: lk::AddTrackRequest, track: Track) -> lk::TrackInfo {
        let cid = add.cid.clone();
        self.signal.send(In::AddTrack(add)).await;
        let published = self
            .signal
            .find(WAIT, |m| match m {
                Out::TrackPublished(p) => Some(p.clone()),
                Out::Offer(_) | Out::Answer(_) => {
                    panic!("negotiation before the track was published: {m:?}")
                }
                _ => None,
            })
            .await
            .unwrap_or_else(|| panic!("no TrackPublishedResponse; got {:?}", self.signal.log));
        assert_eq!(published.cid, cid, "the response names the Dart track id");
        let offer = self.publisher.offer_with(track);
        self.signal
            .send(In::Offer(dart_rtc::description("offer", offer)))
            .await;
        let answer = self
            .signal
            .find(WAIT, |m| match m {
                Out::Answer(a) => Some(a.clone()),
                _ => None,
            })
            .await
            .expect("no answer to the publisher offer");
        assert_eq!(
            (answer.r#type.as_str(), answer.id),
            ("answer", 0),
            "echoes Dart's offer id (none)"
        );
        self.publisher.accept_answer(&answer.sdp);
        published.track.unwrap()
    }
}

/// Dart's microphone `AddTrackRequest` (local.dart `_publishAudioTrack`
/// with `AudioPublishOptions()`: dtx on, red on, no stream, no encryption,
/// no audio features).
fn microphone(cid: &str) -> lk::AddTrackRequest {
    lk::AddTrackRequest {
        cid: cid.into(),
        name: "microphone".into(),
        r#type: lk::TrackType::Audio as i32,
        source: lk::TrackSource::Microphone as i32,
        muted: false,
        // `disableDtx: !dtx` is false (left out on the wire, as protobuf
        // leaves out defaults); `disableRed: red ?? true` is true.
        disable_red: true,
        encryption: lk::encryption::Type::None as i32,
        ..Default::default()
    }
}

/// Dart's camera `AddTrackRequest` (local.dart `publishVideoTrack`, a
/// 1280x720 capture in simulcast: `simulcast_codecs` [vp8], layers q/h/f
/// from `Utils.computeVideoLayers`).
fn camera(cid: &str) -> lk::AddTrackRequest {
    let layer = |quality: lk::VideoQuality, width, height, bitrate| lk::VideoLayer {
        quality: quality as i32,
        width,
        height,
        bitrate,
        ..Default::default()
    };
    lk::AddTrackRequest {
        cid: cid.into(),
        name: "camera".into(),
        r#type: lk::TrackType::Video as i32,
        source: lk::TrackSource::Camera as i32,
        encryption: lk::encryption::Type::None as i32,
        simulcast_codecs: vec![lk::SimulcastCodec {
            codec: "vp8".into(),
            cid: cid.into(),
            ..Default::default()
        }],
        width: 1280,
        height: 720,
        layers: vec![
            layer(lk::VideoQuality::Low, 320, 180, 160_000),
            layer(lk::VideoQuality::Medium, 640, 360, 450_000),
            layer(lk::VideoQuality::High, 1280, 720, 1_700_000),
        ],
        ..Default::default()
    }
}

fn tracks(mic: &str, cam: &str) -> (Track, Track) {
    let dir = media();
    let mic = Track {
        video: false,
        cid: mic.into(),
        layers: vec![(None, ogg_opus(&dir.join("tone.ogg")).unwrap())],
    };
    let cam = Track {
        video: true,
        cid: cam.into(),
        layers: [("q", 320, 180), ("h", 640, 360), ("f", 1280, 720)]
            .map(|(rid, w, _)| (Some(rid), ivf(&dir.join(format!("{w}.ivf"))).unwrap()))
            .to_vec(),
    };
    (mic, cam)
}

/// Packets alice's camera brought `rusty` (the Rust subscriber) so far.
fn camera_packets(client: &onair_client::Client, from: &str) -> u64 {
    camera_packets_of(&client.stats(), from)
}

fn camera_packets_of(s: &onair_client::Stats, from: &str) -> u64 {
    s.tracks
        .values()
        .filter(|t| t.kind == "video" && t.identity == from)
        .map(|t| t.packets)
        .sum()
}

pub async fn publish_subscribe_resume_leave() {
    // The media files first (ffmpeg, once per test process): a client
    // silent meanwhile would time out.
    tokio::task::spawn_blocking(media).await.unwrap();
    let call = Call::start_with(&["--join-token-ttl", "10s"]);
    let cid = "default:dart-media";
    let rusty = call.join("rusty", cid).await;
    let mut alice = Dart::join(&call, "alice", cid, Options::default()).await;
    let joined_at = Instant::now();
    // flutter_webrtc trickles its candidates; the ICE-lite SFU ignores them.
    alice
        .signal
        .send(dart_rtc::trickle(
            "candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host",
            lk::SignalTarget::Subscriber,
        ))
        .await;

    let (mic_track, cam_track) = tracks("d7b1e6c2-mic", "f3a9c0d4-cam");
    let mic = alice.publish(microphone("d7b1e6c2-mic"), mic_track).await;
    assert_eq!(
        (mic.r#type, mic.source),
        (
            lk::TrackType::Audio as i32,
            lk::TrackSource::Microphone as i32
        )
    );
    let cam = alice.publish(camera("f3a9c0d4-cam"), cam_track).await;
    assert_eq!(
        (cam.r#type, cam.source),
        (lk::TrackType::Video as i32, lk::TrackSource::Camera as i32)
    );
    let order: Vec<&str> = alice
        .signal
        .log
        .iter()
        .map(String::as_str)
        .filter(|k| matches!(*k, "Join" | "Offer" | "Answer" | "TrackPublished"))
        .collect();
    assert_eq!(
        order,
        [
            "Join",
            "Offer",
            "TrackPublished",
            "Answer",
            "TrackPublished",
            "Answer"
        ],
        "{:?}",
        alice.signal.log
    );

    rusty
        .wait_for(WAIT, |s| {
            s.tracks
                .values()
                .filter(|t| t.identity == "alice" && t.packets > 20)
                .count()
                == 2
        })
        .await
        .unwrap_or_else(|s| panic!("rusty never got alice's audio and video: {s:?}"));

    subscribe_by_hand(&call, cid, &mut alice, &cam, &mic).await;
    resume_with_fresh_token(
        &mut alice,
        &rusty,
        &[("d7b1e6c2-mic", &mic), ("f3a9c0d4-cam", &cam)],
        joined_at,
    )
    .await;

    // sendLeave: gone at once, not after the 30 s timeout.
    alice.signal.send(dart_rtc::leave()).await;
    assert!(
        alice.signal.closed_within(Duration::from_secs(5)).await,
        "the server kept the socket"
    );
    let left = Instant::now();
    rusty
        .wait_for(Duration::from_secs(10), |s| {
            !s.participants.contains_key("alice")
        })
        .await
        .unwrap_or_else(|s| panic!("alice stayed: {s:?}"));
    assert!(left.elapsed() < Duration::from_secs(10));
}

/// carol: `auto_subscribe=0`, `adaptive_stream=1`. She gets no media until
/// she subscribes as a RemoteTrackPublication does; her (invisible) widget
/// pauses it; alice's mute reaches her.
async fn subscribe_by_hand(
    call: &Call,
    cid: &str,
    alice: &mut Dart,
    cam: &lk::TrackInfo,
    mic: &lk::TrackInfo,
) {
    let options = Options {
        auto_subscribe: false,
        adaptive_stream: true,
        ..Options::default()
    };
    let mut carol = Dart::join(call, "carol", cid, options).await;
    let url = dart_rtc::build_uri(&carol.url, &carol.token, &carol.options, None, false);
    assert!(url.contains("auto_subscribe=0&adaptive_stream=1"), "{url}");
    assert!(
        !carol
            .subscriber
            .receives(0, 1, Duration::from_secs(2))
            .await,
        "media without a subscription"
    );

    carol
        .signal
        .send(dart_rtc::subscription(&alice.sid, &cam.sid, true))
        .await;
    (carol.last_offer, carol.last_answer) =
        answer_offer(&mut carol.signal, &carol.subscriber).await;
    assert!(
        carol.last_offer.sdp.contains("m=video"),
        "{}",
        carol.last_offer.sdp
    );
    carol
        .signal
        .send(dart_rtc::track_settings(&cam.sid, false, Some((640, 360))))
        .await;
    assert!(
        carol.subscriber.receives(0, 30, WAIT).await,
        "no video after subscribing: {:?}",
        carol.signal.log
    );
    assert_eq!(
        carol.subscriber.received_by_mid().len(),
        1,
        "only the camera"
    );

    // Adaptive stream: the widget is off screen.
    carol
        .signal
        .send(dart_rtc::track_settings(&cam.sid, true, Some((640, 360))))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let paused = carol.subscriber.received();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        carol.subscriber.received() <= paused + 2,
        "still sending to a hidden widget"
    );
    carol
        .signal
        .send(dart_rtc::track_settings(&cam.sid, false, Some((320, 180))))
        .await;
    assert!(
        carol.subscriber.receives(paused, 20, WAIT).await,
        "not resumed"
    );

    alice.ping().await;
    // sendMuteTrack: carol hears alice's microphone muted.
    alice
        .signal
        .send(In::Mute(lk::MuteTrackRequest {
            sid: mic.sid.clone(),
            muted: true,
        }))
        .await;
    let muted = carol
        .signal
        .find(WAIT, |m| match m {
            Out::Update(u) => u
                .participants
                .iter()
                .any(|p| {
                    p.identity == "alice" && p.tracks.iter().any(|t| t.sid == mic.sid && t.muted)
                })
                .then_some(()),
            _ => None,
        })
        .await;
    assert!(muted.is_some(), "{:?}", carol.signal.log);
}

/// The phone's network drops after the join token expired; Dart resumes
/// with the token the server refreshed (engine.dart keeps it from
/// `SignalTokenUpdatedEvent`), then `Room._sendSyncState`,
/// `resumeConnection`'s publisher ICE restart and the track subscription
/// permissions sent again on `EngineResumedEvent`.
async fn resume_with_fresh_token(
    alice: &mut Dart,
    rusty: &onair_client::Client,
    published: &[(&str, &lk::TrackInfo)],
    joined_at: Instant,
) {
    alice
        .keep_alive_for(Duration::from_secs(12).saturating_sub(joined_at.elapsed()))
        .await;
    // The latest token the server handed out, as the engine keeps it.
    let mut fresh = None;
    while let Some(msg) = alice.signal.next(Duration::from_millis(500)).await {
        if let Out::RefreshToken(t) = msg {
            fresh = Some(t);
        }
    }
    let fresh = fresh.expect("no refresh_token");
    let (status, body) = dart_rtc::connect(&alice.url, &alice.token, &alice.options, None)
        .await
        .err()
        .expect("the first token still opens /rtc");
    assert_eq!(status, 401, "{body}");
    assert_eq!(rusty.stats().participants.get("alice"), Some(&alice.sid));
    let before = camera_packets(rusty, "alice");

    let resume = Resume {
        sid: &alice.sid,
        reason: Some(lk::ReconnectReason::RrSignalDisconnected),
    };
    let url = dart_rtc::build_uri(&alice.url, &fresh, &alice.options, Some(&resume), false);
    assert!(
        url.contains(&format!(
            "&reconnect=1&reconnect_reason=1&sid={}&protocol=16",
            alice.sid
        )),
        "{url}"
    );
    alice.signal.sever().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.signal = dart_rtc::connect(&alice.url, &fresh, &alice.options, Some(&resume))
        .await
        .unwrap();
    match alice.signal.next(WAIT).await {
        Some(Out::Reconnect(_)) => {}
        other => panic!("a resume is answered with ReconnectResponse first, not {other:?}"),
    }
    alice
        .signal
        .send(In::SyncState(sync_state(alice, published)))
        .await;
    let offer = alice.publisher.ice_restart_offer();
    alice
        .signal
        .send(In::Offer(dart_rtc::description("offer", offer)))
        .await;
    let (mut answered, mut restarted) = (false, false);
    while !(answered && restarted) {
        match alice.signal.next(WAIT).await {
            Some(Out::Answer(a)) => {
                alice.publisher.accept_answer(&a.sdp);
                answered = true;
            }
            Some(Out::Offer(o)) => {
                let answer = alice.subscriber.answer(&o.sdp);
                alice
                    .signal
                    .send(In::Answer(dart_rtc::description("answer", answer)))
                    .await;
                restarted = true;
            }
            Some(_) => {}
            None => panic!(
                "resume stalled: answered {answered}, subscriber restarted {restarted}: {:?}",
                alice.signal.log
            ),
        }
    }
    let all = lk::SubscriptionPermission {
        all_participants: true,
        track_permissions: Vec::new(),
    };
    alice.signal.send(In::SubscriptionPermission(all)).await;

    // The same participant, never gone for rusty; media goes on.
    rusty
        .wait_for(WAIT, |s| {
            s.participants.get("alice") == Some(&alice.sid)
                && camera_packets_of(s, "alice") > before + 60
        })
        .await
        .unwrap_or_else(|s| panic!("alice's camera stopped after the resume: {s:?}"));
    let sent = now_ms();
    for ping in dart_rtc::pings(sent, 12) {
        alice.signal.send(ping).await;
    }
    let pong = alice.signal.find(WAIT, |m| match m {
        Out::PongResp(p) => Some(p.last_ping_timestamp),
        _ => None,
    });
    assert_eq!(pong.await, Some(sent));
}

/// `Room._sendSyncState` / `Engine.sendSyncState` after a resume.
fn sync_state(alice: &Dart, published: &[(&str, &lk::TrackInfo)]) -> lk::SyncState {
    let channel = |label: &str, id| lk::DataChannelInfo {
        label: label.into(),
        id,
        target: lk::SignalTarget::Publisher as i32,
    };
    lk::SyncState {
        answer: Some(dart_rtc::description("answer", alice.last_answer.clone())),
        offer: Some(dart_rtc::description("offer", alice.last_offer.sdp.clone())),
        subscription: Some(lk::UpdateSubscription {
            track_sids: Vec::new(),
            subscribe: !alice.options.auto_subscribe,
            participant_tracks: Vec::new(),
        }),
        publish_tracks: published
            .iter()
            .map(|(cid, info)| lk::TrackPublishedResponse {
                cid: cid.to_string(),
                track: Some((*info).clone()),
            })
            .collect(),
        data_channels: vec![channel("_lossy", 1), channel("_reliable", 2)],
        ..Default::default()
    }
}
