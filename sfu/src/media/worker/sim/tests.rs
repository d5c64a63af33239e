//! The worker's rules, on the in-memory network.

use std::time::Duration;

use str0m::media::{Direction, MediaKind};

use super::*;
use crate::media::PeerFailure;

/// The rids of three simulcast layers.
const SIMULCAST: &[Option<&str>] = &[Some("q"), Some("h"), Some("f")];

/// 30 frames per second.
pub(super) const FRAME: Duration = Duration::from_millis(33);

/// A publisher's encoder: a frame on each layer every [`FRAME`], a
/// keyframe at the start and wherever the SFU asked for one.
pub(super) struct Encoder {
    member: Member,
    mid: Mid,
    rids: Vec<Option<&'static str>>,
    n: u32,
    /// Publisher events read so far.
    seen: usize,
    /// The layers keyframes were asked for, in order.
    asked: Vec<Option<String>>,
    /// Dynacast: the layers the SFU asked for (all until it says).
    enabled: [bool; 3],
}

impl Encoder {
    pub(super) fn new(member: Member, mid: Mid, rids: &[Option<&'static str>]) -> Self {
        let rids = rids.to_vec();
        let (n, seen, asked) = (0, 0, Vec::new());
        Encoder {
            member,
            mid,
            rids,
            n,
            seen,
            asked,
            enabled: [true; 3],
        }
    }

    /// Encodes `frames` frames, letting time pass between them.
    pub(super) fn run(&mut self, sim: &mut Sim, frames: u32) {
        for _ in 0..frames {
            let events = &sim.clients[self.member.publisher].events;
            let asked: Vec<Option<String>> = events[self.seen..]
                .iter()
                .filter_map(|e| match e {
                    Event::KeyframeRequest(r) if r.mid == self.mid => {
                        Some(r.rid.map(|r| r.to_string()))
                    }
                    _ => None,
                })
                .collect();
            self.seen = events.len();
            let resumed = self.follow_dynacast(sim);
            for rid in self.rids.clone() {
                let rid_name = rid.map(str::to_owned);
                let layer = crate::media::layer_of_rid(rid);
                if !self.enabled[layer as usize] {
                    continue; // paused, as a browser's encoder does
                }
                let key = self.n == 0 || asked.contains(&rid_name) || resumed[layer as usize];
                sim.send_frame(self.member, self.mid, rid, key, self.n);
            }
            self.asked.extend(asked);
            self.n += 1;
            sim.run_for(FRAME);
        }
    }
}

impl Encoder {
    /// Takes the SFU's last word on which layers to send, as livekit-client
    /// does with `SubscribedQualityUpdate`; a layer turned back on starts
    /// with a keyframe.
    fn follow_dynacast(&mut self, sim: &Sim) -> [bool; 3] {
        let mut resumed = [false; 3];
        let told = sim.last_notice(self.member.pid, |n| match n {
            Notice::SubscribedQualities { qualities, .. } => Some(qualities.clone()),
            _ => None,
        });
        for (q, on) in told.unwrap_or_default() {
            let Some(slot) = self.enabled.get_mut(q as usize) else {
                continue;
            };
            resumed[q as usize] = on && !*slot;
            *slot = on;
        }
        resumed
    }
}

/// Two participants of one room, `alice` publishing one video track
/// (`layers`) that `bob` receives.
fn alice_to_bob(layers: Vec<Layer>) -> (Sim, Member, Member, TrackSid, Mid) {
    let (mut sim, alice, bob) = Sim::room_of_two();
    let (video, mid) = sim.publish(alice, Kind::Video, layers);
    sim.subscribe(bob, alice, &video);
    sim.run_for(Duration::from_millis(300));
    (sim, alice, bob, video, mid)
}

#[test]
fn a_publishers_audio_and_video_reach_a_subscriber_intact() {
    let (mut sim, alice, bob) = Sim::room_of_two();
    let (audio, audio_mid) = sim.publish(alice, Kind::Audio, Vec::new());
    let (video, video_mid) = sim.publish(alice, Kind::Video, Vec::new());
    let live = |sim: &Sim, t: &TrackSid| {
        sim.notices.iter().any(|(pid, n)| {
            *pid == alice.pid && matches!(n, Notice::TrackLive { track_sid, .. } if track_sid == t)
        })
    };
    assert!(live(&sim, &audio) && live(&sim, &video), "both tracks live");
    sim.subscribe(bob, alice, &audio);
    sim.subscribe(bob, alice, &video);
    sim.run_for(Duration::from_millis(300));
    for n in 0..60 {
        sim.send_frame(alice, audio_mid, None, false, n);
        sim.send_frame(alice, video_mid, None, n == 0, n);
        sim.run_for(FRAME);
    }
    sim.run_for(Duration::from_millis(200));
    let video_frames = sim.video_frames(bob);
    let audio_count = sim.frames(bob).iter().filter(|f| f.audio).count();
    assert_eq!(
        video_frames,
        (0..60).collect::<Vec<_>>(),
        "every frame, in order"
    );
    assert_eq!(audio_count, 60);
}

/// Packets are sent on as soon as they are read: the bench's forwarding
/// delay is taken once the worker's output is drained, and str0m would
/// otherwise hold them until the worker's next timer round. Two frames
/// read together reach bob together (one owed packet polled only up to
/// it, the last drained).
#[test]
fn forwarded_packets_leave_in_the_turn_they_arrive() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 10);
    let (server, to_bob) = (sim.server, sim.clients[bob.subscriber].addr);
    let media = |p: &&Packet| p.to == server && p.bytes.len() > super::frames::LAYER_BYTES[0];
    for n in (10..16).step_by(2) {
        sim.send_frame(alice, mid, None, false, n);
        sim.send_frame(alice, mid, None, false, n + 1);
        // The publisher's own str0m sends them from its timer.
        for _ in 0..10 {
            if sim.wire.iter().filter(media).count() >= 2 {
                break;
            }
            let now = sim.now;
            let _ = sim.clients[alice.publisher]
                .rtc
                .handle_input(Input::Timeout(now));
            sim.pump();
        }
        let (frames, rest) = sim.wire.drain(..).partition::<Vec<_>, _>(|p| media(&p));
        sim.wire.extend(rest);
        assert_eq!(frames.len(), 2, "frames {n} and {} were sent", n + 1);
        for p in frames {
            sim.worker.handle_datagram(sim.now, p.from, &p.bytes);
        }
        let mut left = 0;
        while let Some(out) = sim.worker.poll_output() {
            if let Output::Transmit(t) = out {
                left += usize::from(t.destination == to_bob);
                sim.send(t.source, t.destination, t.contents.into());
            }
        }
        assert!(left >= 2, "frames {n}.. wait for the worker's timer");
        sim.run_for(FRAME);
    }
    assert_eq!(sim.video_frames(bob), (0..16).collect::<Vec<_>>());
}

