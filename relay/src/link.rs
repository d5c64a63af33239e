//! One link: call `cid` as another node hosts it, carried here. Each of
//! that node's participants joins here under its own identity (marked
//! relayed), so everyone here sees them. A hidden receiver on that node
//! gets each of its publishers' tracks once, and their copies here publish
//! what it gets, frame by frame, audio with the level its sender
//! announced, muted when it is. Keyframe requests made here (a new
//! subscriber, a layer switch) go back to the far node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_bus::Publisher;
use onair_client::{Client, Codec, LocalLayer, LocalTrack, MediaEvent, RemoteFrame, Source};
use tokio::sync::{oneshot, watch};

use crate::token;
use crate::want::Want;
use crate::RelayConfig;

/// How often keyframe requests made here are passed on.
const KEYFRAMES_EVERY: Duration = Duration::from_millis(250);
/// A participant that could not join here is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A running link.
pub struct Link {
    participants: watch::Sender<Vec<Publisher>>,
    _stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Starts carrying `want` here; dropping the link ends it (everyone
    /// it published here leaves).
    pub fn open(config: Arc<RelayConfig>, want: Want) -> Link {
        let (participants, watched) = watch::channel(want.participants.clone());
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("relay", call_cid = %want.cid, from = %want.far);
        let task = tokio::spawn(tracing::Instrument::instrument(
            run(config, want, watched, stopped),
            span,
        ));
        Link {
            participants,
            _stop: stop,
            task,
        }
    }

    /// The far node's participants to carry now.
    pub fn update(&self, participants: Vec<Publisher>) {
        self.participants.send_if_modified(|now| {
            let changed = *now != participants;
            *now = participants;
            changed
        });
    }

    /// The link ended by itself (the far node went away or refused it).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

async fn run(
    config: Arc<RelayConfig>,
    want: Want,
    mut participants: watch::Receiver<Vec<Publisher>>,
    mut stop: oneshot::Receiver<()>,
) {
    let token = token::receiver(&config.key, &config.node, &want.cid);
    let (receiver, mut media) = match Client::connect_receiving(&want.url, &token).await {
        Ok(joined) => joined,
        Err(e) => return tracing::warn!(error = %e, "relay cannot join the call on the other node"),
    };
    let mut here = Here::new(config, want);
    let mut keyframes = tokio::time::interval(KEYFRAMES_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = media.recv() => match event {
                Some(MediaEvent::Frame(frame)) => here.frame(&receiver, frame).await,
                Some(MediaEvent::TrackGone { track_sid }) => here.track_gone(&track_sid),
                Some(MediaEvent::Muted { track_sid, muted }) => here.muted(&track_sid, muted),
                Some(_) => {}
                None => {
                    tracing::info!("the other node ended the relay's session");
                    break;
                }
            },
            Ok(()) = participants.changed() => {
                let carried = participants.borrow_and_update().clone();
                here.keep_only(carried).await;
            }
            _ = keyframes.tick() => {
                here.join_all().await;
                here.pass_keyframe_requests(&receiver);
            }
        }
    }
    receiver.leave().await;
    here.keep_only(Vec::new()).await;
}

/// What a link publishes here.
struct Here {
    config: Arc<RelayConfig>,
    /// The call, the far node, and the participants to carry now.
    want: Want,
    /// By identity; `Err` holds when joining last failed.
    relayed: HashMap<String, Result<Relayed, Instant>>,
}

/// One far participant, published here.
struct Relayed {
    client: Client,
    /// By the far track sid.
    tracks: HashMap<String, Track>,
    /// Keyframe requests this node made so far (our count).
    keyframe_requests: u64,
}

/// One far track, published here.
struct Track {
    sid: String,
    video: bool,
    /// The media time of the first frame sent (the track's zero).
    start: Option<f64>,
}

impl Here {
    fn new(config: Arc<RelayConfig>, want: Want) -> Here {
        Here {
            config,
            want,
            relayed: HashMap::new(),
        }
    }

