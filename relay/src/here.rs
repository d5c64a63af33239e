//! What a link publishes here: each far participant under its own
//! identity, showing its name, metadata and attributes, and each far track
//! as a copy with the same codec and, for a simulcast track, the same
//! layers, packet by packet as they arrive ([`crate::copy`]), muted when
//! the far track is.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_bus::Publisher;
use onair_client::{Client, Codec, MediaEvent, Profile, RemotePacket};

use crate::copy::{local_track, TrackCopy, RIDS};
use crate::receivers::{Receivers, TOP};
use crate::token;
use crate::want::Want;
use crate::RelayConfig;

/// A participant that could not join here is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Far tracks remembered as gone (see [`Here::gone`]).
const MAX_GONE: usize = 64;

/// Everyone and everything a link publishes here.
pub(crate) struct Here {
    config: Arc<RelayConfig>,
    /// The call, the far node, and the participants to carry now.
    want: Want,
    /// By identity; `Err` holds when joining last failed.
    relayed: HashMap<String, Result<Relayed, Instant>>,
    /// By far track: the lower receivers (a bit per quality) tuned to it,
    /// or told to drop it (they have no layer of it to carry).
    settled: HashMap<String, u8>,
    /// Far tracks that ended, newest last: a frame of one still in flight
    /// must not copy it again (a copy nobody would end).
    gone: VecDeque<String>,
}

/// One far participant, published here.
struct Relayed {
    client: Client,
    /// What it was last told to show.
    shown: Profile,
    /// By the far track sid.
    tracks: HashMap<String, TrackCopy>,
    /// Keyframe requests this node made so far (our count).
    keyframe_requests: u64,
}

impl Here {
    pub(crate) fn new(config: Arc<RelayConfig>, want: Want) -> Here {
        Here {
            config,
            want,
            relayed: HashMap::new(),
            settled: HashMap::new(),
            gone: VecDeque::new(),
        }
    }

    /// Handles what receiver `quality` handed on.
    pub(crate) async fn event(
        &mut self,
        receivers: &mut Receivers,
        quality: u8,
        event: MediaEvent,
    ) {
        match event {
            MediaEvent::Packet(packet) => self.packet(receivers, quality, packet).await,
            MediaEvent::TrackGone { track_sid } => self.track_gone(&track_sid),
            MediaEvent::Muted { track_sid, muted } if quality == TOP => {
                self.muted(&track_sid, muted)
            }
            // One not joined here yet shows it when it joins (the main
            // receiver keeps every far profile).
            MediaEvent::Profile { identity, profile } if quality == TOP => {
                if let Some(Ok(relayed)) = self.relayed.get_mut(&identity) {
                    relayed.show(&profile);
                }
            }
            _ => {}
        }
    }

    /// Publishes `packet` here in its layer; the main receiver's first
    /// packet of a track makes its copy (joining its participant first).
    async fn packet(&mut self, receivers: &mut Receivers, quality: u8, packet: RemotePacket) {
        if quality == TOP {
            self.copy(receivers, &packet).await;
        }
        let far: &str = &packet.track_sid;
        let Some(Ok(relayed)) = self.relayed.get_mut(&*packet.identity) else {
            return;
        };
        let Some(copy) = relayed.tracks.get_mut(far) else {
            return;
        };
        let layer = copy.layer_of(quality);
        let lower = receivers.get(quality).filter(|_| quality != TOP);
        if let Some(r) = lower.filter(|_| first(&mut self.settled, quality, far)) {
            match layer {
                Some(_) => {
                    r.set_quality(far, quality);
                    r.request_keyframe(far);
                }
                // A track with no layer for this receiver here.
                None => r.subscribe(far, false),
            }
        }
        let Some(layer) = layer else {
            return;
        };
        if let Some(out) = copy.rewrite(layer, &packet) {
            relayed.client.send_packet(&copy.sid, copy.rid(layer), out);
        }
    }

