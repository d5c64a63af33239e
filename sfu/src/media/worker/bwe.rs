//! What each subscriber's bandwidth estimator (str0m's, on TWCC) is asked
//! to find. `desired` is what its subscriptions want (the wanted layers'
//! bitrates): str0m probes toward it. `minimum` is what to sustain with
//! media and padding: while a flowing layer is withheld from a subscriber
//! because its estimate is too low, the next layer's bitrate, so padding
//! lets the estimate grow back. Without it the estimate follows the low
//! layer's traffic down and never lets the subscriber climb again. When a
//! subscriber is held below a layer it wants, the estimator starts again
//! from what it wants (at most once per [`RESTART_EVERY`]).

use super::*;
use crate::media::Layer;

/// The least time between two restarts of one subscriber's estimator.
const RESTART_EVERY: Duration = Duration::from_secs(10);

impl Worker {
    /// Sets every subscriber's estimator targets that changed (one pass
    /// over the tracks).
    pub(super) fn update_bwe_targets(&mut self) {
        let now = self.now;
        let mut targets: HashMap<Pid, (u64, u64)> = HashMap::new();
        for track in self.tracks.values() {
            let available = track.flowing(now);
            let layers = &track.spec.layers;
            for d in &track.downs {
                let budget = self.participants.get(&d.sub).and_then(|p| p.estimate);
                let free = choose_layer(d.want, layers, available, None);
                let capped = choose_layer(d.want, layers, available, budget);
                let step = match (free, capped) {
                    (Some(f), Some(c)) if f > c => {
                        let next = (c + 1..=f).find(|q| available[*q as usize]);
                        bitrate(layers, next.or(Some(f)))
                    }
                    _ => 0,
                };
                let wanted = bitrate(layers, choose_layer(d.want, layers, [true; 3], None));
                let t = targets.entry(d.sub).or_default();
                *t = (t.0 + step, t.1 + wanted);
            }
        }
        for (id, peer) in self.peers.iter_mut() {
            if id.1 != Role::Subscriber {
                continue;
            }
            let (minimum, desired) = targets.get(&id.0).copied().unwrap_or_default();
            let estimate = self.participants.get_mut(&id.0).map(|p| &mut p.estimate);
            // A subscriber held below a flowing layer it wants starts again
            // from what it wants, as a new one starts: an estimate that sank
            // with a low layer's traffic climbs back only slowly, and
            // congestion control brings it down within seconds if the
            // network cannot carry it. At most once per RESTART_EVERY, so a
            // link that truly cannot is only tried now and then.
            let restart = minimum > 0
                && estimate
                    .as_ref()
                    .is_some_and(|e| e.is_some_and(|e| e < desired))
                && peer
                    .bwe_restarted
                    .is_none_or(|t| now.duration_since(t) >= RESTART_EVERY);
            if peer.bwe_targets == (minimum, desired) && !restart {
                continue;
            }
            peer.bwe_targets = (minimum, desired);
            tracing::debug!(pid = %id.0, minimum, desired, restart, "bandwidth targets");
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let mut bwe = peer.rtc.bwe();
                if restart {
                    bwe.reset(Bitrate::bps(desired));
                }
                bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired))
            }));
            if let (true, Some(estimate)) = (restart, estimate) {
                peer.bwe_restarted = Some(now);
                *estimate = Some(desired);
            }
        }
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
