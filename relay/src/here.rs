//! What a link publishes here: each far participant under its own
//! identity, showing its name, metadata and attributes, and each far track
//! as a copy with the same codec and, for a simulcast track, the same
//! layers, frame by frame (audio with the level its sender announced,
//! muted when it is).
//!
//! A copy's layers come from different receivers on the far node, each
//! with its own RTP clock: a layer's time starts at the moment its first
//! frame (a keyframe of the right size) arrived, counted from the copy's
//! first frame, so the layers stay in step as a subscriber switches.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_bus::Publisher;
use onair_client::files::vp8_size;
use onair_client::{
    Client, Codec, LocalLayer, LocalTrack, MediaEvent, Profile, RemoteFrame, Source,
};

use crate::receivers::{Receivers, TOP};
use crate::token;
use crate::want::Want;
use crate::RelayConfig;

/// A participant that could not join here is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Simulcast rids, lowest first.
const RIDS: [&str; 3] = ["q", "h", "f"];
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
    tracks: HashMap<String, Track>,
    /// Keyframe requests this node made so far (our count).
    keyframe_requests: u64,
}

/// One far track, published here.
struct Track {
    sid: String,
    video: bool,
    /// Its layers' sizes, lowest first (none: one layer).
    sizes: Vec<(u32, u32)>,
    /// When the copy's first frame arrived.
    epoch: Option<Instant>,
    /// Per layer: the media time of its first frame, and the copy's time then.
    starts: [Option<(f64, Duration)>; 3],
}

impl Track {
    /// The layer of the copy that receiver `quality` fills, if any.
    fn layer_of(&self, quality: u8) -> Option<usize> {
        let n = self.sizes.len();
        match quality {
            TOP => Some(n.saturating_sub(1)),
            q if (q as usize) + 1 < n => Some(q as usize),
            _ => None,
        }
    }

    /// A layer starts at a keyframe, for VP8 one of its own size (a
    /// receiver's first frames may be of another layer until it is tuned).
    fn starts_with(&self, layer: usize, frame: &RemoteFrame) -> bool {
        if !self.video {
            return true;
        }
        match (self.sizes.get(layer), frame.codec) {
            (Some(size), Codec::Vp8) => frame.keyframe && vp8_size(&frame.data) == Some(*size),
            _ => frame.keyframe,
        }
    }

    /// The copy's time of `frame` in `layer`, starting the layer if due.
    fn time(&mut self, layer: usize, frame: &RemoteFrame) -> Option<Duration> {
        if self.starts[layer].is_none() {
            if !self.starts_with(layer, frame) {
                return None;
            }
            let epoch = *self.epoch.get_or_insert(frame.arrival);
            let offset = frame.arrival.saturating_duration_since(epoch);
            self.starts[layer] = Some((frame.media_time, offset));
        }
        let (start, offset) = self.starts[layer]?;
        Some(offset + Duration::from_secs_f64((frame.media_time - start).max(0.0)))
    }
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
            MediaEvent::Frame(frame) => self.frame(receivers, quality, frame).await,
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

    /// Publishes `frame` here in its layer; the main receiver's first
    /// frame of a track makes its copy (joining its participant first).
    async fn frame(&mut self, receivers: &mut Receivers, quality: u8, frame: RemoteFrame) {
        if quality == TOP {
            self.copy(receivers, &frame).await;
        }
        let Some(Ok(relayed)) = self.relayed.get_mut(&frame.identity) else {
            return;
        };
        let Some(track) = relayed.tracks.get_mut(&frame.track_sid) else {
            return;
        };
        let layer = track.layer_of(quality);
        let lower = receivers.get(quality).filter(|_| quality != TOP);
        if let Some(r) = lower.filter(|_| first(&mut self.settled, quality, &frame.track_sid)) {
            match layer {
                Some(_) => {
                    r.set_quality(&frame.track_sid, quality);
                    r.request_keyframe(&frame.track_sid);
                }
                // A track with no layer for this receiver here.
                None => r.subscribe(&frame.track_sid, false),
            }
        }
        let Some(layer) = layer else {
            return;
        };
        let Some(time) = track.time(layer, &frame) else {
            return;
        };
        let data = frame.data.to_vec();
        let client = &relayed.client;
        match (track.sizes.len() > 1, frame.audio_level) {
            (true, _) => client.send_layer_frame(&track.sid, RIDS[layer], data, time),
            // Audio carries its sender's level, so speakers are told apart here too.
            (false, Some(level)) => client.send_audio_frame(&track.sid, data, time, level),
            (false, None) => client.send_frame(&track.sid, data, time),
        }
    }

