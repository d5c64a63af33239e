//! Connection quality (`ConnectionQualityUpdate`), as LiveKit's clients
//! show it: each participant's link is scored 1..5 from what its streams'
//! RTCP reports said over the last [`QUALITY_INTERVAL`] (the worst loss
//! and round trip of any of them, the worst jitter of its audio: a video
//! frame's packets share one timestamp and leave paced, so video's
//! interarrival jitter follows the sender's encoder and pacer, 50–300 ms
//! on a busy machine, more than the network), mapped to excellent, good or
//! poor; a participant whose media was connected and is not is lost (one
//! not connected yet stays unknown). When a score
//! changes class, everyone in the room hears the room's list. The same
//! reports also give `/metrics` its NACK counts.

use super::*;

/// How often links are scored.
pub(super) const QUALITY_INTERVAL: Duration = Duration::from_secs(5);

/// What a participant's streams reported since the last scoring.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Link {
    /// Worst fraction of packets lost (0..1).
    loss: f32,
    /// Worst round trip.
    rtt: Duration,
    /// Worst interarrival jitter.
    jitter: Duration,
}

impl Link {
    /// Takes one stream's report.
    pub(super) fn report(&mut self, loss: Option<f32>, rtt: Option<Duration>, jitter: Duration) {
        self.loss = self.loss.max(loss.unwrap_or(0.0).clamp(0.0, 1.0));
        self.rtt = self.rtt.max(rtt.unwrap_or_default());
        self.jitter = self.jitter.max(jitter);
    }

    /// A mean-opinion-like score, 1 (bad) to 5 (perfect): each per cent
    /// of loss costs 0.4 points (3 % is no longer excellent), round trips
    /// over 150 ms half a point per 100 ms, jitter over 30 ms half a point
    /// per 30 ms.
    pub(super) fn score(&self) -> f32 {
        let ms = |d: Duration| d.as_secs_f32() * 1000.0;
        let loss = self.loss * 100.0 * 0.4;
        let rtt = (ms(self.rtt) - 150.0).max(0.0) / 100.0 * 0.5;
        let jitter = (ms(self.jitter) - 30.0).max(0.0) / 30.0 * 0.5;
        (5.0 - loss - rtt - jitter).clamp(1.0, 5.0)
    }
}

/// The class of a score (`lk::ConnectionQuality`: poor 0, good 1, excellent 2).
fn class(score: f32) -> i32 {
    match score {
        s if s >= 4.0 => 2,
        s if s >= 3.0 => 1,
        _ => 0,
    }
}

/// `lk::ConnectionQuality::Lost`.
const LOST: i32 = 3;

impl Worker {
    /// Counts the NACKs a stream reported since its last report: received
    /// from a subscriber (`sending`), or sent to a publisher.
    pub(super) fn count_nacks(&mut self, id: PeerId, stream: (Mid, Option<Rid>, bool), total: u64) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let new = total.saturating_sub(peer.nacks.insert(stream, total).unwrap_or(0));
        match stream.2 {
            true => self.counts.nacks_received += new,
            false => self.counts.nacks_sent += new,
        }
    }

    /// Notes a stream's report for its participant's link quality;
    /// `jitter` is in the stream's RTP clock units (counted for audio only).
    pub(super) fn link_report(
        &mut self,
        id: PeerId,
        mid: Mid,
        loss: Option<f32>,
        rtt: Option<Duration>,
        jitter: u32,
    ) {
        let audio_clock = self
            .tracks
            .values()
            .find(|t| {
                let published = t.publisher == id.0 && t.mid == mid;
                let sent = || t.downs.iter().any(|d| d.sub == id.0 && d.mid == Some(mid));
                (id.1.publishes() && published) || (id.1.subscribes() && sent())
            })
            .filter(|t| t.spec.kind == Kind::Audio)
            .map(|t| t.clock_rate);
        let jitter = match audio_clock {
            Some(clock) => Duration::from_secs_f64(f64::from(jitter) / f64::from(clock.max(1))),
            None => Duration::ZERO,
        };
        if let Some(p) = self.participants.get_mut(&id.0) {
            p.link.report(loss, rtt, jitter);
        }
    }

    /// Scores every participant's link and tells each room that has a
    /// change (see the module's comment).
    pub(super) fn score_links(&mut self) {
        let mut changed: Vec<String> = Vec::new();
        for (pid, p) in self.participants.iter_mut() {
            let connected = [Role::Publisher, Role::Subscriber, Role::Single]
                .iter()
                .filter_map(|role| self.peers.get(&(*pid, *role)))
                .any(|peer| peer.connected && !peer.ice_down);
            let link = std::mem::take(&mut p.link);
            let score = link.score();
            let now = match (connected, p.quality) {
                (true, _) => (class(score), score),
                // Not connected yet: unknown, as the client starts it.
                (false, None) => continue,
                (false, Some(_)) => (LOST, 0.0),
            };
            if p.quality.map(|(c, _)| c) != Some(now.0) {
                tracing::debug!(pid = %pid, ?link, score, "link quality changes");
                if !changed.contains(&p.room) {
                    changed.push(p.room.clone());
                }
            }
            p.quality = Some(now);
        }
        for room in changed {
            let list: Vec<(ParticipantSid, i32, f32)> = self
                .participants
                .values()
                .filter(|p| p.room == room)
                .filter_map(|p| p.quality.map(|(c, s)| (p.participant_sid.clone(), c, s)))
                .collect();
            tracing::debug!(%room, ?list, "connection quality");
            self.tell_room(&room, || Notice::ConnectionQuality(list.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss: f32, rtt_ms: u64, jitter_ms: u64) -> Link {
        let mut l = Link::default();
        l.report(
            Some(loss),
            Some(Duration::from_millis(rtt_ms)),
            Duration::from_millis(jitter_ms),
        );
        l
    }

    #[test]
    fn scores_follow_loss_delay_and_jitter() {
        assert_eq!(Link::default().score(), 5.0);
        assert_eq!(class(link(0.0, 20, 5).score()), 2, "loopback");
        assert_eq!(class(link(0.03, 100, 10).score()), 1, "3 % loss");
        assert_eq!(class(link(0.0, 400, 10).score()), 1, "400 ms round trips");
        assert_eq!(class(link(0.10, 100, 10).score()), 0, "10 % loss");
        assert_eq!(
            class(link(0.02, 350, 90).score()),
            0,
            "everything a bit bad"
        );
        assert_eq!(link(1.0, 5000, 5000).score(), 1.0);
        // The worst report of the window counts.
        let mut l = link(0.0, 20, 5);
        l.report(Some(0.12), None, Duration::ZERO);
        l.report(Some(0.01), None, Duration::ZERO);
        assert_eq!(class(l.score()), 0);
    }
}
