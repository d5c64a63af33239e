//! What the worker does with each signal response: the SFU's offers for
//! the subscriber connection and its answers for the publisher's, our
//! tracks accepted or refused, the other participants' updates and who
//! speaks, a moderator's mute, and the leave. The join response, which
//! comes first, seeds the stats ([`stats_from_join`]).

use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;
use tokio::sync::mpsc;

use super::Worker;
use crate::lock;
use crate::signal::{self, leave_reason};
use crate::types::{ClientError, MediaEvent, Profile, Source, Stats};

/// The stats as the join response finds the call: our sid, the others
/// and their tracks.
pub(super) fn stats_from_join(join: &lk::JoinResponse) -> Stats {
    let mut s = Stats {
        sid: join
            .participant
            .as_ref()
            .map(|p| p.sid.clone())
            .unwrap_or_default(),
        ..Stats::default()
    };
    for p in &join.other_participants {
        s.participants.insert(p.identity.clone(), p.sid.clone());
        s.profiles.insert(p.identity.clone(), profile(p));
        for t in &p.tracks {
            record_track(&mut s, &p.identity, t);
        }
    }
    s
}

impl Worker {
    /// Handles one response; an error ends the session.
    pub(super) async fn on_response(&mut self, response: Resp) -> Result<(), ClientError> {
        match response {
            Resp::Offer(offer) => self.answer_subscriber_offer(offer).await?,
            Resp::Answer(answer) => {
                self.accept_publisher_answer(&answer)?;
                self.renegotiate().await?;
            }
            Resp::TrackPublished(published) => self.track_published(published).await?,
            Resp::RequestResponse(r) => self.refuse_pending_tracks(&r.message),
            Resp::Update(update) => self.participants_updated(update.participants),
            Resp::SpeakersChanged(changed) => self.speakers_changed(changed.speakers),
            Resp::Mute(mute) => self.muted_by_moderator(mute).await?,
            Resp::SubscribedQualityUpdate(update) => self.layers_wanted(update),
            Resp::Leave(leave) => {
                lock(&self.stats).closed = Some(leave_reason(&leave));
                return Err(ClientError::Refused("server asked us to leave".into()));
            }
            _ => {}
        }
        Ok(())
    }

    /// The SFU offers what we receive: answer on the subscriber connection.
    async fn answer_subscriber_offer(
        &mut self,
        offer: lk::SessionDescription,
    ) -> Result<(), ClientError> {
        let mids =
            (offer.mid_to_track_id.iter()).map(|(mid, sid)| (Mid::from(mid.as_str()), sid.clone()));
        self.remote_track_by_mid.extend(mids);
        let parsed =
            SdpOffer::from_sdp_string(&offer.sdp).map_err(|e| ClientError::Media(e.to_string()))?;
        let answer = self
            .subscriber
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| ClientError::Media(e.to_string()))?;
        self.send(signal::answer(answer.to_sdp_string(), offer.id))
            .await
    }

    /// The SFU answers our publisher offer (one without an offer pending is
    /// stale and ignored).
    fn accept_publisher_answer(
        &mut self,
        answer: &lk::SessionDescription,
    ) -> Result<(), ClientError> {
        let Some(pending) = self.publisher_offer.take() else {
            return Ok(());
        };
        let parsed = SdpAnswer::from_sdp_string(&answer.sdp)
            .map_err(|e| ClientError::Media(e.to_string()))?;
        self.publisher
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| ClientError::Media(e.to_string()))
    }

    /// Dynacast: which layers of our track someone receives (of every
    /// codec it is sent in).
    fn layers_wanted(&mut self, update: lk::SubscribedQualityUpdate) {
        let qualities = update.subscribed_codecs.iter().flat_map(|c| &c.qualities);
        let mut wanted: Vec<u8> = (qualities.filter(|q| q.enabled))
            .map(|q| q.quality.clamp(0, 2) as u8)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut stats = lock(&self.stats);
        stats.wanted_layers.insert(update.track_sid, wanted);
    }

    /// The server accepted a track we announced: it is offered, and the
    /// waiting `publish` gets its sid.
    async fn track_published(
        &mut self,
        published: lk::TrackPublishedResponse,
    ) -> Result<(), ClientError> {
        let Some(pending) = self.pending_tracks.remove(&published.cid) else {
            return Ok(());
        };
        let Some(info) = published.track else {
            return Ok(());
        };
        self.accepted(published.cid, info.sid, pending).await
    }

    /// A request was refused. The response does not say which, so every
    /// track still waiting for acceptance fails with the server's message.
    fn refuse_pending_tracks(&mut self, message: &str) {
        for (_, pending) in self.pending_tracks.drain() {
            let _ = pending
                .reply
                .send(Err(ClientError::Refused(message.to_owned())));
        }
    }

    /// Participants joined, changed or left (ourselves excepted).
    fn participants_updated(&mut self, participants: Vec<lk::ParticipantInfo>) {
        let mut s = lock(&self.stats);
        for p in &participants {
            if p.sid != s.sid {
                apply_participant(&mut s, p, self.media_events.as_ref());
            }
        }
        let Stats {
            video,
            published,
            layers,
            sources,
            ..
        } = &mut *s;
        video.retain(|sid| published.contains_key(sid));
        layers.retain(|sid, _| published.contains_key(sid));
        sources.retain(|sid, _| published.contains_key(sid));
    }

    /// Who speaks now: hands the loudest on, and keeps the active ones.
    fn speakers_changed(&mut self, speakers: Vec<lk::SpeakerInfo>) {
        let mut s = lock(&self.stats);
        if let Some(media_events) = &self.media_events {
            // The SFU lists speakers loudest first.
            let loudest = speakers.iter().find(|sp| sp.active).and_then(|sp| {
                s.participants
                    .iter()
                    .find(|(_, sid)| **sid == sp.sid)
                    .map(|(identity, _)| identity.clone())
            });
            let _ = media_events.send(MediaEvent::Speaker { identity: loudest });
        }
        for sp in speakers {
            s.speakers.retain(|x| x != &sp.sid);
            if sp.active {
                s.speakers.push(sp.sid);
            }
        }
    }

    /// A moderator muted (or unmuted) one of our tracks: comply and
    /// confirm, as livekit-client does.
    async fn muted_by_moderator(&mut self, mute: lk::MuteTrackRequest) -> Result<(), ClientError> {
        self.set_muted(mute.sid, mute.muted).await
    }

    /// Mutes (stops sending) or unmutes our track `sid`, and says so.
    pub(super) async fn set_muted(&mut self, sid: String, muted: bool) -> Result<(), ClientError> {
        let Some(mid) = self.own_track_mids.get(&sid) else {
            return Ok(());
        };
        for track in self.sending_tracks.iter_mut().filter(|t| t.mid == *mid) {
            track.muted = muted;
        }
        self.send(Req::Mute(lk::MuteTrackRequest { sid, muted }))
            .await
    }
}

