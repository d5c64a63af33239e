//! The media half of the SFU (LiveKit's `pkg/sfu`): one UDP socket, the
//! str0m peers, and forwarding between them. Room logic lives in
//! [`crate::room`]; the two talk through [`Command`]s and [`Notice`]s.
//!
//! Each participant has two peer connections, as livekit-client makes them:
//! a *publisher* (the client offers, we answer) and a *subscriber* (we
//! offer the tracks it receives plus the `_reliable`/`_lossy` data
//! channels, the client answers).

pub mod downtrack;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

/// Internal participant id, unique in this process.
pub type Pid = u64;

/// Where the media worker listens and what it advertises.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// UDP address to bind (one port for every peer).
    pub udp_bind: SocketAddr,
    /// Addresses put in ICE candidates; default: the bound address.
    pub candidates: Vec<SocketAddr>,
}

/// Media kind of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Opus.
    Audio,
    /// VP8 / H.264.
    Video,
}

/// A simulcast layer as the publisher announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// 0 = low (`q`), 1 = medium (`h`), 2 = high (`f`).
    pub quality: u8,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Bits per second (0 if unknown).
    pub bitrate: u32,
}

/// A track a publisher announced (`AddTrackRequest`), before media flows.
#[derive(Clone, Debug)]
pub struct TrackSpec {
    /// Server track id (`TR_…`).
    pub sid: String,
    /// Client track id (the `a=msid` track id in the publisher's SDP).
    pub cid: String,
    /// Audio or video.
    pub kind: Kind,
    /// Simulcast layers (empty: one layer).
    pub layers: Vec<Layer>,
}

/// What a subscriber asked for a track (`UpdateTrackSettings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Nothing (paused).
    Paused,
    /// A maximum quality (0..=2).
    Quality(u8),
    /// A display size; the smallest layer that covers it is chosen.
    Size(u32, u32),
}