#[test]
fn every_packet_sent_is_counted_whichever_poll_sends_it() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    // Long enough for reports and bandwidth feedback, whose drains send
    // written packets too: a debt that only grew would make every packet
    // cost an extra run of bob's timer.
    encoder.run(&mut sim, 90);
    sim.run_for(FRAME);
    let bob_sub = (bob.pid, super::super::Role::Subscriber);
    assert_eq!(sim.worker.peers[&bob_sub].owed, 0, "all sent, nothing owed");
    assert_eq!(sim.video_frames(bob), (0..90).collect::<Vec<_>>());
}

#[test]
fn a_simulcast_switch_asks_a_keyframe_and_starts_at_it() {
    let (mut sim, alice, bob, video, mid) = alice_to_bob(three_layers());
    sim.settings(bob, &video, Want::Quality(0));
    let mut encoder = Encoder::new(alice, mid, SIMULCAST);
    encoder.run(&mut sim, 30);
    let low = sim.frames(bob);
    assert!(low.len() >= 29, "{low:?}");
    assert!(
        low.iter().all(|f| f.layer == 0),
        "only the low layer: {low:?}"
    );
    assert!(
        encoder.asked.is_empty(),
        "no keyframe asked: {:?}",
        encoder.asked
    );

    sim.settings(bob, &video, Want::Quality(2));
    encoder.run(&mut sim, 30);
    assert_eq!(
        encoder.asked,
        [Some("f".to_owned())],
        "one PLI, for the high layer"
    );
    let after = &sim.frames(bob)[low.len()..];
    let first_high = after.iter().position(|f| f.layer == 2).expect("high layer");
    assert!(after[first_high].key, "the switch starts at a keyframe");
    assert!(after[..first_high].iter().all(|f| f.layer == 0));
    assert!(after[first_high..].iter().all(|f| f.layer == 2));
    // No frame lost across the switch; the one both layers carried at the
    // switch comes twice, with timestamps still moving forward.
    let frames = sim.frames(bob);
    let mut numbers: Vec<u32> = frames.iter().map(|f| f.n).collect();
    numbers.dedup();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>());
    assert!(
        frames.windows(2).all(|w| w[0].time < w[1].time),
        "{frames:?}"
    );
}

