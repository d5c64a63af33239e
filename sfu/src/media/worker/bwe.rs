//! What each subscriber's bandwidth estimator (str0m's, on TWCC) is asked
//! to find. `desired` is what its subscriptions want (the wanted layers'
//! bitrates): str0m probes toward it. `minimum` is what to sustain with
//! media and padding: while a flowing layer is withheld from a subscriber
//! because its estimate is too low, the next layer's bitrate, so padding
//! lets the estimate grow back. Without it the estimate follows the low
//! layer's traffic down and never lets the subscriber climb again. When a
//! subscriber asks for more and is held below it, the estimator starts
//! again from what it wants (once per request, within [`RESTART_WITHIN`]).

use super::*;
use crate::media::Layer;

/// A request for more restarts the estimator only this soon after it.
const RESTART_WITHIN: Duration = Duration::from_secs(10);

impl Worker {
    /// Sets every subscriber's estimator targets that changed (one pass
    /// over the tracks).
    pub(super) fn update_bwe_targets(&mut self) {
        let now = self.now;
        let mut targets: HashMap<Pid, Targets> = HashMap::new();
        for track in self.tracks.values() {
            let available = track.flowing(now);
            let layers = &track.spec.layers;
            for d in &track.downs {
                let budget = self.participants.get(&d.sub).and_then(|p| p.estimate);
                let free = choose_layer(d.want, layers, available, None);
                let capped = d
                    .track
                    .target()
                    .or_else(|| choose_layer(d.want, layers, available, budget));
                let step = match (free, capped) {
                    (Some(f), Some(c)) if f > c => {
                        let next = (c + 1..=f).find(|q| available[*q as usize]);
                        bitrate(layers, next.or(Some(f)))
                    }
                    _ => 0,
                };
                let wish = choose_layer(d.want, layers, [true; 3], None);
                let t = targets.entry(d.sub).or_default();
                t.minimum += step;
                t.desired += bitrate(layers, wish);
                // Held below the very layer it wished for, now flowing.
                t.held_from_wish |= free == wish && capped < free;
            }
        }
        for (id, peer) in self.peers.iter_mut() {
            if !id.1.subscribes() {
                continue;
            }
            if let Some(p) = self.participants.get_mut(&id.0) {
                let t = targets.get(&id.0).copied().unwrap_or_default();
                retarget(peer, p, t, now);
            }
        }
    }
}

/// What one subscriber's estimator is to find, summed over its tracks.
#[derive(Clone, Copy, Default)]
struct Targets {
    /// Bits per second to sustain (the next layer of those withheld).
    minimum: u64,
    /// Bits per second of every wanted layer.
    desired: u64,
    /// A layer it wished for flows and is withheld for bandwidth.
    held_from_wish: bool,
}

/// Gives a subscriber's estimator its `(minimum, desired)` targets if they
/// changed, and starts it again if it asked for more and is held below.
fn retarget(peer: &mut Peer, p: &mut Participant, t: Targets, now: Instant) {
    let (minimum, desired) = (t.minimum, t.desired);
    // A subscriber that asked for more (a higher layer, a new track) and
    // is held below it starts again from what it wants, as a new one
    // starts: its estimate may only have followed the smaller load down,
    // and climbs back slowly. Congestion control brings it down within
    // seconds if the network cannot carry it. Only once, and only while the
    // request is fresh: an estimate that stays below what is wanted is a
    // narrow link's, and trying it again would overload it.
    let restart = t.held_from_wish
        && p.estimate.is_some_and(|e| e < desired)
        && p.asked_more.is_some_and(|t| {
            now.duration_since(t) < RESTART_WITHIN && peer.bwe_restarted.is_none_or(|r| r < t)
        });
    if peer.bwe_targets == (minimum, desired) && !restart {
        return;
    }
    peer.bwe_targets = (minimum, desired);
    tracing::debug!(pid = %p.participant_sid, minimum, desired, restart, "bandwidth targets");
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut bwe = peer.rtc.bwe();
        if restart {
            bwe.reset(Bitrate::bps(desired));
        }
        bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired))
    }));
    if restart {
        peer.bwe_restarted = Some(now);
        p.estimate = Some(desired);
    }
}

/// The bitrate of layer `quality` (of the best layer below it if it has
/// none listed; 0 for none or a track without simulcast).
fn bitrate(layers: &[Layer], quality: Option<u8>) -> u64 {
    let Some(q) = quality else {
        return 0;
    };
    layers
        .iter()
        .filter(|l| l.quality <= q)
        .max_by_key(|l| l.quality)
        .map_or(0, |l| u64::from(l.bitrate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_bitrate_is_its_own_or_the_best_below() {
        let layer = |quality, bitrate| Layer {
            quality,
            width: 0,
            height: 0,
            bitrate,
        };
        let layers = vec![layer(0, 150_000), layer(2, 1_700_000)];
        assert_eq!(bitrate(&layers, Some(2)), 1_700_000);
        assert_eq!(bitrate(&layers, Some(1)), 150_000);
        assert_eq!(bitrate(&layers, None), 0);
        assert_eq!(bitrate(&[], Some(2)), 0);
    }
}