    /// Makes the copy of `frame`'s track here if it has none, with the far
    /// track's layers, and has a receiver take each lower layer.
    async fn copy(&mut self, receivers: &mut Receivers, frame: &RemoteFrame) {
        if let Some(Ok(relayed)) = self.relayed.get(&frame.identity) {
            if relayed.tracks.contains_key(&frame.track_sid) {
                return;
            }
        }
        if self.gone.contains(&frame.track_sid) {
            return;
        }
        let Some(relayed) = self.relayed(receivers, &frame.identity).await else {
            return;
        };
        let video = frame.codec != Codec::Opus;
        let far = &frame.track_sid;
        let mut sizes = match (video, receivers.main()) {
            (true, Some(main)) => main.stats().layers.remove(far).unwrap_or_default(),
            _ => Vec::new(),
        };
        sizes.truncate(RIDS.len());
        let sid = match relayed.client.publish(local_track(frame, &sizes)).await {
            Ok(sid) => sid,
            Err(e) => {
                return tracing::warn!(identity = %frame.identity, error = %e, "relayed track refused here")
            }
        };
        tracing::info!(identity = %frame.identity, %far, here = %sid, layers = sizes.len().max(1), "relaying a track");
        let layers = sizes.len();
        let track = Track {
            sid,
            video,
            sizes,
            epoch: None,
            starts: [None; 3],
        };
        relayed.tracks.insert(far.clone(), track);
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
            let joined = match Client::connect(&self.config.url, &token).await {
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

/// How a far track is published here: its codec and layers.
fn local_track(frame: &RemoteFrame, sizes: &[(u32, u32)]) -> LocalTrack {
    let audio = frame.codec == Codec::Opus;
    let layer = |rid: Option<&str>, (width, height): (u32, u32)| LocalLayer {
        rid: rid.map(str::to_owned),
        width,
        height,
        frames: Vec::new(),
    };
    let layers = match (audio, sizes.len()) {
        (true, _) => vec![layer(None, (0, 0))],
        (false, 0 | 1) => vec![layer(None, sizes.first().copied().unwrap_or((1280, 720)))],
        (false, _) => (sizes.iter().zip(RIDS))
            .map(|(size, rid)| layer(Some(rid), *size))
            .collect(),
    };
    LocalTrack {
        name: frame.track_sid.clone(),
        source: if audio {
            Source::Microphone
        } else {
            Source::Camera
        },
        codec: frame.codec,
        layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(sizes: &[(u32, u32)]) -> Track {
        Track {
            sid: "TR_here".into(),
            video: true,
            sizes: sizes.to_vec(),
            epoch: None,
            starts: [None; 3],
        }
    }

    /// A VP8 frame `width` wide (a keyframe if given a width) at `media_time`.
    fn frame(width: Option<u16>, media_time: f64, arrival: Instant) -> RemoteFrame {
        let mut data = vec![0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        if let Some(w) = width {
            data = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
            data.extend_from_slice(&w.to_le_bytes());
            data.extend_from_slice(&(w * 9 / 16).to_le_bytes());
        }
        RemoteFrame {
            track_sid: "TR_far".into(),
            identity: "alice".into(),
            codec: Codec::Vp8,
            keyframe: width.is_some(),
            media_time,
            arrival,
            data: data.into(),
            audio_level: None,
        }
    }

    #[test]
    fn each_receiver_fills_the_layer_of_its_quality() {
        let three = track(&[(320, 180), (640, 360), (1280, 720)]);
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| three.layer_of(*q)).collect();
        assert_eq!(layers, [Some(0), Some(1), Some(2)]);
        let two = track(&[(320, 180), (640, 360)]);
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| two.layer_of(*q)).collect();
        assert_eq!(layers, [Some(0), None, Some(1)]);
        let one = track(&[]);
        let layers: Vec<_> = [0, 1, TOP].iter().map(|q| one.layer_of(*q)).collect();
        assert_eq!(layers, [None, None, Some(0)]);
    }

    #[test]
    fn a_layer_starts_at_a_keyframe_of_its_size_in_step_with_the_others() {
        let mut copy = track(&[(320, 180), (640, 360), (1280, 720)]);
        let t0 = Instant::now();
        // The top layer starts the copy's clock.
        assert_eq!(copy.time(2, &frame(None, 1.0, t0)), None, "not a keyframe");
        assert_eq!(
            copy.time(2, &frame(Some(1280), 1.0, t0)),
            Some(Duration::ZERO)
        );
        // The low layer's receiver still gets the top layer: not started.
        let later = t0 + Duration::from_millis(100);
        assert_eq!(copy.time(0, &frame(Some(1280), 7.0, later)), None);
        // Its own keyframe, 100 ms into the copy, on another RTP clock.
        assert_eq!(
            copy.time(0, &frame(Some(320), 7.0, later)),
            Some(Duration::from_millis(100))
        );
        let next = copy.time(0, &frame(None, 7.5, later)).unwrap();
        assert_eq!(next.as_millis(), 600);
        assert_eq!(
            copy.time(2, &frame(None, 1.6, later)).unwrap().as_millis(),
            600
        );
    }

    #[test]
    fn copies_have_the_far_tracks_codec_and_layers() {
        let sizes = [(320, 180), (640, 360), (1280, 720)];
        let video = local_track(&frame(Some(1280), 0.0, Instant::now()), &sizes);
        let rids: Vec<_> = video.layers.iter().map(|l| l.rid.clone()).collect();
        assert_eq!(rids, [Some("q".into()), Some("h".into()), Some("f".into())]);
        assert_eq!(video.layers[0].width, 320);
        let single = local_track(&frame(Some(640), 0.0, Instant::now()), &[]);
        assert_eq!(single.layers.len(), 1);
        assert_eq!(single.layers[0].rid, None);
    }
}
