//! `/rtc/v1` (one peer connection): joins with its offer, and bad join requests are refused.

use super::*;

/// An offer as livekit-client's `/rtc/v1` join carries it: data channels
/// and receiving m-lines (`audios`, `videos`), from a str0m peer.
fn v1_offer(audios: usize, videos: usize) -> (str0m::Rtc, str0m::change::SdpPendingOffer, String) {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::Rtc::builder().build(Instant::now());
    let mut api = rtc.sdp_api();
    api.add_channel("_reliable".into());
    for kind in std::iter::repeat_n(MediaKind::Audio, audios)
        .chain(std::iter::repeat_n(MediaKind::Video, videos))
    {
        api.add_media(kind, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().unwrap();
    let sdp = offer.to_sdp_string();
    (rtc, pending, sdp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtc_v1_joins_with_its_offer_and_refuses_bad_join_requests() {
    let call = Call::start();
    let cid = "default:v1";
    let alice = call.join("alice", cid).await;
    let video = alice.publish(camera(false)).await.unwrap();
    let audio = alice.publish(microphone()).await.unwrap();
    let bob = call.credentials("bob", cid).await;

    // Hostile or broken join requests: refused before the upgrade.
    let (status, body) =
        signal::open_at(&bob.url, "/rtc/v1", &format!("access_token={}", bob.token))
            .await
            .refused();
    assert_eq!(
        (status, body.split(':').next()),
        (400, Some("bad_join_request")),
        "{body}"
    );
    let junk = format!("access_token={}&join_request=!!!!", bob.token);
    let (status, body) = signal::open_at(&bob.url, "/rtc/v1", &junk).await.refused();
    assert_eq!(status, 400, "{body}");
    let join = lk::JoinRequest::default();
    let (status, body) = signal::open_v1(&bob.url, "forged", &join).await.refused();
    assert_eq!(status, 401, "{body}");
    let validate = format!(
        "{}/rtc/v1/validate?access_token={}",
        call.onair.url, bob.token
    );
    let res = reqwest::get(&validate).await.unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);

    // The join's offer is answered with alice's tracks on bob's two
    // receiving m-lines, named as the browser maps them.
    let (mut rtc, pending, sdp) = v1_offer(1, 1);
    let join = lk::JoinRequest {
        connection_settings: Some(lk::ConnectionSettings {
            auto_subscribe: true,
            ..Default::default()
        }),
        publisher_offer: Some(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (mut ws, first) = signal::open_v1(&bob.url, &bob.token, &join).await.joined();
    let Some(Out::Join(joined)) = first else {
        panic!("{first:?}")
    };
    assert!(
        !joined.subscriber_primary,
        "one connection: the client offers"
    );
    let answer = ws
        .find(WAIT, |m| match m {
            Out::Answer(a) => Some(a.clone()),
            _ => None,
        })
        .await
        .expect("an answer");
    assert_eq!(answer.id, 1);
    let alice_sid = alice.stats().sid;
    for track in [&video, &audio] {
        assert!(
            answer.mid_to_track_id.values().any(|t| t == track),
            "{track}: {answer:?}"
        );
        let msid = format!("a=msid:{alice_sid}|{track} {track}");
        assert!(answer.sdp.contains(&msid), "{msid} in {}", answer.sdp);
    }
    let parsed = str0m::change::SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
    rtc.sdp_api().accept_answer(pending, parsed).unwrap();

    // A third track has no m-line left: bob is asked for an offer with one more.
    alice.publish(camera(false)).await.unwrap();
    let wanted = ws
        .find(WAIT, |m| match m {
            Out::MediaSectionsRequirement(r) => Some(*r),
            _ => None,
        })
        .await
        .expect("a request for more m-lines");
    assert_eq!((wanted.num_audios, wanted.num_videos), (0, 1));

    // Bob resumes on a new socket; mallory cannot take his session.
    let resume = lk::JoinRequest {
        reconnect: true,
        participant_sid: joined.participant.as_ref().unwrap().sid.clone(),
        ..Default::default()
    };
    let (_again, first) = signal::open_v1(&bob.url, &bob.token, &resume)
        .await
        .joined();
    assert!(matches!(first, Some(Out::Reconnect(_))), "{first:?}");
    let mallory = call.credentials("mallory", cid).await;
    let (_ws, first) = signal::open_v1(&mallory.url, &mallory.token, &resume)
        .await
        .joined();
    assert!(is_rejoin_request(&first), "{first:?}");
}