/// Applies one participant's update. It carries the participant's full
/// track list: tracks missing from it (all of them, if it left) are gone.
fn apply_participant(
    s: &mut Stats,
    p: &lk::ParticipantInfo,
    media_events: Option<&mpsc::UnboundedSender<MediaEvent>>,
) {
    let left = p.state == lk::participant_info::State::Disconnected as i32;
    if let Some(media_events) = media_events {
        let gone = s
            .published
            .iter()
            .filter(|(_, who)| **who == p.identity)
            .map(|(sid, _)| sid)
            .filter(|sid| left || !p.tracks.iter().any(|t| t.sid == **sid));
        for sid in gone {
            let _ = media_events.send(MediaEvent::TrackGone {
                track_sid: sid.clone(),
            });
        }
    }
    s.published.retain(|_, who| who != &p.identity);
    if left {
        s.participants.remove(&p.identity);
        s.profiles.remove(&p.identity);
        return;
    }
    s.participants.insert(p.identity.clone(), p.sid.clone());
    let now = profile(p);
    if s.profiles.get(&p.identity) != Some(&now) {
        s.profiles.insert(p.identity.clone(), now.clone());
        if let Some(media_events) = media_events {
            let identity = p.identity.clone();
            let _ = media_events.send(MediaEvent::Profile {
                identity,
                profile: now,
            });
        }
    }
    if let Some(media_events) = media_events {
        announce_encrypted(&p.tracks, media_events);
    }
    for t in &p.tracks {
        let changed = if t.muted {
            s.muted.insert(t.sid.clone())
        } else {
            s.muted.remove(&t.sid)
        };
        if let (true, Some(media_events)) = (changed, media_events) {
            let _ = media_events.send(MediaEvent::Muted {
                track_sid: t.sid.clone(),
                muted: t.muted,
            });
        }
        record_track(s, &p.identity, t);
    }
}

/// What `p` shows of itself.
pub(super) fn profile(p: &lk::ParticipantInfo) -> Profile {
    Profile {
        name: p.name.clone(),
        metadata: p.metadata.clone(),
        attributes: p.attributes.clone(),
    }
}

/// Says which of `tracks` are end-to-end encrypted.
pub(super) fn announce_encrypted(
    tracks: &[lk::TrackInfo],
    media_events: &mpsc::UnboundedSender<MediaEvent>,
) {
    let none = lk::encryption::Type::None as i32;
    for t in tracks.iter().filter(|t| t.encryption != none) {
        let _ = media_events.send(MediaEvent::Encrypted {
            track_sid: t.sid.clone(),
        });
    }
}

