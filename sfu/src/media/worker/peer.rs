//! One peer connection of a participant: its str0m `Rtc`, what the
//! worker keeps beside it, and how it is polled (a panic inside str0m is
//! an error, not the worker's end).

use super::*;

/// Which of a participant's peer connections: one of livekit-client's
/// two, or the one of its `/rtc/v1` that carries both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Role {
    Publisher,
    Subscriber,
    Single,
}

impl Role {
    /// Carries the participant's own media to us.
    pub(super) fn publishes(self) -> bool {
        self != Role::Subscriber
    }

    /// Carries media to the participant.
    pub(super) fn subscribes(self) -> bool {
        self != Role::Publisher
    }
}

/// A peer connection: participant + role.
pub(super) type PeerId = (Pid, Role);

pub(super) struct Peer {
    pub(super) rtc: Rtc,
    /// Our ICE ufrags: the first, and one more per ICE restart.
    pub(super) ufrags: Vec<String>,
    pub(super) next_timeout: Instant,
    /// When the first offer was made or taken: a connection is expected
    /// from then on. None until then (a client that only receives never
    /// negotiates its publisher connection, nor one in an empty room its
    /// subscriber connection).
    pub(super) negotiated: Option<Instant>,
    pub(super) connected: bool,
    /// ICE lost its peer since (its consent checks stopped); clears when
    /// they come back.
    pub(super) ice_down: bool,
    /// Written to since it was last polled (it is in `Worker::written`).
    pub(super) written: bool,
    /// Packets written to it that str0m has not sent yet: each RTP packet
    /// any poll sends pays one off (a received datagram's poll sends too).
    pub(super) owed: u32,
    /// The worker's round in which `Worker::poll_written` sent all it
    /// owed: the timer str0m then asks for at once can wait a round.
    pub(super) settled_in: u64,
    /// Tests: its next poll panics, as str0m might.
    #[cfg(test)]
    pub(super) panics: bool,
    /// The (minimum, desired) bitrates its estimator was last given.
    pub(super) bwe_targets: (u64, u64),
    /// When its estimator was last started again (`bwe.rs`).
    pub(super) bwe_restarted: Option<Instant>,
    /// Data channel ids by label (`_reliable`, `_lossy`).
    pub(super) channels: HashMap<String, ChannelId>,
    pub(super) labels: HashMap<ChannelId, String>,
    /// NACKs each stream had counted at its last stats report (mid, rid,
    /// sending): str0m reports totals, `/metrics` wants the new ones.
    pub(super) nacks: HashMap<(Mid, Option<Rid>, bool), u64>,
}

/// Polls `peer` until it waits, or with `at_rtp` until it sends an RTP
/// packet (true then: it is not drained yet): transmits are queued in
/// `out`, events in `events`. A panic inside str0m is an error.
pub(super) fn poll_peer(
    id: PeerId,
    peer: &mut Peer,
    at_rtp: bool,
    out: &mut VecDeque<Output>,
    events: &mut Vec<(PeerId, Event)>,
) -> Result<bool, PeerFailure> {
    catch_unwind(AssertUnwindSafe(|| loop {
        #[cfg(test)]
        if peer.panics {
            panic!("a panic injected by a test");
        }
        match peer.rtc.poll_output() {
            Ok(str0m::Output::Timeout(t)) => {
                peer.next_timeout = t;
                return Ok(false);
            }
            Ok(str0m::Output::Transmit(t)) => {
                out.push_back(Output::Transmit(t));
                if out.back().is_some_and(is_rtp) {
                    peer.owed = peer.owed.saturating_sub(1);
                    if at_rtp {
                        return Ok(true);
                    }
                }
            }
            Ok(str0m::Output::Event(e)) => events.push((id, e)),
            Err(e) => return Err(PeerFailure::Rtc(e)),
        }
    }))
    .unwrap_or(Err(PeerFailure::Panicked))
}

/// Whether `out` sends an RTP packet: RTP and RTCP start at 128, and
/// RTCP's packet types sit where RTP's payload types 64–95 would (RFC
/// 5761); STUN and DTLS start lower.
pub(super) fn is_rtp(out: &Output) -> bool {
    let Output::Transmit(t) = out else {
        return false;
    };
    matches!(&t.contents[..], [first, second, ..]
        if (128..192).contains(first) && !(64..96).contains(&(second & 0x7f)))
}

#[cfg(test)]
mod tests {
    use str0m::net::{Protocol, Transmit};

    use super::*;

    fn sent(first_bytes: &[u8]) -> Output {
        let addr = "127.0.0.1:5000".parse().expect("an address");
        Output::Transmit(Transmit {
            proto: Protocol::Udp,
            source: addr,
            destination: addr,
            contents: first_bytes.to_vec().into(),
        })
    }

    #[test]
    fn rtp_is_told_from_rtcp_stun_and_dtls() {
        assert!(is_rtp(&sent(&[0x80, 96])), "VP8");
        assert!(is_rtp(&sent(&[0x80, 0x80 | 111])), "Opus with the marker");
        assert!(is_rtp(&sent(&[0x90, 97])), "RTX with an extension");
        assert!(!is_rtp(&sent(&[0x80, 200])), "a sender report");
        assert!(!is_rtp(&sent(&[0x81, 205])), "a NACK");
        assert!(!is_rtp(&sent(&[0x8f, 206])), "a PLI or TWCC");
        assert!(!is_rtp(&sent(&[0x00, 0x01])), "STUN");
        assert!(!is_rtp(&sent(&[22, 0xfe])), "DTLS");
        assert!(!is_rtp(&sent(&[])), "empty");
    }
}
