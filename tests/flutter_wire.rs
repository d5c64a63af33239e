//! The wire of the Flutter SDK, against a real `onair dev`: exactly what
//! `livekit_client` 2.11 (Dart) sends at `/rtc` (see `flutter_wire/
//! dart_rtc.rs` for each fact and the Dart source it comes from), with
//! real media from a str0m peer standing in for flutter_webrtc
//! (`flutter_wire/peer.rs`), and every REST request and events-socket
//! exchange of `onair_flutter` (`sdk-clients/flutter`), read from the
//! fixture its own Dart tests hold it to (`flutter_wire/wire.rs`).
//!
//! Where Dart and livekit-client JS differ on the wire, this covers the
//! Dart side: the join token only in `Authorization: Bearer` (JS puts it
//! in the query), `sdk=flutter` and its `version`/`network`/`os`/
//! `os_version`/`device_model`, no `/rtc/v1` attempt, `dart:io`'s
//! compression offer, offers and answers without ids, `ping` and
//! `pingReq` sent together, subscriptions naming the track twice, and a
//! resume with `reconnect_reason`, the refreshed token in the header,
//! `SyncState`, a publisher ICE restart and the subscription permissions
//! sent again.

mod support;

#[path = "flutter_wire/dart_rtc.rs"]
mod dart_rtc;
#[path = "flutter_wire/media.rs"]
mod media;
#[path = "flutter_wire/peer.rs"]
mod peer;
#[path = "flutter_wire/scenario.rs"]
mod scenario;
#[path = "flutter_wire/wire.rs"]
mod wire;

use std::time::Duration;

use dart_rtc::{DartSignal, Options, Platform};
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use support::call::Call;

const WAIT: Duration = Duration::from_secs(15);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The join response, or a panic saying what came instead.
async fn joined(signal: &mut DartSignal) -> lk::JoinResponse {
    match signal.next(WAIT).await {
        Some(Out::Join(join)) => join,
        other => panic!("no join response: {other:?}"),
    }
}

/// Answers the next subscriber offer with `peer`, as the Dart engine does
/// (`SignalOfferEvent` → `createAnswer` → `sendAnswer`, no id).
async fn answer_offer(
    signal: &mut DartSignal,
    peer: &peer::Peer,
) -> (lk::SessionDescription, String) {
    let offer = signal
        .find(WAIT, |m| match m {
            Out::Offer(o) => Some(o.clone()),
            _ => None,
        })
        .await
        .unwrap_or_else(|| panic!("no subscriber offer; got {:?}", signal.log));
    assert_eq!(offer.r#type, "offer");
    let answer = peer.answer(&offer.sdp);
    signal
        .send(In::Answer(dart_rtc::description("answer", answer.clone())))
        .await;
    (offer, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtc_takes_what_livekit_client_dart_sends_on_io_and_web() {
    let call = Call::start();
    let cid = "default:dart-entry";
    let alice = call.credentials("alice", cid).await;
    let io = Options::default();

    // io: the token only in the Authorization header; dart:io's upgrade headers.
    let url = dart_rtc::build_uri(&alice.url, &alice.token, &io, None, false);
    assert!(
        !url.contains("access_token") && !url.contains(&alice.token),
        "{url}"
    );
    assert!(url.contains("/rtc?auto_subscribe=1&adaptive_stream=0&protocol=16&client_protocol=1&sdk=flutter&version=2.11.0&network=wifi&os=android&os_version=14&device_model=Pixel+8"), "{url}");
    let mut signal = dart_rtc::connect(&alice.url, &alice.token, &io, None)
        .await
        .unwrap();
    // Dart offers permessage-deflate; the server must not take it up (Dart
    // would then compress what OnAir cannot read).
    assert_eq!(signal.extensions, None);
    let join = joined(&mut signal).await;
    let me = join.participant.clone().unwrap();
    assert_eq!(me.identity, "alice");
    assert!(me.sid.starts_with("PA_"), "{}", me.sid);
    // engine.dart: subscriber primary → publishing negotiates lazily; no
    // enabled_publish_codecs / fast_publish → AddTrack is answered before
    // the publisher offer (local.dart's sequential path).
    assert!(join.subscriber_primary);
    assert!(join.enabled_publish_codecs.is_empty() && !join.fast_publish);
    // signal_client.dart starts pinging only when ping_timeout > 0.
    assert!(
        join.ping_timeout > join.ping_interval && join.ping_interval > 0,
        "{join:?}"
    );
    assert!(join.server_info.is_some());
    // The server's first subscriber offer, answered without an id.
    let sub = peer::Peer::new().await;
    answer_offer(&mut signal, &sub).await;

    // Pings as _sendPing sends them: ping, then pingReq, same time.
    let sent = now_ms();
    for ping in dart_rtc::pings(sent, 0) {
        signal.send(ping).await;
    }
    let pong = signal
        .find(WAIT, |m| matches!(m, Out::Pong(_)).then_some(()))
        .await;
    let pong_resp = signal
        .find(WAIT, |m| match m {
            Out::PongResp(p) => Some(p.last_ping_timestamp),
            _ => None,
        })
        .await;
    assert_eq!(
        (pong, pong_resp),
        (Some(()), Some(sent)),
        "{:?}",
        signal.log
    );

    // Without the header the same URL carries no token at all.
    let (status, body) = match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => (
            r.status().as_u16(),
            String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!("let in without a token: {:?}", other.map(|_| ())),
    };
    assert_eq!(status, 401);
    assert!(body.starts_with("missing_token"), "{body}");

    // validate, as Dart calls it after a failed upgrade (header, HTTP GET).
    assert_eq!(
        dart_rtc::validate(&alice.url, &alice.token, &io).await,
        (200, "success".to_owned())
    );
    let (status, body) = dart_rtc::validate(&alice.url, "not-a-token", &io).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.starts_with("malformed_token"),
        "Dart shows this body: {body}"
    );

    // web: the browser cannot set headers; the token is in the query.
    let bob = call.credentials("bob", cid).await;
    let web = Options {
        platform: Platform::Web,
        ..Options::default()
    };
    let url = dart_rtc::build_uri(&bob.url, &bob.token, &web, None, false);
    assert!(
        url.contains(&format!("/rtc?access_token={}&auto_subscribe=1", bob.token)),
        "{url}"
    );
    let mut bob_signal = dart_rtc::connect(&bob.url, &bob.token, &web, None)
        .await
        .unwrap();
    assert_eq!(
        joined(&mut bob_signal).await.participant.unwrap().identity,
        "bob"
    );
    assert_eq!(dart_rtc::validate(&bob.url, &bob.token, &web).await.0, 200);

    // Alice heard bob join, and is still in.
    let joined_bob = signal
        .find(WAIT, |m| match m {
            Out::Update(u) => u
                .participants
                .iter()
                .any(|p| p.identity == "bob")
                .then_some(()),
            _ => None,
        })
        .await;
    assert!(joined_bob.is_some(), "{:?}", signal.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dart_publishes_subscribes_resumes_with_a_fresh_token_and_leaves() {
    media::publish_subscribe_resume_leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onair_flutter_rest_and_events_socket() {
    scenario::run().await;
}