/// Notes that `identity` publishes track `t` (its simulcast layers from
/// `layers`: deprecated in the protocol, but what OnAir's SFU and
/// livekit-client fill and read).
#[allow(deprecated)]
fn record_track(s: &mut Stats, identity: &str, t: &lk::TrackInfo) {
    s.published.insert(t.sid.clone(), identity.to_owned());
    if t.r#type == lk::TrackType::Video as i32 {
        s.video.insert(t.sid.clone());
    }
    if let Some(source) = Source::from_protocol(t.source) {
        s.sources.insert(t.sid.clone(), source);
    }
    if t.layers.len() > 1 {
        let mut layers = t.layers.clone();
        layers.sort_by_key(|l| l.quality);
        let sizes = layers.iter().map(|l| (l.width, l.height)).collect();
        s.layers.insert(t.sid.clone(), sizes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(sid: &str, video: bool, muted: bool) -> lk::TrackInfo {
        lk::TrackInfo {
            sid: sid.into(),
            r#type: if video {
                lk::TrackType::Video as i32
            } else {
                lk::TrackType::Audio as i32
            },
            source: if video {
                lk::TrackSource::Camera as i32
            } else {
                lk::TrackSource::Microphone as i32
            },
            muted,
            ..Default::default()
        }
    }

    /// `t` sent in two layers, the higher listed first.
    #[allow(deprecated)]
    fn simulcast(mut t: lk::TrackInfo) -> lk::TrackInfo {
        let layer = |quality: lk::VideoQuality, width, height| lk::VideoLayer {
            quality: quality as i32,
            width,
            height,
            ..Default::default()
        };
        t.layers = vec![
            layer(lk::VideoQuality::High, 1280, 720),
            layer(lk::VideoQuality::Low, 320, 180),
        ];
        t
    }

    fn participant(identity: &str, sid: &str, tracks: Vec<lk::TrackInfo>) -> lk::ParticipantInfo {
        lk::ParticipantInfo {
            identity: identity.into(),
            sid: sid.into(),
            tracks,
            ..Default::default()
        }
    }

    #[test]
    fn join_seeds_participants_and_their_tracks() {
        let join = lk::JoinResponse {
            participant: Some(participant("me", "PA_me", vec![])),
            other_participants: vec![participant(
                "ann",
                "PA_ann",
                vec![
                    simulcast(track("TR_cam", true, false)),
                    track("TR_mic", false, false),
                ],
            )],
            ..Default::default()
        };
        let s = stats_from_join(&join);
        assert_eq!(s.sid, "PA_me");
        assert_eq!(s.participants["ann"], "PA_ann");
        assert_eq!(s.published["TR_cam"], "ann");
        assert_eq!(s.published["TR_mic"], "ann");
        assert!(s.video.contains("TR_cam") && !s.video.contains("TR_mic"));
        assert_eq!(s.sources["TR_cam"], Source::Camera);
        assert_eq!(s.sources["TR_mic"], Source::Microphone);
        assert_eq!(s.layers["TR_cam"], [(320, 180), (1280, 720)]);
        assert!(!s.layers.contains_key("TR_mic"));
    }

    #[test]
    fn an_update_replaces_the_track_list_and_a_departure_clears_it() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut s = Stats::default();
        let ann = participant(
            "ann",
            "PA_ann",
            vec![track("TR_cam", true, false), track("TR_mic", false, true)],
        );
        apply_participant(&mut s, &ann, Some(&tx));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::Profile { identity, .. }) if identity == "ann"
        ));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::Muted { track_sid, muted: true }) if track_sid == "TR_mic"
        ));
        assert!(rx.try_recv().is_err(), "nothing was there to go");
        assert!(s.muted.contains("TR_mic"));
        apply_participant(&mut s, &ann, Some(&tx));
        assert!(rx.try_recv().is_err(), "no change, nothing said");

        let ann = participant("ann", "PA_ann", vec![track("TR_mic", false, false)]);
        apply_participant(&mut s, &ann, Some(&tx));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::TrackGone { track_sid }) if track_sid == "TR_cam"
        ));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::Muted { track_sid, muted: false }) if track_sid == "TR_mic"
        ));
        assert!(!s.published.contains_key("TR_cam") && !s.muted.contains("TR_mic"));

        let mut ann = ann.clone();
        ann.metadata = "seat 3".into();
        apply_participant(&mut s, &ann, Some(&tx));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::Profile { profile, .. }) if profile.metadata == "seat 3"
        ));
        assert_eq!(s.profiles["ann"].metadata, "seat 3");

        let mut gone = ann.clone();
        gone.state = lk::participant_info::State::Disconnected as i32;
        apply_participant(&mut s, &gone, Some(&tx));
        assert!(matches!(
            rx.try_recv(),
            Ok(MediaEvent::TrackGone { track_sid }) if track_sid == "TR_mic"
        ));
        assert!(s.participants.is_empty() && s.published.is_empty() && s.profiles.is_empty());
    }
}