    /// Publishes `frame` here, joining its participant and publishing its
    /// track first when new; frames of others than the participants to
    /// carry are not ours.
    async fn frame(&mut self, receiver: &Client, frame: RemoteFrame) {
        let Some(relayed) = self.relayed(&frame.identity).await else {
            return;
        };
        if !relayed.tracks.contains_key(&frame.track_sid) {
            let video = frame.codec != Codec::Opus;
            let sid = match relayed.client.publish(local_track(&frame)).await {
                Ok(sid) => sid,
                Err(e) => {
                    return tracing::warn!(identity = %frame.identity, error = %e, "relayed track refused here")
                }
            };
            tracing::info!(identity = %frame.identity, far = %frame.track_sid, here = %sid, "relaying a track");
            if video {
                receiver.set_quality(&frame.track_sid, 2);
                receiver.request_keyframe(&frame.track_sid);
            }
            let track = Track {
                sid,
                video,
                start: None,
            };
            relayed.tracks.insert(frame.track_sid.clone(), track);
        }
        let Some(track) = relayed.tracks.get_mut(&frame.track_sid) else {
            return;
        };
        // A decoder starts at a keyframe: nothing before the first.
        if track.start.is_none() && track.video && !frame.keyframe {
            return;
        }
        let start = *track.start.get_or_insert(frame.media_time);
        let time = Duration::from_secs_f64((frame.media_time - start).max(0.0));
        // Audio carries its sender's level, so speakers are told apart here too.
        let data = frame.data.to_vec();
        match frame.audio_level {
            Some(level) => relayed
                .client
                .send_audio_frame(&track.sid, data, time, level),
            None => relayed.client.send_frame(&track.sid, data, time),
        }
    }

    /// Joins here every participant to carry not here yet (one whose
    /// join failed, once [`RETRY_AFTER`] has passed).
    async fn join_all(&mut self) {
        let identities: Vec<String> = (self.want.participants.iter())
            .map(|p| p.identity.clone())
            .collect();
        for identity in identities {
            self.relayed(&identity).await;
        }
    }

    /// Participant `identity` here, joining it if it is one to carry and new.
    async fn relayed(&mut self, identity: &str) -> Option<&mut Relayed> {
        let retry = match self.relayed.get(identity) {
            Some(Ok(_)) => false,
            Some(Err(failed)) => failed.elapsed() >= RETRY_AFTER,
            None => true,
        };
        if retry {
            let want = &self.want;
            let publisher = want.participants.iter().find(|p| p.identity == identity)?;
            let token = token::relayed(
                &self.config.key,
                &want.far,
                &want.cid,
                identity,
                &publisher.name,
            );
            let joined = match Client::connect(&self.config.url, &token).await {
                Ok(client) => Ok(Relayed {
                    client,
                    tracks: HashMap::new(),
                    keyframe_requests: 0,
                }),
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
        for relayed in self.relayed.values_mut().filter_map(|r| r.as_mut().ok()) {
            if let Some(track) = relayed.tracks.remove(sid) {
                relayed.client.unpublish(&track.sid);
            }
        }
    }

    /// The participants to carry are now `carried`: those no longer among
    /// them leave here, new ones join.
    async fn keep_only(&mut self, carried: Vec<Publisher>) {
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
        self.join_all().await;
    }

    /// Asks the far node for keyframes of the video this node asked
    /// keyframes of since the last look.
    fn pass_keyframe_requests(&mut self, receiver: &Client) {
        for relayed in self.relayed.values_mut().filter_map(|r| r.as_mut().ok()) {
            let asked = relayed.client.stats().keyframe_requests;
            if asked == relayed.keyframe_requests {
                continue;
            }
            relayed.keyframe_requests = asked;
            for (far, _) in relayed.tracks.iter().filter(|(_, t)| t.video) {
                receiver.request_keyframe(far);
            }
        }
    }
}

/// How a far track is published here: its codec, one layer.
fn local_track(frame: &RemoteFrame) -> LocalTrack {
    let audio = frame.codec == Codec::Opus;
    let (width, height) = if audio { (0, 0) } else { (1280, 720) };
    LocalTrack {
        name: frame.track_sid.clone(),
        source: if audio {
            Source::Microphone
        } else {
            Source::Camera
        },
        codec: frame.codec,
        layers: vec![LocalLayer {
            rid: None,
            width,
            height,
            frames: Vec::new(),
        }],
    }
}