#[test]
fn retransmissions_recover_five_percent_loss() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    sim.loss_percent = 5;
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 300);
    sim.loss_percent = 0;
    sim.run_for(Duration::from_secs(1));
    let got = sim.video_frames(bob);
    let missing = (0..300).filter(|n| !got.contains(n)).count();
    assert!(sim.lost > 20, "the links lost {} datagrams", sim.lost);
    // Frames are one packet each: without NACK/RTX on both legs about one
    // in ten would be missing. A retransmission can be lost too, and a
    // frame given up on is skipped by the receiver.
    assert!(missing <= 3, "{missing} of 300 frames missing");
}

#[test]
fn an_unpublished_track_ends_and_leaves_its_subscriber() {
    let (mut sim, alice, bob, video, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 10);
    assert_eq!(sim.video_frames(bob).len(), 10);
    // The client stops sending: its next offer makes the m-line inactive.
    sim.offer(alice.pid, |api| api.set_direction(mid, Direction::Inactive));
    let ended = sim.notices.iter().any(|(pid, n)| {
        *pid == alice.pid && matches!(n, Notice::TrackEnded { track_sid } if *track_sid == video)
    });
    assert!(ended, "TrackEnded told: {:?}", sim.notices);
    assert!(sim.worker.tracks.is_empty(), "no track left");
    let received = sim.video_frames(bob).len();
    encoder.run(&mut sim, 10);
    assert_eq!(
        sim.video_frames(bob).len(),
        received,
        "nothing more forwarded"
    );
}

#[test]
fn a_participant_that_never_connects_is_dropped_and_the_others_go_on() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    // A participant that joins, offers to publish, and vanishes.
    let ghost = Pid::new(99, 0);
    let (notices, _) = mpsc::unbounded_channel();
    let (reply, _) = oneshot::channel();
    sim.command(Command::Join {
        pid: ghost,
        room: "room".into(),
        identity: "ghost".into(),
        participant_sid: ParticipantSid::random(),
        can_publish_data: false,
        single_pc: false,
        notices,
        tracks: std::sync::Arc::new(|_| {}),
        reply,
    });
    let mut vanished = Rtc::new(sim.now);
    let mut change = vanished.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = change.apply().expect("an offer");
    let (reply, mut answer) = oneshot::channel();
    let sdp = offer.to_sdp_string();
    sim.command(Command::PublisherOffer {
        pid: ghost,
        sdp,
        reply,
    });
    assert!(matches!(answer.try_recv(), Ok(Ok(_))), "answered");
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, (CONNECT_TIMEOUT.as_millis() / 33) as u32 + 10);
    let closed = sim.notices.iter().any(|(pid, n)| {
        *pid == ghost
            && matches!(
                n,
                Notice::Closed {
                    reason: PeerFailure::NeverConnected
                }
            )
    });
    assert!(closed, "the ghost's session is told: {:?}", sim.notices);
    assert!(!sim.worker.participants.contains_key(&ghost));
    let got = sim.video_frames(bob);
    assert_eq!(got.len() as u32, encoder.n, "bob got every frame meanwhile");
}

#[test]
fn an_ice_restart_keeps_media_flowing() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 10);
    let ufrags_before = sim.worker.ufrags.peers.len();
    sim.command(Command::Resume { pid: bob.pid });
    encoder.run(&mut sim, 30);
    assert_eq!(
        sim.worker.ufrags.peers.len(),
        ufrags_before + 1,
        "the restart's new ufrag is routed"
    );
    let got = sim.video_frames(bob);
    assert_eq!(
        got,
        (0..40).collect::<Vec<_>>(),
        "no frame lost across the restart"
    );
}

