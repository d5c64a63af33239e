//! Arbitrary sequences of what participants make the media worker do:
//! joins (with one peer connection or two), publisher offers and
//! subscriber answers with any SDP, tracks
//! announced, subscriptions, settings, resumes, data, leaves, datagrams
//! from strangers and from its peers' addresses, and time passing: the
//! sans-IO `Worker` on virtual time, its outputs drained after each step.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use onair_sfu::fuzzing::{Routes, Worker};
use onair_sfu::media::{Command, Kind, Layer, ParticipantSid, Pid, TrackSid, TrackSpec, Want};
use tokio::sync::{mpsc, oneshot};

/// One step; participants and tracks are named by small numbers so that
/// steps meet the same ones.
#[derive(Arbitrary, Debug)]
enum Step {
    Join(u8),
    PublisherOffer(u8, String),
    SubscriberAnswer(u8, String),
    ExpectTrack {
        pid: u8,
        track: u8,
        video: bool,
        layers: u8,
        codec: Option<String>,
    },
    Subscribe {
        pid: u8,
        publisher: u8,
        track: u8,
    },
    Unsubscribe(u8, u8),
    Settings {
        pid: u8,
        track: u8,
        want: u8,
        width: u16,
        height: u16,
    },
    Resume(u8),
    DataPermission(u8, bool),
    SendData(u8, Vec<u8>),
    Leave(u8),
    Datagram {
        from: u8,
        bytes: Vec<u8>,
    },
    Wait(u16),
}

fn pid(n: u8) -> Pid {
    Pid::new(u64::from(n % 4) + 1, 0)
}

fn track(n: u8) -> TrackSid {
    TrackSid::from(format!("TR_fuzz{}", n % 4))
}

fn spec(t: u8, video: bool, layers: u8, codec: Option<String>) -> TrackSpec {
    TrackSpec {
        track_sid: track(t),
        client_track_id: format!("client{}", t % 4),
        kind: if video { Kind::Video } else { Kind::Audio },
        layers: (0..layers % 4)
            .map(|q| Layer {
                quality: q,
                width: 320 << q,
                height: 180 << q,
                bitrate: 150_000 << q,
            })
            .collect(),
        codec,
    }
}

fn command(step: Step) -> Option<Command> {
    Some(match step {
        Step::Join(n) => Command::Join {
            pid: pid(n),
            room: "room".into(),
            identity: format!("user{n}"),
            participant_sid: ParticipantSid::from(format!("PA_fuzz{}", n % 4)),
            can_publish_data: n % 2 == 0,
            // One peer connection (`/rtc/v1`) or two.
            single_pc: n & 4 != 0,
            notices: mpsc::unbounded_channel().0,
            tracks: Arc::new(|_| {}),
            reply: oneshot::channel().0,
        },
        Step::PublisherOffer(n, sdp) => Command::PublisherOffer {
            pid: pid(n),
            sdp,
            reply: oneshot::channel().0,
        },
        Step::SubscriberAnswer(n, sdp) => Command::SubscriberAnswer { pid: pid(n), sdp },
        Step::ExpectTrack {
            pid: n,
            track: t,
            video,
            layers,
            codec,
        } => Command::ExpectTrack {
            pid: pid(n),
            spec: spec(t, video, layers, codec),
        },
        Step::Subscribe {
            pid: n,
            publisher,
            track: t,
        } => Command::Subscribe {
            pid: pid(n),
            publisher: pid(publisher),
            track_sid: track(t),
            stream: format!("PA_fuzz{}|{}", publisher % 4, track(t)),
        },
        Step::Unsubscribe(n, t) => Command::Unsubscribe {
            pid: pid(n),
            track_sid: track(t),
        },
        Step::Settings {
            pid: n,
            track: t,
            want,
            width,
            height,
        } => Command::Settings {
            pid: pid(n),
            track_sid: track(t),
            want: match want % 3 {
                0 => Want::Paused,
                1 => Want::Quality(want / 3),
                _ => Want::Size(width.into(), height.into()),
            },
        },
        Step::Resume(n) => Command::Resume { pid: pid(n) },
        Step::DataPermission(n, allowed) => Command::DataPermission {
            pid: pid(n),
            allowed,
        },
        Step::SendData(n, packet) => Command::SendData {
            pid: pid(n),
            packet,
        },
        Step::Leave(n) => Command::Leave { pid: pid(n) },
        Step::Datagram { .. } | Step::Wait(_) => return None,
    })
}

fuzz_target!(|steps: Vec<Step>| {
    let start = Instant::now();
    let mut now = start;
    let server = SocketAddr::from(([10, 0, 0, 1], 7881));
    let mut worker = Worker::new(
        0,
        Arc::new(Routes::default()),
        vec![server],
        Duration::from_secs(10),
        now,
    );
    for step in steps.into_iter().take(64) {
        match step {
            Step::Datagram { from, bytes } => {
                let source = SocketAddr::from(([10, 0, 1, from % 8], 5000));
                worker.handle_datagram(now, source, &bytes);
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                worker.handle_timeout(now);
            }
            step => {
                if let Some(cmd) = command(step) {
                    worker.handle_command(now, cmd);
                }
            }
        }
        while worker.poll_output().is_some() {}
        assert!(worker.poll_timeout() >= start, "a timeout before the start");
    }
});
