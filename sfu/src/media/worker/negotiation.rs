//! Setting peers up and changing them: joins, offers and answers,
//! renegotiation, leaving. Every change to a subscriber waits for its
//! previous offer to be answered. What the changes are (tracks appearing,
//! subscriptions) is decided in `tracks.rs`.

use str0m::error::{IceError, RtcError, SdpError};

use super::*;

/// Why a participant's peer connections could not be set up, or could not
/// take the client's offer.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    /// str0m panicked building a peer connection.
    #[error("cannot create peer connection")]
    CreatePanicked,
    /// A configured ICE candidate address is not usable.
    #[error("{0}")]
    Candidate(#[from] IceError),
    /// The participant's subscriber connection is gone.
    #[error("no subscriber")]
    NoSubscriber,
    /// str0m panicked making the first subscriber offer.
    #[error("subscriber offer panicked")]
    SubscriberOfferPanicked,
    /// str0m had nothing to offer on the subscriber connection.
    #[error("no subscriber offer")]
    NoSubscriberOffer,
    /// The client's offer is not SDP str0m reads.
    #[error("bad offer: {0}")]
    BadOffer(#[source] SdpError),
    /// The offer names a participant this worker does not have.
    #[error("unknown participant")]
    UnknownParticipant,
    /// str0m panicked on the client's offer.
    #[error("offer handling panicked")]
    OfferPanicked,
    /// str0m refused the client's offer.
    #[error("offer refused: {0}")]
    OfferRefused(#[source] RtcError),
}

impl Worker {
    /// Carries out one command from a room or a session.
    pub(super) fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                pid,
                room,
                identity,
                participant_sid,
                can_publish_data,
                single_pc,
                // The thread around the worker delivers its notices.
                notices: _,
                tracks: _,
                reply,
            } => {
                let result = self.join(pid, room, identity, participant_sid, single_pc);
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.can_publish_data = can_publish_data;
                }
                let _ = reply.send(result);
            }
            Command::PublisherOffer { pid, sdp, reply } => {
                let result = self.publisher_offer(pid, &sdp);
                let _ = reply.send(result);
                self.process_events();
            }
            Command::SubscriberAnswer { pid, sdp } => self.subscriber_answer(pid, &sdp),
            Command::ExpectTrack { pid, spec } => {
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.expected.push(spec);
                }
            }
            Command::Subscribe {
                pid,
                publisher,
                track_sid,
                stream,
            } => self.subscribe(pid, publisher, track_sid, stream),
            Command::Unsubscribe { pid, track_sid } => self.unsubscribe(pid, &track_sid),
            Command::Settings {
                pid,
                track_sid,
                want,
            } => self.settings(pid, &track_sid, want),
            Command::Resume { pid } => self.resume(pid),
            Command::Leave { pid } => self.leave(pid),
            Command::SendData { pid, packet } => self.deliver_data(pid, "_reliable", &packet),
            Command::DataPermission { pid, allowed } => {
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.can_publish_data = allowed;
                }
            }
            // Figures of the thread around the worker: `runtime.rs` answers.
            Command::Stats { .. } => {}
        }
    }

    /// Creates one of a participant's peer connections (ICE-lite, our
    /// candidates, a ufrag routed to this worker).
    pub(super) fn new_rtc(&mut self, pid: Pid, role: Role) -> Result<(), NegotiationError> {
        let ufrag = crate::ids::random(16);
        let creds = IceCreds {
            ufrag: ufrag.clone(),
            pass: crate::ids::random(32),
        };
        let now = self.now;
        let mut rtc = catch_unwind(|| {
            Rtc::builder()
                .set_ice_lite(true)
                .set_rtp_mode(true)
                .set_local_ice_credentials(creds)
                .clear_codecs()
                .enable_opus(true, false)
                .enable_vp8(true)
                .enable_h264(true)
                .enable_bwe(role.subscribes().then(|| Bitrate::kbps(1500)))
                .set_stats_interval(Some(STATS_EVERY))
                .build(now)
        })
        .map_err(|_| NegotiationError::CreatePanicked)?;
        for c in &self.candidates {
            let candidate = Candidate::host(*c, "udp")?;
            rtc.add_local_candidate(candidate);
        }
        self.ufrags.add((pid, role), &ufrag);
        self.peers.insert(
            (pid, role),
            Peer {
                rtc,
                ufrags: vec![ufrag],
                next_timeout: now,
                negotiated: None,
                connected: false,
                ice_down: false,
                written: false,
                owed: 0,
                settled_in: 0,
                #[cfg(test)]
                panics: false,
                bwe_targets: (0, 0),
                bwe_restarted: None,
                channels: HashMap::new(),
                labels: HashMap::new(),
                nacks: HashMap::new(),
            },
        );
        Ok(())
    }

    /// Creates a participant's peer connections (one, or two); returns
    /// the first subscriber offer, if it has two.
    pub(super) fn join(
        &mut self,
        pid: Pid,
        room: String,
        identity: String,
        participant_sid: ParticipantSid,
        single_pc: bool,
    ) -> Result<Option<String>, NegotiationError> {
        if single_pc {
            self.new_rtc(pid, Role::Single)?;
        } else {
            self.new_rtc(pid, Role::Publisher)?;
            self.new_rtc(pid, Role::Subscriber)?;
        }
        self.participants.insert(
            pid,
            Participant {
                room,
                identity,
                participant_sid,
                expected: Vec::new(),
                published: HashMap::new(),
                codecs: HashMap::new(),
                pending_offer: None,
                last_offer: None,
                restart_ice: false,
                changes: Vec::new(),
                sub_mids: HashMap::new(),
                level: 0.0,
                heard: None,
                speaking: false,
                estimate: None,
                asked_more: None,
                link: Default::default(),
                quality: None,
                can_publish_data: false,
                single: single_pc.then(single::Slots::new),
            },
        );
        if single_pc {
            // The client's offer comes with its join (or right after).
            return Ok(None);
        }
        // The first subscriber offer carries the data channels, so even a
        // participant that never publishes can receive data.
        let peer = self
            .peers
            .get_mut(&(pid, Role::Subscriber))
            .ok_or(NegotiationError::NoSubscriber)?;
        let offer = catch_unwind(AssertUnwindSafe(|| {
            let mut api = peer.rtc.sdp_api();
            api.add_channel("_reliable".into());
            api.add_channel_with_config(ChannelConfig {
                label: "_lossy".into(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
            api.apply()
        }))
        .map_err(|_| NegotiationError::SubscriberOfferPanicked)?;
        let (offer, pending) = offer.ok_or(NegotiationError::NoSubscriberOffer)?;
        let sdp = offer.to_sdp_string();
        if let Some(p) = self.participants.get_mut(&pid) {
            p.pending_offer = Some(pending);
            p.last_offer = Some((sdp.clone(), HashMap::new()));
        }
        self.drain((pid, Role::Subscriber));
        Ok(Some(sdp))
    }

    /// The client came back on a new signal connection: its subscriber
    /// connection restarts ICE (its address may have changed), after the
    /// offer that may have been lost with the old connection, if any.
    pub(super) fn resume(&mut self, pid: Pid) {
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        if let Some(slots) = &mut p.single {
            // The client restarts ICE with its next offer; ask for one
            // again if the last request went with the old socket.
            slots.asked = false;
            return self.renegotiate(pid);
        }
        p.restart_ice = true;
        if p.pending_offer.is_some() {
            if let Some((sdp, mid_to_track)) = p.last_offer.clone() {
                let notice = Notice::SubscriberOffer { sdp, mid_to_track };
                self.out.push_back(Output::Notice(pid, notice));
            }
            return;
        }
        self.renegotiate(pid);
    }

    /// Answers the client's publisher offer, matching each m-line to the
    /// track announced for it (and, on a client's only connection, its
    /// receiving m-lines to the tracks waiting to be sent to it).
    pub(super) fn publisher_offer(
        &mut self,
        pid: Pid,
        sdp: &str,
    ) -> Result<Answer, NegotiationError> {
        let tracks = msid_tracks(sdp);
        let offered = sdp;
        let sdp = self.with_preferred_codecs(pid, sdp, &tracks);
        let offer = SdpOffer::from_sdp_string(&sdp).map_err(NegotiationError::BadOffer)?;
        let id = self.peer_of(pid, Role::Publisher);
        let peer = self
            .peers
            .get_mut(&id)
            .ok_or(NegotiationError::UnknownParticipant)?;
        let answer = catch_unwind(AssertUnwindSafe(|| peer.rtc.sdp_api().accept_offer(offer)))
            .map_err(|_| NegotiationError::OfferPanicked)?
            .map_err(NegotiationError::OfferRefused)?;
        peer.negotiated.get_or_insert(self.now);
        // Remember which client track each m-line carries before MediaAdded fires.
        if let Some(p) = self.participants.get_mut(&pid) {
            for (mid, client_track_id) in &tracks {
                if let Some(pos) = p
                    .expected
                    .iter()
                    .position(|s| s.client_track_id == *client_track_id)
                {
                    let spec = p.expected.remove(pos);
                    let mid = Mid::from(mid.as_str());
                    p.published.insert(mid, spec.track_sid.clone());
                    p.expected.push(spec); // kept until the track is created in media_added
                }
            }
        }
        // str0m answers in its own codec order; the browser sends the first.
        let sdp = self.with_preferred_codecs(pid, &answer.to_sdp_string(), &tracks);
        if let Some(p) = self.participants.get_mut(&pid) {
            for mid in tracks.keys() {
                if let Some((name, clock)) = first_codec(&sdp, mid) {
                    p.codecs
                        .insert(Mid::from(mid.as_str()), (Codec::from(name), clock));
                }
            }
        }
        // A client ICE restart (after a network change) gave us a new ufrag.
        if let Some(ufrag) = ice_ufrag(&sdp) {
            if self.ufrags.get(ufrag.as_bytes()).is_none() {
                tracing::debug!(pid = %pid, "publisher ICE restart");
                self.ufrags.add(id, ufrag);
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.ufrags.push(ufrag.to_owned());
                }
            }
        }
        let answer = self.fill_slots(pid, offered, sdp);
        self.drain(id);
        Ok(answer)
    }

    /// `sdp` (the publisher's offer, or our answer) with each announced
    /// track's codec first on its m-line, so the browser sends the codec
    /// the track was published with.
    fn with_preferred_codecs(
        &self,
        pid: Pid,
        sdp: &str,
        tracks: &HashMap<String, String>,
    ) -> String {
        let Some(p) = self.participants.get(&pid) else {
            return sdp.to_owned();
        };
        let mut sdp = sdp.to_owned();
        for (mid, client_track_id) in tracks {
            let codec = p
                .expected
                .iter()
                .find(|s| s.client_track_id == *client_track_id)
                .and_then(|s| s.codec.as_deref());
            if let Some(codec) = codec {
                sdp = prefer_codec(&sdp, mid, codec);
            }
        }
        sdp
    }

    /// Takes the client's answer to our subscriber offer, then sends the
    /// changes queued meanwhile.
    pub(super) fn subscriber_answer(&mut self, pid: Pid, sdp: &str) {
        let Some(pending) = self
            .participants
            .get_mut(&pid)
            .and_then(|p| p.pending_offer.take())
        else {
            tracing::debug!(pid = %pid, "answer without a pending offer");
            return;
        };
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(a) => a,
            Err(e) => {
                tracing::info!(pid = %pid, error = %e, "bad subscriber answer");
                return;
            }
        };
        let Some(peer) = self.peers.get_mut(&(pid, Role::Subscriber)) else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            peer.rtc.sdp_api().accept_answer(pending, answer)
        }));
        match result {
            Ok(Ok(())) => tracing::debug!(pid = %pid, "subscriber answer accepted"),
            Ok(Err(e)) => tracing::info!(pid = %pid, error = %e, "subscriber answer refused"),
            Err(_) => return self.fail(pid, PeerFailure::AnswerPanicked),
        }
        self.drain((pid, Role::Subscriber));
        self.renegotiate(pid);
        self.process_events();
    }

    /// Sends the subscriber a new offer with the queued changes, unless one is in flight.
    pub(super) fn renegotiate(&mut self, pid: Pid) {
        let Some(p) = self.participants.get_mut(&pid) else {
            return;
        };
        if p.single.is_some() {
            return self.want_offer(pid);
        }
        if p.pending_offer.is_some() || (p.changes.is_empty() && !p.restart_ice) {
            return;
        }
        let changes = std::mem::take(&mut p.changes);
        let restart = std::mem::take(&mut p.restart_ice);
        let Some(peer) = self.peers.get_mut(&(pid, Role::Subscriber)) else {
            return;
        };
        let Some(Applied {
            offer,
            added,
            new_creds,
        }) = apply_sub_changes(peer, &changes, restart)
        else {
            return self.fail(pid, PeerFailure::RenegotiationPanicked);
        };
        // Routed before the offer naming it leaves.
        if let Some(creds) = new_creds {
            self.ufrags.add((pid, Role::Subscriber), &creds.ufrag);
            peer.ufrags.push(creds.ufrag);
        }
        for (mid, track_sid) in &added {
            p.sub_mids.insert(*mid, track_sid.clone());
            single::bind_down(&mut self.tracks, pid, *mid, track_sid, None);
        }
        if let Some((offer, pending)) = offer {
            tracing::debug!(pid = %pid, tracks = p.sub_mids.len(), restart, "subscriber offer");
            peer.negotiated.get_or_insert(self.now);
            p.pending_offer = Some(pending);
            let mid_to_track: HashMap<String, String> = p
                .sub_mids
                .iter()
                .map(|(m, s)| (m.to_string(), s.to_string()))
                .collect();
            let sdp = offer.to_sdp_string();
            p.last_offer = Some((sdp.clone(), mid_to_track.clone()));
            let notice = Notice::SubscriberOffer { sdp, mid_to_track };
            self.out.push_back(Output::Notice(pid, notice));
        }
        self.drain((pid, Role::Subscriber));
    }

    /// Removes a participant: its peers, its routes and its tracks.
    pub(super) fn leave(&mut self, pid: Pid) {
        let Some(p) = self.participants.remove(&pid) else {
            return;
        };
        for role in [Role::Publisher, Role::Subscriber, Role::Single] {
            if let Some(peer) = self.peers.remove(&(pid, role)) {
                for ufrag in &peer.ufrags {
                    self.ufrags.remove(ufrag);
                }
            }
        }
        self.by_addr.retain(|_, id| id.0 != pid);
        // Its tracks disappear from every subscriber.
        let gone: Vec<Mid> = self
            .tracks
            .keys()
            .filter(|(owner, _)| *owner == pid)
            .map(|(_, mid)| *mid)
            .collect();
        for mid in gone {
            self.unpublish(pid, mid);
        }
        for track in self.tracks.values_mut() {
            track.downs.retain(|d| d.sub != pid);
        }
        tracing::debug!(pid = %pid, room = %p.room, "participant left media");
    }

    /// Drops a participant whose media failed; its session hears why.
    pub(super) fn fail(&mut self, pid: Pid, reason: PeerFailure) {
        tracing::warn!(pid = %pid, %reason, "dropping participant's media");
        if self.participants.contains_key(&pid) {
            self.out
                .push_back(Output::Notice(pid, Notice::Closed { reason }));
        }
        self.leave(pid);
    }
}