    /// Makes the copy of `packet`'s track here if it has none, with the
    /// far track's layers, and has a receiver take each lower layer.
    async fn copy(&mut self, receivers: &mut Receivers, packet: &RemotePacket) {
        let far: &str = &packet.track_sid;
        if let Some(Ok(relayed)) = self.relayed.get(&*packet.identity) {
            if relayed.tracks.contains_key(far) {
                return;
            }
        }
        if self.gone.iter().any(|g| g == far) {
            return;
        }
        let Some(relayed) = self.relayed(receivers, &packet.identity).await else {
            return;
        };
        let mut sizes = match receivers.main() {
            Some(main) if packet.codec != Codec::Opus => {
                main.stats().layers.remove(far).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        sizes.truncate(RIDS.len());
        let track = local_track(far, packet.codec, &sizes);
        let sid = match relayed.client.publish(track).await {
            Ok(sid) => sid,
            Err(e) => {
                return tracing::warn!(identity = %packet.identity, error = %e, "relayed track refused here")
            }
        };
        tracing::info!(identity = %packet.identity, %far, here = %sid, layers = sizes.len().max(1), "relaying a track");
        let copy = TrackCopy::new(sid, packet.codec, sizes);
        let (video, layers) = (copy.video, copy.sizes.len());
        relayed.tracks.insert(far.to_owned(), copy);
        if !video {
            return;
        }
        if let Some(main) = receivers.main() {
            main.set_quality(far, TOP);
            main.request_keyframe(far);
        }
        for quality in 0..layers.saturating_sub(1) as u8 {
            receivers.ensure(quality).await;
        }
    }

    /// Joins here every participant to carry not here yet (one whose
    /// join failed, once [`RETRY_AFTER`] has passed).
    pub(crate) async fn join_all(&mut self, receivers: &Receivers) {
        let identities: Vec<String> = (self.want.participants.iter())
            .map(|p| p.identity.clone())
            .collect();
        for identity in identities {
            self.relayed(receivers, &identity).await;
        }
    }

    /// Participant `identity` here, joining it if it is one to carry and
    /// new, showing what it shows on the far node.
    async fn relayed(&mut self, receivers: &Receivers, identity: &str) -> Option<&mut Relayed> {
        let retry = match self.relayed.get(identity) {
            Some(Ok(_)) => false,
            Some(Err(failed)) => failed.elapsed() >= RETRY_AFTER,
            None => true,
        };
        if retry {
            let want = &self.want;
            let participant = want.participants.iter().find(|p| p.identity == identity)?;
            let token = token::relayed(
                &self.config.key,
                &want.far,
                &want.cid,
                identity,
                &participant.name,
            );
            let joined = match Client::connect_sending_packets(&self.config.url, &token).await {
                Ok(client) => {
                    let mut relayed = Relayed {
                        client,
                        shown: Profile {
                            name: participant.name.clone(),
                            ..Profile::default()
                        },
                        tracks: HashMap::new(),
                        keyframe_requests: 0,
                    };
                    let far = receivers
                        .main()
                        .map(|m| m.stats().profiles.remove(identity));
                    if let Some(profile) = far.flatten() {
                        relayed.show(&profile);
                    }
                    Ok(relayed)
                }
                Err(e) => {
                    tracing::warn!(%identity, error = %e, "relayed participant refused here");
                    Err(Instant::now())
                }
            };
            self.relayed.insert(identity.to_owned(), joined);
        }
        self.relayed.get_mut(identity)?.as_mut().ok()
    }

    /// The far track `sid` was muted or unmuted: so is its copy here.
    fn muted(&mut self, sid: &str, muted: bool) {
        for relayed in self.relayed.values_mut().filter_map(|r| r.as_mut().ok()) {
            if let Some(track) = relayed.tracks.get(sid) {
                relayed.client.set_muted(&track.sid, muted);
            }
        }
    }

    /// The far track `sid` ended: so does its copy here.
    fn track_gone(&mut self, sid: &str) {
        self.settled.remove(sid);
        if !self.gone.iter().any(|g| g == sid) {
            if self.gone.len() == MAX_GONE {
                self.gone.pop_front();
            }
            self.gone.push_back(sid.to_owned());
        }
        for relayed in self.relayed.values_mut().filter_map(|r| r.as_mut().ok()) {
            if let Some(track) = relayed.tracks.remove(sid) {
                relayed.client.unpublish(&track.sid);
            }
        }
    }

    /// The participants to carry are now `carried`: those no longer among
    /// them leave here ([`Here::join_all`] joins new ones).
    pub(crate) async fn keep_only(&mut self, carried: Vec<Publisher>) {
        self.want.participants = carried;
        let carried = &self.want.participants;
        let gone: Vec<String> = self
            .relayed
            .keys()
            .filter(|identity| !carried.iter().any(|p| &p.identity == *identity))
            .cloned()
            .collect();
        for identity in gone {
            if let Some(Ok(relayed)) = self.relayed.remove(&identity) {
                tracing::info!(%identity, "relayed participant leaves");
                relayed.client.leave().await;
            }
        }
    }

    /// Asks the far node for keyframes of the video this node asked
    /// keyframes of since the last look, in every layer.
    pub(crate) fn pass_keyframe_requests(&mut self, receivers: &Receivers) {
        let relayed = self.relayed.values_mut().filter_map(|r| r.as_mut().ok());
        // Only those with video here can be asked for keyframes.
        for relayed in relayed.filter(|r| r.tracks.values().any(|t| t.video)) {
            let asked = relayed.client.stats().keyframe_requests;
            if asked == relayed.keyframe_requests {
                continue;
            }
            relayed.keyframe_requests = asked;
            for (far, _) in relayed.tracks.iter().filter(|(_, t)| t.video) {
                for receiver in (0..=TOP).filter_map(|q| receivers.get(q)) {
                    receiver.request_keyframe(far);
                }
            }
        }
    }
}

impl Relayed {
    /// Shows `profile` here: what changed since it was last shown (an
    /// attribute gone is set to "", which removes it; `onair.` ones are
    /// the server's).
    fn show(&mut self, profile: &Profile) {
        let ours = |k: &String| !k.starts_with("onair.");
        let mut attributes: HashMap<String, String> = (profile.attributes.iter())
            .filter(|(k, v)| ours(k) && self.shown.attributes.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for gone in self
            .shown
            .attributes
            .keys()
            .filter(|k| !profile.attributes.contains_key(*k))
        {
            attributes.insert(gone.clone(), String::new());
        }
        let changed = |now: &String, was: &String| {
            if now != was {
                now.clone()
            } else {
                String::new()
            }
        };
        let name = changed(&profile.name, &self.shown.name);
        let metadata = changed(&profile.metadata, &self.shown.metadata);
        if name.is_empty() && metadata.is_empty() && attributes.is_empty() {
            return;
        }
        self.client.update_profile(&name, &metadata, attributes);
        self.shown = profile.clone();
    }
}

/// Whether lower receiver `quality` is new to far track `sid` (noted now).
fn first(settled: &mut HashMap<String, u8>, quality: u8, sid: &str) -> bool {
    let bit = 1 << quality;
    match settled.get_mut(sid) {
        Some(seen) if *seen & bit != 0 => false,
        Some(seen) => {
            *seen |= bit;
            true
        }
        None => {
            settled.insert(sid.to_owned(), bit);
            true
        }
    }
}
