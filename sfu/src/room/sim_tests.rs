//! The room's rules with real media: its commands go to the sans-IO media
//! worker on the in-memory network (`media::sim`), and the worker's word
//! that a track flows comes back to it, as the running task and the
//! track sink carry them. Backstage: only those who may publish receive
//! media; `go_live` opens it to everyone; going back closes it again.

use std::time::Duration;

use super::*;
use crate::media::sim::{Member, Sim};
use crate::media::Kind;
use crate::outbox::OutboxReader;

/// A frame every 33 ms.
const FRAME: Duration = Duration::from_millis(33);

/// A room and the worker its media runs on.
struct Call {
    sim: Sim,
    room: Room,
    /// The members' signal queues, kept open.
    outboxes: Vec<OutboxReader>,
}

impl Call {
    /// A room in backstage.
    fn backstage() -> Self {
        let bus = Arc::new(onair_bus::LocalBus::new());
        Call {
            sim: Sim::new(),
            room: Room::new("room", true, bus, SignalLimits::default()),
            outboxes: Vec::new(),
        }
    }

    /// Hands the room `msg`, and the worker what the room commands.
    fn tell(&mut self, msg: RoomMsg) {
        let sim = &mut self.sim;
        self.room.step(msg, |cmd| sim.command(cmd));
    }

    /// Joins `identity` to the worker (with one peer connection, as
    /// `/rtc/v1`, or two) and to the room; it may publish or not.
    fn join(&mut self, identity: &str, can_publish: bool, single_pc: bool) -> Member {
        self.join_with(identity, can_publish, single_pc, HashMap::new())
    }

    /// [`Call::join`] with the participant's `attributes`.
    fn join_with(
        &mut self,
        identity: &str,
        can_publish: bool,
        single_pc: bool,
        attributes: HashMap<String, String>,
    ) -> Member {
        let (member, admitted) = self.try_join(identity, can_publish, single_pc, attributes);
        assert!(admitted, "admitted");
        member
    }

    /// [`Call::join_with`], and whether the room admitted it.
    fn try_join(
        &mut self,
        identity: &str,
        can_publish: bool,
        single_pc: bool,
        attributes: HashMap<String, String>,
    ) -> (Member, bool) {
        let member = match single_pc {
            true => self.sim.join_single("room", 1, 1),
            false => self.sim.join("room"),
        };
        let info = lk::ParticipantInfo {
            sid: self.sim.sid(member).to_string(),
            identity: identity.into(),
            permission: Some(lk::ParticipantPermission {
                can_publish,
                can_subscribe: true,
                ..Default::default()
            }),
            attributes,
            ..Default::default()
        };
        let (outbox, reader) = Outbox::new(256);
        self.outboxes.push(reader);
        let (reply, mut admitted) = oneshot::channel();
        self.tell(RoomMsg::Join {
            pid: member.pid,
            join: Box::new(lk::JoinResponse {
                participant: Some(info),
                ..Default::default()
            }),
            auto_subscribe: true,
            status: CallStatus {
                backstage: !self.room.live,
                max_participants: None,
                metadata: String::new(),
            },
            outbox,
            reply,
        });
        (member, matches!(admitted.try_recv(), Ok(Ok(()))))
    }

    /// `m` publishes a camera through the room: announced, offered, and
    /// live once the worker says its media flows. Returns its m-line.
    fn publish_camera(&mut self, m: Member) -> str0m::media::Mid {
        let (reply, mut info) = oneshot::channel();
        self.tell(RoomMsg::AddTrack {
            pid: m.pid,
            req: camera(),
            reply,
        });
        assert!(matches!(info.try_recv(), Ok(Ok(_))), "publishing allowed");
        let mid = self.sim.send_track(m, "camera", Kind::Video, 1);
        // The worker says the track flows; the track sink would carry it.
        let notices = &mut self.sim.notices;
        let live = notices
            .iter()
            .rposition(|(p, n)| *p == m.pid && matches!(n, Notice::TrackLive { .. }))
            .expect("the worker says the track flows");
        let (_, live) = notices.remove(live);
        self.tell(RoomMsg::of_track(m.pid, live).expect("a track notice"));
        mid
    }

    /// `m` sends frames `range` on `mid`, each a keyframe.
    fn send(&mut self, m: Member, mid: str0m::media::Mid, range: std::ops::Range<u32>) {
        for n in range {
            self.sim.send_frame(m, mid, None, true, n);
            self.sim.run_for(FRAME);
        }
        self.sim.run_for(Duration::from_millis(200));
    }
}

/// What a client sends to publish its camera.
fn camera() -> lk::AddTrackRequest {
    lk::AddTrackRequest {
        cid: "camera".into(),
        r#type: lk::TrackType::Video as i32,
        source: lk::TrackSource::Camera as i32,
        width: 640,
        height: 360,
        ..Default::default()
    }
}

