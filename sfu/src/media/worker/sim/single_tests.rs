//! The worker's rules for clients with one peer connection (livekit-client
//! on `/rtc/v1`), on the in-memory network.

use std::time::Duration;

use str0m::media::Direction;

use super::tests::{Encoder, FRAME};
use super::*;

/// What the worker asked `m` to add to its next offers, in order.
fn offers_wanted(sim: &Sim, m: Member) -> Vec<(u32, u32)> {
    let to = sim.notices.iter().filter(|(pid, _)| *pid == m.pid);
    to.filter_map(|(_, n)| match n {
        Notice::OfferWanted { audios, videos } => Some((*audios, *videos)),
        _ => None,
    })
    .collect()
}

#[test]
fn a_client_with_one_connection_receives_on_the_m_lines_it_offers() {
    let mut sim = Sim::new();
    let alice = sim.join("room");
    let (audio, audio_mid) = sim.publish(alice, Kind::Audio, Vec::new());
    let (video, video_mid) = sim.publish(alice, Kind::Video, Vec::new());
    // Bob's first offer has one receiving m-line, for audio.
    let bob = sim.join_single("room", 1, 0);
    sim.subscribe(bob, alice, &audio);
    sim.subscribe(bob, alice, &video);
    sim.run_for(Duration::from_millis(300));
    // The audio track takes the free m-line; the video one needs a new one.
    assert_eq!(offers_wanted(&sim, bob), vec![(0, 0), (0, 1)]);
    for n in 0..60 {
        sim.send_frame(alice, audio_mid, None, false, n);
        sim.send_frame(alice, video_mid, None, n == 0, n);
        sim.run_for(FRAME);
    }
    sim.run_for(Duration::from_millis(200));
    assert_eq!(sim.video_frames(bob), (0..60).collect::<Vec<_>>());
    assert_eq!(sim.frames(bob).iter().filter(|f| f.audio).count(), 60);
    // Our last answer names both tracks, as the browser maps them.
    let last = sim.answers.iter().rev().find(|(pid, _)| *pid == bob.pid);
    let (_, answer) = last.expect("an answer to bob");
    let sid = sim.sid(alice);
    for track in [&audio, &video] {
        let named = answer.mid_to_track.values().any(|t| t == track.as_str());
        assert!(named, "{track} in mid_to_track: {:?}", answer.mid_to_track);
        let msid = format!("a=msid:{sid}|{track} {track}");
        assert!(answer.sdp.contains(&msid), "{msid} in {}", answer.sdp);
    }
}

#[test]
fn a_client_with_one_connection_publishes_and_an_ended_tracks_m_line_carries_the_next() {
    let mut sim = Sim::new();
    let alice = sim.join("room");
    let bob = sim.join_single("room", 0, 1);
    // Bob publishes on his one connection; alice receives.
    let (bobs, bobs_mid) = sim.publish(bob, Kind::Video, Vec::new());
    sim.subscribe(alice, bob, &bobs);
    sim.run_for(Duration::from_millis(300));
    Encoder::new(bob, bobs_mid, &[None]).run(&mut sim, 20);
    assert_eq!(sim.video_frames(alice), (0..20).collect::<Vec<_>>());
    // Alice's first track reaches bob on his offered m-line, then ends.
    let (first, first_mid) = sim.publish(alice, Kind::Video, Vec::new());
    sim.subscribe(bob, alice, &first);
    sim.run_for(Duration::from_millis(300));
    Encoder::new(alice, first_mid, &[None]).run(&mut sim, 10);
    assert_eq!(sim.video_frames(bob).len(), 10);
    let carried = sim.worker.participants[&bob.pid].sub_mids.clone();
    sim.offer(alice.pid, |api| {
        api.set_direction(first_mid, Direction::Inactive)
    });
    // Her next track takes the same m-line: no new one is asked for.
    let (second, second_mid) = sim.publish(alice, Kind::Video, Vec::new());
    sim.subscribe(bob, alice, &second);
    sim.run_for(Duration::from_millis(300));
    assert_eq!(offers_wanted(&sim, bob), vec![(0, 0), (0, 0)]);
    let now = &sim.worker.participants[&bob.pid].sub_mids;
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        carried.keys().collect::<Vec<_>>()
    );
    assert_eq!(now.values().next(), Some(&second));
    Encoder::new(alice, second_mid, &[None]).run(&mut sim, 10);
    let both: Vec<u32> = (0..10).chain(0..10).collect();
    assert_eq!(sim.video_frames(bob), both, "each track's frames, in order");
}