/// What queued changes made of a subscriber connection's SDP.
struct Applied {
    /// The offer to send, if anything changed.
    offer: Option<(SdpOffer, SdpPendingOffer)>,
    /// The new m-lines, with the track each carries.
    added: Vec<(Mid, TrackSid)>,
    /// Our new ICE credentials, after a restart.
    new_creds: Option<IceCreds>,
}

/// Applies `changes` (and an ICE restart) to a subscriber connection;
/// `None` if str0m panicked.
fn apply_sub_changes(peer: &mut Peer, changes: &[SubChange], restart: bool) -> Option<Applied> {
    let mut added: Vec<(Mid, TrackSid)> = Vec::new();
    let mut new_creds = None;
    let offer = catch_unwind(AssertUnwindSafe(|| {
        let mut api = peer.rtc.sdp_api();
        if restart {
            new_creds = Some(api.ice_restart(true));
        }
        for change in changes {
            match change {
                SubChange::Add {
                    track_sid,
                    stream,
                    kind,
                } => {
                    let mid = api.add_media(
                        kind.media_kind(),
                        Direction::SendOnly,
                        Some(stream.clone()),
                        Some(track_sid.to_string()),
                        None,
                    );
                    added.push((mid, track_sid.clone()));
                }
                SubChange::Remove { mid, .. } => api.stop_media(*mid),
            }
        }
        api.apply()
    }))
    .ok()?;
    Some(Applied {
        offer,
        added,
        new_creds,
    })
}
