//! Dynacast: a publisher encodes only the simulcast layers someone watches.
//! Each housekeeping round finds, per video track, the best layer any
//! subscriber asked for (its quality or size; not capped by its bandwidth
//! estimate, which follows what it gets and would never let a paused layer
//! come back) and tells the publisher (`SubscribedQualityUpdate`)
//! to send that layer and those below it; with nobody watching, none.
//! More is asked at once, less only once it has held for [`SETTLE`], so a
//! subscriber switching back and forth does not restart encoders.

use super::*;

/// How long a lower need must hold before the publisher is told.
const SETTLE: Duration = Duration::from_secs(3);

/// What a publisher was told to send of one track.
#[derive(Debug)]
pub(super) struct Dynacast {
    /// The codec's name as livekit-client calls it (`vp8`, `h264`).
    codec: String,
    /// The best layer it sends (None: none); a publisher starts with all.
    told: Option<u8>,
    /// A lower need, and since when it holds.
    lower: Option<(Option<u8>, Instant)>,
}

impl Dynacast {
    /// A track whose publisher sends every layer, in `codec`.
    pub(super) fn new(codec: Option<Codec>) -> Self {
        let name = codec
            .and_then(mime::mime_type)
            .and_then(|m| m.split('/').nth(1))
            .unwrap_or_default()
            .to_ascii_lowercase();
        Dynacast {
            codec: name,
            told: Some(2),
            lower: None,
        }
    }

    /// Takes the need now; returns what to tell the publisher, if anything.
    fn update(&mut self, need: Option<u8>, now: Instant) -> Option<Option<u8>> {
        if need == self.told {
            self.lower = None;
            return None;
        }
        if need > self.told {
            self.lower = None;
            self.told = need;
            return Some(need);
        }
        match self.lower {
            Some((was, since)) if was == need && now.duration_since(since) >= SETTLE => {
                self.lower = None;
                self.told = need;
                Some(need)
            }
            Some((was, _)) if was == need => None,
            _ => {
                self.lower = Some((need, now));
                None
            }
        }
    }

    /// The signal message saying that layers up to `best` are wanted.
    fn message(&self, track_sid: &TrackSid, best: Option<u8>) -> Notice {
        let qualities: Vec<(u8, bool)> =
            (0..3).map(|q| (q, best.is_some_and(|b| q <= b))).collect();
        Notice::SubscribedQualities {
            track_sid: track_sid.clone(),
            codec: self.codec.clone(),
            qualities,
        }
    }
}

impl Worker {
    /// Tells each video track's publisher which layers are watched, when
    /// that changed (see the module's comment).
    pub(super) fn dynacast(&mut self, now: Instant) {
        for track in self.tracks.values_mut() {
            if track.spec.kind != Kind::Video {
                continue;
            }
            // Wishes, not bandwidth: a subscriber whose estimate sank while
            // it took a low layer must still find the higher one flowing
            // when its estimate recovers.
            let need = track
                .downs
                .iter()
                .filter_map(|d| choose_layer(d.want, &track.spec.layers, [true; 3], None))
                .max();
            let Some(best) = track.dynacast.update(need, now) else {
                continue;
            };
            tracing::debug!(pid = %track.publisher, track_sid = %track.spec.track_sid, ?best, "dynacast");
            if self.participants.contains_key(&track.publisher) {
                let notice = track.dynacast.message(&track.spec.track_sid, best);
                self.out.push_back(Output::Notice(track.publisher, notice));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_is_asked_at_once_and_less_once_it_holds() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut d = Dynacast::new(Some(Codec::Vp8));
        assert_eq!(d.codec, "vp8");
        // Everyone wants the top layer: nothing to say.
        assert_eq!(d.update(Some(2), at(0)), None);
        // Only the low layer is watched: said once it held for SETTLE.
        assert_eq!(d.update(Some(0), at(100)), None);
        assert_eq!(d.update(Some(0), at(2000)), None);
        assert_eq!(d.update(Some(0), at(3100)), Some(Some(0)));
        assert_eq!(d.update(Some(0), at(3200)), None);
        // A short dip to nothing, then back: nothing said.
        assert_eq!(d.update(None, at(4000)), None);
        assert_eq!(d.update(Some(0), at(5000)), None);
        assert_eq!(d.update(None, at(6000)), None);
        assert_eq!(d.update(None, at(8000)), None);
        assert_eq!(d.update(None, at(9000)), Some(None));
        // Someone wants the middle layer: at once.
        assert_eq!(d.update(Some(1), at(9100)), Some(Some(1)));
    }

    #[test]
    fn the_message_enables_the_best_layer_and_those_below() {
        let d = Dynacast::new(Some(Codec::H264));
        let sid = TrackSid::from("TR_a".to_owned());
        let Notice::SubscribedQualities {
            codec, qualities, ..
        } = d.message(&sid, Some(1))
        else {
            panic!("not a quality update");
        };
        assert_eq!(codec, "h264");
        assert_eq!(qualities, vec![(0, true), (1, true), (2, false)]);
        let Notice::SubscribedQualities { qualities, .. } = d.message(&sid, None) else {
            panic!("not a quality update");
        };
        assert!(qualities.iter().all(|(_, on)| !on));
    }
}