/// Requests to the media worker.
pub enum Command {
    /// Creates the participant's two peer connections; answers with the
    /// first subscriber offer (data channels only).
    Join {
        pid: Pid,
        room: String,
        identity: String,
        sid: String,
        /// May send data packets (`canPublishData`).
        can_publish_data: bool,
        notices: mpsc::UnboundedSender<Notice>,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// The client's publisher offer; answers with our SDP answer.
    PublisherOffer {
        pid: Pid,
        sdp: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// The client's answer to our last subscriber offer.
    SubscriberAnswer { pid: Pid, sdp: String },
    /// A track the participant will publish (match its m-line by `cid`).
    ExpectTrack { pid: Pid, spec: TrackSpec },
    /// Starts sending track `sid` of `publisher` to `pid`, under stream id
    /// `stream` (livekit-client wants `PA_…|TR_…`).
    Subscribe {
        pid: Pid,
        publisher: Pid,
        sid: String,
        stream: String,
    },
    /// Stops sending track `sid` to `pid`.
    Unsubscribe { pid: Pid, sid: String },
    /// Subscriber's wish for track `sid`.
    Settings { pid: Pid, sid: String, want: Want },
    /// Removes the participant and everything it published or received.
    Leave { pid: Pid },
    /// Forwarding figures since the last `Stats`, then resets them.
    Stats {
        reply: oneshot::Sender<ForwardStats>,
    },
}

/// What the worker forwarded (for benchmarks and metrics).
#[derive(Clone, Debug)]
pub struct ForwardStats {
    /// RTP packets written toward subscribers.
    pub forwarded: u64,
    /// Microseconds from a packet's arrival to its hand-off toward the
    /// subscriber (SRTP and send, or str0m's pacer queue).
    pub delay_us: hdrhistogram::Histogram<u64>,
    /// The worker thread's Linux thread id (for per-thread CPU accounting).
    pub thread_id: i32,
}

/// What the worker tells a participant's session.
#[derive(Debug)]
pub enum Notice {
    /// Send this subscriber offer; `mid → TR sid` for the client's track mapping.
    SubscriberOffer {
        sdp: String,
        mid_to_track: HashMap<String, String>,
    },
    /// Media of an expected track is negotiated (published).
    TrackLive {
        sid: String,
        mid: String,
        mime: String,
    },
    /// The publisher stopped sending a track (its m-line went inactive).
    TrackEnded { sid: String },
    /// Speaker levels in the room changed: `(participant sid, level 0..1, active)`.
    Speakers(Vec<(String, f32, bool)>),
    /// The peer connections failed or were closed; the participant is gone from media.
    Closed { reason: String },
}

/// Handle to the media worker thread.
#[derive(Clone)]
pub struct Media {
    tx: mpsc::UnboundedSender<Command>,
    local: SocketAddr,
}

impl Media {
    /// Binds the UDP socket and starts the worker thread.
    pub fn start(config: MediaConfig) -> std::io::Result<Media> {
        let socket = std::net::UdpSocket::bind(config.udp_bind)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let candidates = if config.candidates.is_empty() {
            vec![local]
        } else {
            config.candidates
        };
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("onair-media".into())
            .spawn(move || worker::run(socket, candidates, rx))?;
        Ok(Media { tx, local })
    }

    /// Sends a command (a gone worker is logged, not fatal).
    pub fn send(&self, cmd: Command) {
        if self.tx.send(cmd).is_err() {
            tracing::error!("media worker is gone");
        }
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Forwarding figures since the last call (and resets them).
    pub async fn stats(&self) -> Option<ForwardStats> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats { reply });
        rx.await.ok()
    }
}

/// Layer index of a RID (`q` 0, `h` 1, `f` 2; none 0).
pub fn layer_of_rid(rid: Option<&str>) -> u8 {
    match rid {
        Some("h") => 1,
        Some("f") => 2,
        _ => 0,
    }
}

/// Picks the layer to send: the wanted one, clamped to the layers that are
/// flowing (`available[i]`) and, when the subscriber's bandwidth estimate
/// is known, to layers whose bitrate fits in it; prefers the best layer not
/// above the wish, else the nearest one above.
pub fn choose_layer(
    want: Want,
    layers: &[Layer],
    available: [bool; 3],
    budget_bps: Option<u64>,
) -> Option<u8> {
    let wanted = match want {
        Want::Paused => return None,
        Want::Quality(q) => q.min(2),
        Want::Size(w, h) => {
            let mut sorted: Vec<&Layer> = layers.iter().collect();
            sorted.sort_by_key(|l| l.quality);
            sorted
                .iter()
                .find(|l| l.width >= w && l.height >= h)
                .or(sorted.last())
                .map_or(2, |l| l.quality)
        }
    };
    let fits = |q: u8| match (budget_bps, layers.iter().find(|l| l.quality == q)) {
        (Some(budget), Some(l)) if l.bitrate > 0 => u64::from(l.bitrate) <= budget,
        _ => true,
    };
    (0..=wanted)
        .rev()
        .find(|&q| available[q as usize] && fits(q))
        .or_else(|| (0..3).find(|&q| available[q as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<Layer> {
        vec![
            Layer {
                quality: 0,
                width: 320,
                height: 180,
                bitrate: 150_000,
            },
            Layer {
                quality: 1,
                width: 640,
                height: 360,
                bitrate: 500_000,
            },
            Layer {
                quality: 2,
                width: 1280,
                height: 720,
                bitrate: 1_700_000,
            },
        ]
    }

    #[test]
    fn layer_choice() {
        let all = [true; 3];
        let l = layers();
        let pick = |want, available, budget| choose_layer(want, &l, available, budget);
        assert_eq!(pick(Want::Quality(2), all, None), Some(2));
        assert_eq!(pick(Want::Size(300, 170), all, None), Some(0));
        assert_eq!(pick(Want::Size(600, 300), all, None), Some(1));
        assert_eq!(pick(Want::Size(4000, 3000), all, None), Some(2));
        assert_eq!(pick(Want::Paused, all, None), None);
        // The wanted layer is not flowing: best below, else the lowest flowing.
        assert_eq!(pick(Want::Quality(2), [true, true, false], None), Some(1));
        assert_eq!(pick(Want::Quality(0), [false, false, true], None), Some(2));
        assert_eq!(pick(Want::Quality(1), [false; 3], None), None);
        // The bandwidth estimate caps the layer; below every layer, the lowest.
        assert_eq!(pick(Want::Quality(2), all, Some(1_000_000)), Some(1));
        assert_eq!(pick(Want::Quality(2), all, Some(200_000)), Some(0));
        assert_eq!(pick(Want::Quality(2), all, Some(10_000)), Some(0));
        assert_eq!(pick(Want::Quality(2), all, Some(5_000_000)), Some(2));
        // Single-layer tracks.
        assert_eq!(
            choose_layer(Want::Size(100, 100), &[], [true, false, false], Some(1)),
            Some(0)
        );
    }

    #[test]
    fn rids() {
        assert_eq!(
            (
                layer_of_rid(Some("q")),
                layer_of_rid(Some("h")),
                layer_of_rid(Some("f"))
            ),
            (0, 1, 2)
        );
        assert_eq!(layer_of_rid(None), 0);
    }
}
