//! A client with one peer connection for both directions (livekit-client's
//! `/rtc/v1`). The client makes every offer: besides its own tracks, each
//! carries m-lines it only receives on (three of each kind at first). Our
//! answer puts the tracks waiting for the client on free ones, naming each
//! by its msid (`PA_…|TR_…`, as the browser groups tracks) and in
//! `mid_to_track`. When tracks wait, the client is asked for a new offer,
//! with as many more receiving m-lines as the free ones lack (LiveKit's
//! `MediaSectionsRequirement`). An m-line whose track ended carries the
//! next track of its kind: the browser sees a new msid on the receiver
//! and livekit-client takes it as the new track (checked in Chromium), so
//! a long call does not grow the client's connection.

use super::*;
use crate::sdp_scan::{receiving_mlines, set_msid};

/// Receiving m-lines taken from one client at most (an offer with more
/// only costs it the extra ones).
const MAX_SLOTS: usize = 1000;

/// A one-connection client's receiving m-lines.
#[derive(Default)]
pub(super) struct Slots {
    /// Every receiving m-line seen in its offers, and its kind.
    known: HashMap<Mid, Kind>,
    /// Those free to carry a track: freed ones first, then in offer order.
    free: Vec<(Mid, Kind)>,
    /// The msid stream (`PA_…|TR_…`) of each m-line carrying a track.
    streams: HashMap<Mid, String>,
    /// What was last sent on each free m-line that carried a track.
    left: HashMap<Mid, DownTrack>,
    /// An offer was asked for (or comes with the join) and has not come yet.
    pub asked: bool,
}

impl Slots {
    /// A client that just joined: its first offer is on its way.
    pub(super) fn new() -> Self {
        Slots {
            asked: true,
            ..Default::default()
        }
    }
}

impl Worker {
    /// After a one-connection client's `offer` was taken: its new
    /// receiving m-lines, the waiting tracks placed on them, and our answer
    /// (`sdp`) naming them. Any other client's answer is `sdp` as it is.
    pub(super) fn fill_slots(&mut self, pid: Pid, offer: &str, mut sdp: String) -> Answer {
        let mut placed = Vec::new();
        let mut mid_to_track = HashMap::new();
        if let Some(p) = self.participants.get_mut(&pid) {
            if let Some(slots) = &mut p.single {
                slots.asked = false;
                slots.learn(offer);
                for change in std::mem::take(&mut p.changes) {
                    if let Some(waits) = slots.place(change, &mut placed) {
                        p.changes.push(waits);
                    }
                }
                for (mid, track_sid, _) in &placed {
                    p.sub_mids.insert(*mid, track_sid.clone());
                }
                for (mid, stream) in &slots.streams {
                    if let Some(track) = p.sub_mids.get(mid) {
                        sdp = set_msid(&sdp, &mid.to_string(), stream, track.as_str());
                    }
                }
                mid_to_track = p
                    .sub_mids
                    .iter()
                    .map(|(m, s)| (m.to_string(), s.to_string()))
                    .collect();
            }
        }
        for (mid, track_sid, left) in &placed {
            bind_down(&mut self.tracks, pid, *mid, track_sid, left.as_ref());
        }
        if !placed.is_empty() {
            tracing::debug!(pid = %pid, placed = placed.len(), "tracks placed on receiving m-lines");
        }
        self.want_offer(pid);
        Answer { sdp, mid_to_track }
    }

    /// Asks a one-connection client for an offer when tracks wait for it
    /// and no request is out, with the receiving m-lines they lack.
    pub(super) fn want_offer(&mut self, pid: Pid) {
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        let Some(slots) = &mut p.single else {
            return;
        };
        // An ended track needs no offer: its m-line is free again.
        for change in std::mem::take(&mut p.changes) {
            match change {
                SubChange::Remove { mid, left } => slots.retire(mid, left),
                add => p.changes.push(add),
            }
        }
        if p.changes.is_empty() || slots.asked {
            return;
        }
        let lacking = |kind: Kind| {
            let waiting = p.changes.iter().filter(|c| c.adds(kind)).count();
            let free = slots.free.iter().filter(|(_, k)| *k == kind).count();
            waiting.saturating_sub(free) as u32
        };
        let notice = Notice::OfferWanted {
            audios: lacking(Kind::Audio),
            videos: lacking(Kind::Video),
        };
        slots.asked = true;
        tracing::debug!(pid = %pid, ?notice, "offer wanted");
        self.out.push_back(Output::Notice(pid, notice));
    }
}

impl Slots {
    /// Notes the receiving m-lines of `offer` not seen before as free.
    fn learn(&mut self, offer: &str) {
        for (mid, kind) in receiving_mlines(offer) {
            if self.known.len() >= MAX_SLOTS {
                tracing::info!("receiving m-lines over the limit ignored");
                return;
            }
            let mid = Mid::from(mid.as_str());
            let kind = if kind == "audio" {
                Kind::Audio
            } else {
                Kind::Video
            };
            if self.known.insert(mid, kind).is_none() {
                self.free.push((mid, kind));
            }
        }
    }

    /// Carries out `change` if it can be now (`placed` gets a placed
    /// track, and what its m-line carried before); gives it back if it
    /// waits for a free m-line.
    fn place(&mut self, change: SubChange, placed: &mut Vec<Placed>) -> Option<SubChange> {
        match change {
            SubChange::Add {
                track_sid,
                stream,
                kind,
            } => {
                let Some(i) = self.free.iter().position(|(_, k)| *k == kind) else {
                    return Some(SubChange::Add {
                        track_sid,
                        stream,
                        kind,
                    });
                };
                let (mid, _) = self.free.remove(i);
                self.streams.insert(mid, stream);
                placed.push((mid, track_sid, self.left.remove(&mid)));
            }
            SubChange::Remove { mid, left } => self.retire(mid, left),
        }
        None
    }
}

impl Slots {
    /// The track on `mid` ended (`left` is what was sent): the m-line is
    /// free again, and the first taken, so a replaced track (a new camera)
    /// lands where the old one was.
    fn retire(&mut self, mid: Mid, left: DownTrack) {
        if self.streams.remove(&mid).is_some() {
            if let Some(kind) = self.known.get(&mid) {
                self.free.insert(0, (mid, *kind));
                self.left.insert(mid, left);
            }
        }
    }
}

impl SubChange {
    /// Adds a track of `kind`.
    fn adds(&self, kind: Kind) -> bool {
        matches!(self, SubChange::Add { kind: k, .. } if *k == kind)
    }
}

/// A track placed on an m-line, and what the m-line carried before.
type Placed = (Mid, TrackSid, Option<DownTrack>);

/// The down track of `track_sid` toward `sub` that waits for an m-line
/// gets `mid`, continuing from what it carried before (`left`).
pub(super) fn bind_down(
    tracks: &mut HashMap<(Pid, Mid), PubTrack>,
    sub: Pid,
    mid: Mid,
    track_sid: &TrackSid,
    left: Option<&DownTrack>,
) {
    let waiting = tracks
        .values_mut()
        .filter(|t| t.spec.track_sid == *track_sid)
        .flat_map(|t| t.downs.iter_mut())
        .find(|d| d.sub == sub && d.mid.is_none());
    if let Some(d) = waiting {
        d.mid = Some(mid);
        if let Some(left) = left {
            d.track.continue_from(left);
        }
    }
}