/// A client offers its track the moment it hears the track is accepted,
/// and the offer reaches the worker on another path than the room's
/// commands: the worker must expect the track before the client hears.
#[test]
fn the_worker_expects_a_track_before_its_publisher_hears_it_is_accepted() {
    let mut call = Call::backstage();
    let host = call.join("host", true, false);
    let (reply, mut info) = oneshot::channel();
    let mut heard_first = None;
    let (room, sim) = (&mut call.room, &mut call.sim);
    let add = RoomMsg::AddTrack {
        pid: host.pid,
        req: camera(),
        reply,
    };
    room.step(add, |cmd| {
        if matches!(cmd, Command::ExpectTrack { .. }) {
            heard_first = Some(info.try_recv().is_ok());
        }
        sim.command(cmd);
    });
    assert_eq!(
        heard_first,
        Some(false),
        "the track expected, then the reply"
    );
    assert!(matches!(info.try_recv(), Ok(Ok(_))), "publishing allowed");
}

#[test]
fn backstage_media_reaches_publishers_only_until_the_call_goes_live() {
    let mut call = Call::backstage();
    let host = call.join("host", true, false);
    let cohost = call.join("cohost", true, true);
    let viewers = [
        call.join("viewer", false, false),
        call.join("phone", false, true),
    ];
    let camera = call.publish_camera(host);

    call.send(host, camera, 0..20);
    assert_eq!(call.sim.video_frames(cohost), (0..20).collect::<Vec<_>>());
    for viewer in viewers {
        let got = call.sim.video_frames(viewer);
        assert!(got.is_empty(), "backstage: a viewer gets nothing");
    }

    call.tell(RoomMsg::Bus(EventKind::LiveStarted));
    call.send(host, camera, 20..40);
    for viewer in viewers {
        let got = call.sim.video_frames(viewer);
        assert_eq!(got, (20..40).collect::<Vec<_>>(), "live: all of it");
    }

    call.tell(RoomMsg::Bus(EventKind::LiveStopped));
    call.send(host, camera, 40..60);
    for viewer in viewers {
        let got = call.sim.video_frames(viewer);
        assert_eq!(got.len(), 20, "backstage again: nothing more");
    }
    assert_eq!(call.sim.video_frames(cohost), (0..60).collect::<Vec<_>>());
}

#[test]
fn a_relayed_participant_is_neither_announced_nor_reported() {
    let mut call = Call::backstage();
    let alice = call.join("alice", true, false);
    call.publish_camera(alice);
    let relayed = HashMap::from([(RELAYED_FROM.to_owned(), "sfu-far".to_owned())]);
    let bob = call.join_with("bob", true, false, relayed.clone());
    call.publish_camera(bob);
    let carol = call.join("carol", true, false);
    call.join_with("dave", true, false, relayed);
    // The registry hears of the room's own participants only: who
    // publishes and who watches.
    let hosted = call.room.hosted().expect("alice is the room's own");
    let names = |list: &[onair_bus::Publisher]| -> Vec<String> {
        list.iter().map(|p| p.identity.clone()).collect()
    };
    assert_eq!(names(&hosted.publishers), ["alice"]);
    assert_eq!(names(&hosted.watchers), ["carol"]);
    assert_eq!(hosted.participants, 2);
    // The API hears of alice's and carol's joins; bob's and dave's node
    // reports theirs.
    let joined: Vec<&str> = call
        .room
        .pending_events
        .iter()
        .filter_map(|e| match e {
            EventKind::ParticipantJoined { user_id, .. } => Some(user_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(joined, ["alice", "carol"]);
    call.room.pending_events.clear();
    for pid in [bob.pid, alice.pid, carol.pid] {
        call.tell(RoomMsg::Leave {
            pid,
            reason: "left",
        });
    }
    let left: Vec<&str> = call
        .room
        .pending_events
        .iter()
        .filter_map(|e| match e {
            EventKind::ParticipantLeft { user_id, .. } => Some(user_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(left, ["alice", "carol"]);
    // With only relayed participants, the room is no longer the node's own.
    assert!(call.room.hosted().is_none());
}

#[test]
fn a_relayed_copy_never_replaces_the_participant_itself() {
    let mut call = Call::backstage();
    let relayed = HashMap::from([(RELAYED_FROM.to_owned(), "sfu-far".to_owned())]);
    // Bob moved here before the registry said so: another node's relay
    // still carries the Bob it had, and must not push the real one out.
    call.join("bob", true, false);
    let (_, admitted) = call.try_join("bob", true, false, relayed.clone());
    assert!(!admitted, "a relayed copy replaced bob");
    assert_eq!(call.room.hosted().map(|h| h.participants), Some(1));
    // The other way round, the participant itself replaces its copy.
    call.join_with("carol", true, false, relayed);
    call.join("carol", true, false);
    let hosted = call
        .room
        .hosted()
        .expect("bob and carol are the room's own");
    assert_eq!(hosted.participants, 2);
}
