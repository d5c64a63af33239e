//! What flows where inside a worker: a publisher's announced track becomes
//! a forwarded track when its m-line appears, and leaves every subscriber
//! when it goes; subscribers are added and removed (each change queued for
//! the next subscriber offer, see `negotiation.rs`), say what they want of
//! a track (their bandwidth estimators learn what that needs at the next
//! housekeeping round: `bwe.rs`).

use super::*;

impl Worker {
    /// A publisher m-line carries media: the announced track it was
    /// matched to becomes a forwarded track, and its room hears of it.
    pub(super) fn media_added(&mut self, pid: Pid, mid: Mid) {
        if self.tracks.contains_key(&(pid, mid)) {
            return;
        }
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        let Some(track_sid) = p.published.get(&mid).cloned() else {
            tracing::debug!(pid = %pid, %mid, "m-line without an announced track");
            return;
        };
        let Some(pos) = p.expected.iter().position(|s| s.track_sid == track_sid) else {
            return;
        };
        let spec = p.expected.remove(pos);
        let codec = p.codecs.get(&mid).copied();
        let clock_rate = codec.map_or(90_000, |(_, clock)| clock);
        let mime = codec.and_then(|(codec, _)| mime::mime_type(codec));
        tracing::info!(pid = %pid, %track_sid, %mid, "track published");
        let live = Notice::TrackLive {
            track_sid,
            mid: mid.to_string(),
            mime: mime.unwrap_or_default().to_owned(),
        };
        self.out.push_back(Output::Notice(pid, live));
        self.tracks.insert(
            (pid, mid),
            PubTrack {
                publisher: pid,
                spec,
                mid,
                clock_rate,
                seen: [None; 3],
                last_pli: [None; 3],
                downs: Vec::new(),
                dynacast: dynacast::Dynacast::new(codec.map(|(codec, _)| codec)),
            },
        );
    }

    /// The publisher stopped sending on `mid`: the track leaves every subscriber.
    pub(super) fn unpublish(&mut self, pid: Pid, mid: Mid) {
        let Some(track) = self.tracks.remove(&(pid, mid)) else {
            return;
        };
        tracing::debug!(pid = %pid, track_sid = %track.spec.track_sid, "track unpublished");
        if let Some(p) = self.participants.get_mut(&pid) {
            p.published.remove(&mid);
            p.codecs.remove(&mid);
            let notice = Notice::TrackEnded {
                track_sid: track.spec.track_sid.clone(),
            };
            self.out.push_back(Output::Notice(pid, notice));
        }
        for d in track.downs {
            if let (Some(out), Some(sub)) = (d.mid, self.participants.get_mut(&d.sub)) {
                sub.sub_mids.remove(&out);
                let left = d.track;
                sub.changes.push(SubChange::Remove { mid: out, left });
            }
            self.renegotiate(d.sub);
        }
    }

    /// Adds `pid` as a receiver of a track; its m-line comes with the
    /// next subscriber offer.
    pub(super) fn subscribe(
        &mut self,
        pid: Pid,
        publisher: Pid,
        track_sid: TrackSid,
        stream: String,
    ) {
        let Some(track) = self
            .tracks
            .values_mut()
            .find(|t| t.publisher == publisher && t.spec.track_sid == track_sid)
        else {
            tracing::debug!(pid = %pid, %track_sid, "subscribe to unknown track");
            return;
        };
        if track.downs.iter().any(|d| d.sub == pid) {
            return;
        }
        tracing::debug!(pid = %pid, %publisher, %track_sid, "subscribe");
        let want = if track.spec.kind == Kind::Audio {
            Want::Quality(0)
        } else {
            Want::Quality(2)
        };
        track.downs.push(Down {
            sub: pid,
            mid: None,
            want,
            track: DownTrack::new(track.clock_rate, None),
            pts: Vec::new(),
        });
        let kind = track.spec.kind;
        if let Some(p) = self.participants.get_mut(&pid) {
            p.asked_more = Some(self.now);
            p.changes.push(SubChange::Add {
                track_sid,
                stream,
                kind,
            });
        }
        self.renegotiate(pid);
    }

    /// Stops sending a track to `pid`; its m-line goes with the next offer.
    pub(super) fn unsubscribe(&mut self, pid: Pid, track_sid: &TrackSid) {
        let mut removed = None;
        for track in self
            .tracks
            .values_mut()
            .filter(|t| t.spec.track_sid == *track_sid)
        {
            if let Some(pos) = track.downs.iter().position(|d| d.sub == pid) {
                let down = track.downs.remove(pos);
                removed = down.mid.map(|mid| (mid, down.track));
            }
        }
        if let (Some((mid, left)), Some(p)) = (removed, self.participants.get_mut(&pid)) {
            p.sub_mids.remove(&mid);
            p.changes.push(SubChange::Remove { mid, left });
            self.renegotiate(pid);
        }
    }

    /// What `pid` wants of a track (a layer, a size, nothing).
    pub(super) fn settings(&mut self, pid: Pid, track_sid: &TrackSid, want: Want) {
        let mut asked_more = false;
        for track in self
            .tracks
            .values_mut()
            .filter(|t| t.spec.track_sid == *track_sid)
        {
            if let Some(d) = track.downs.iter_mut().find(|d| d.sub == pid) {
                let layer = |w| choose_layer(w, &track.spec.layers, [true; 3], None);
                if layer(want) > layer(d.want) {
                    asked_more = true;
                }
                d.want = want;
            }
        }
        if let (true, Some(p)) = (asked_more, self.participants.get_mut(&pid)) {
            p.asked_more = Some(self.now);
        }
    }
}