#[test]
fn hostile_datagrams_are_dropped_and_the_others_are_served() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    let stranger = SocketAddr::from((Ipv4Addr::new(10, 9, 9, 9), 1234));
    let bob_addr = sim.clients[bob.subscriber].addr;
    for n in 0..20u8 {
        let now = sim.now;
        let junk: Vec<u8> = (0..200).map(|i| i ^ n).collect();
        sim.worker.handle_datagram(now, stranger, &junk);
        // Bytes that look like RTP and STUN from a known peer's address.
        sim.worker
            .handle_datagram(now, bob_addr, &[0x80, 0x60, 0, n, 0, 0, 0, 0]);
        sim.worker
            .handle_datagram(now, bob_addr, &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        encoder.run(&mut sim, 1);
    }
    assert!(
        !sim.worker.by_addr.contains_key(&stranger),
        "a stranger is not routed"
    );
    assert_eq!(sim.video_frames(bob), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_participant_that_leaves_is_forgotten() {
    let (mut sim, alice, bob, video, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 5);
    sim.command(Command::Leave { pid: bob.pid });
    encoder.run(&mut sim, 5);
    assert!(!sim.worker.participants.contains_key(&bob.pid));
    assert!(sim.worker.peers.keys().all(|(pid, _)| *pid != bob.pid));
    assert!(sim.worker.by_addr.values().all(|(pid, _)| *pid != bob.pid));
    let track = sim
        .worker
        .tracks
        .values()
        .find(|t| t.spec.track_sid == video);
    assert!(
        track.is_some_and(|t| t.downs.is_empty()),
        "no down track left"
    );
    assert_eq!(sim.video_frames(bob).len(), 5);
}

#[test]
fn a_narrow_downlink_gets_the_layer_that_fits_and_the_top_one_when_it_widens() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(three_layers());
    let mut encoder = Encoder::new(alice, mid, SIMULCAST);
    encoder.run(&mut sim, 60);
    let layers = |sim: &Sim, from: usize| -> Vec<u8> {
        sim.frames(bob)[from..].iter().map(|f| f.layer).collect()
    };
    assert!(
        layers(&sim, 30).iter().all(|&l| l == 2),
        "top layer while it fits"
    );
    // 500 kbit/s carries the middle layer (288) but not the top (960).
    // The estimate takes a second to see it, overshoots down to the low
    // layer, and climbs back to the middle one within 10 s, to stay.
    sim.cap_downlink(bob, Some(500_000));
    encoder.run(&mut sim, 900);
    let narrow = layers(&sim, 60);
    let shown: String = narrow.iter().map(|l| l.to_string()).collect();
    assert!(
        !narrow[30..].contains(&2),
        "no top layer after a second: {shown}"
    );
    assert!(
        narrow[300..].iter().all(|&l| l == 1),
        "the middle layer after 10 s: {shown}"
    );
    sim.cap_downlink(bob, None);
    let widened = sim.frames(bob).len();
    encoder.run(&mut sim, 450);
    let estimate = sim.worker.participants[&bob.pid].estimate;
    let wide = layers(&sim, widened);
    let back = wide.iter().position(|&l| l == 2);
    assert!(
        back.is_some_and(|i| wide[i..].iter().all(|&l| l == 2)),
        "back on the top layer (estimate {estimate:?}): {wide:?}"
    );
}

#[test]
fn after_a_long_while_on_the_low_layer_the_top_one_comes_back_at_once() {
    let (mut sim, alice, bob, video, mid) = alice_to_bob(three_layers());
    sim.settings(bob, &video, Want::Quality(0));
    let mut encoder = Encoder::new(alice, mid, SIMULCAST);
    encoder.run(&mut sim, 600);
    // Dynacast paused the layers nobody watches; the estimate followed
    // the low layer's traffic down.
    assert_eq!(encoder.enabled, [true, false, false], "only q is sent");
    let estimate = sim.worker.participants[&bob.pid].estimate;
    assert!(
        estimate.is_some_and(|e| e < 500_000),
        "estimate sank: {estimate:?}"
    );
    let before = sim.frames(bob).len();
    sim.settings(bob, &video, Want::Quality(2));
    encoder.run(&mut sim, 90);
    let after: Vec<u8> = sim.frames(bob)[before..].iter().map(|f| f.layer).collect();
    let top = after.iter().position(|&l| l == 2);
    assert!(encoder.enabled[2], "the top layer is sent again");
    // It flows again once the publisher hears (a round trip), and is
    // chosen at its first keyframe: within half a second.
    assert!(
        top.is_some_and(|i| i <= 15),
        "top layer after {top:?} frames: {after:?}"
    );
}

#[test]
fn a_participant_cut_off_the_network_is_shown_lost_to_the_room() {
    let (mut sim, alice, bob, _, mid) = alice_to_bob(Vec::new());
    let mut encoder = Encoder::new(alice, mid, &[None]);
    let quality_of = |sim: &Sim, who: Member| {
        let sid = sim.sid(who);
        let last = sim.last_notice(alice.pid, |n| match n {
            Notice::ConnectionQuality(list) => Some(list.clone()),
            _ => None,
        });
        last.and_then(|list| {
            list.into_iter()
                .find(|(p, _, _)| *p == sid)
                .map(|(_, c, _)| c)
        })
    };
    encoder.run(&mut sim, 200);
    // lk::ConnectionQuality: 2 excellent, 3 lost.
    assert_eq!(quality_of(&sim, bob), Some(2), "{:?}", sim.notices);
    sim.cut(bob);
    encoder.run(&mut sim, 600);
    assert_eq!(
        quality_of(&sim, bob),
        Some(3),
        "bob is lost once ICE gives up"
    );
    assert_eq!(quality_of(&sim, alice), Some(2), "alice is not");
}

#[test]
fn the_room_hears_who_speaks_loudest_and_when_they_stop() {
    let (mut sim, alice, bob) = Sim::room_of_two();
    let (_, alice_mic) = sim.publish(alice, Kind::Audio, Vec::new());
    let (_, bob_mic) = sim.publish(bob, Kind::Audio, Vec::new());
    let talk = |sim: &mut Sim, n: u32| {
        for i in 0..n {
            sim.send_frame(alice, alice_mic, None, false, i);
            sim.send_frame(bob, bob_mic, None, false, i);
            sim.run_for(Duration::from_millis(20));
        }
    };
    // What bob's session was last told: the active speakers, loudest first.
    let active = |sim: &Sim| {
        let last = sim.last_notice(bob.pid, |n| match n {
            Notice::Speakers(list) => Some(list.clone()),
            _ => None,
        });
        let list = last.unwrap_or_default();
        let on = list.into_iter().filter(|(_, _, active)| *active);
        on.map(|(sid, _, _)| sid).collect::<Vec<_>>()
    };
    sim.speaking = vec![alice.pid];
    talk(&mut sim, 100);
    assert_eq!(active(&sim), [sim.sid(alice)], "alice speaks");
    sim.speaking = vec![bob.pid];
    talk(&mut sim, 100);
    assert_eq!(active(&sim), [sim.sid(bob)], "bob speaks, alice stopped");
    sim.speaking.clear();
    talk(&mut sim, 100);
    assert!(active(&sim).is_empty(), "nobody speaks");
}

#[test]
fn a_peer_that_panics_is_dropped_and_the_others_are_served() {
    let (mut sim, alice, bob) = Sim::room_of_two();
    let carol = sim.join("room");
    let (video, mid) = sim.publish(alice, Kind::Video, Vec::new());
    sim.subscribe(bob, alice, &video);
    sim.subscribe(carol, alice, &video);
    sim.run_for(Duration::from_millis(300));
    let mut encoder = Encoder::new(alice, mid, &[None]);
    encoder.run(&mut sim, 10);
    // str0m panics inside bob's subscriber connection.
    let bob_sub = sim
        .worker
        .peers
        .get_mut(&(bob.pid, super::super::Role::Subscriber));
    bob_sub.expect("bob's subscriber connection").panics = true;
    encoder.run(&mut sim, 20);
    let closed = sim.notices.iter().any(|(pid, n)| {
        *pid == bob.pid
            && matches!(
                n,
                Notice::Closed {
                    reason: PeerFailure::Panicked
                }
            )
    });
    assert!(closed, "bob's session hears it: {:?}", sim.notices);
    assert!(
        !sim.worker.participants.contains_key(&bob.pid),
        "bob is gone"
    );
    assert_eq!(sim.video_frames(bob).len(), 10, "bob got what came before");
    assert_eq!(
        sim.video_frames(carol),
        (0..30).collect::<Vec<_>>(),
        "carol missed nothing"
    );
}
