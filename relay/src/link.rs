//! One link: call `cid` as another node hosts it, carried here. Each of
//! that node's participants joins here under its own identity (marked
//! relayed), so everyone here sees them ([`crate::here`]). Hidden
//! receivers on that node get each of its publishers' tracks once: the
//! main one every track at its top layer, and, once a simulcast track
//! crosses, one per lower layer, so the copies here are simulcast too and
//! each subscriber here gets the layer it can take. Keyframe requests made
//! here (a new subscriber, a layer switch) go back to the far node.

use std::sync::Arc;
use std::time::Duration;

use onair_bus::Publisher;
use onair_client::{Client, MediaEvent};
use tokio::sync::{mpsc, oneshot, watch};

use crate::here::Here;
use crate::token;
use crate::want::Want;
use crate::RelayConfig;

/// How often keyframe requests made here are passed on (and joins that
/// failed retried).
const KEYFRAMES_EVERY: Duration = Duration::from_millis(250);

/// The quality the main receiver takes (LiveKit's HIGH).
pub(crate) const TOP: u8 = 2;

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

/// What a receiver hands on, with the quality it takes; `None` once its
/// session ended.
type Received = (u8, Option<MediaEvent>);

/// The hidden receivers on the far node, by the quality they take.
pub(crate) struct Receivers {
    config: Arc<RelayConfig>,
    want_url: String,
    cid: String,
    /// `[LOW, MEDIUM, HIGH]`; HIGH (the main one) always, the others once needed.
    by_quality: [Option<Client>; 3],
    events: mpsc::UnboundedSender<Received>,
}

impl Receivers {
    /// The receiver taking `quality`, if connected.
    pub(crate) fn get(&self, quality: u8) -> Option<&Client> {
        self.by_quality.get(quality as usize)?.as_ref()
    }

    /// The main receiver.
    pub(crate) fn main(&self) -> Option<&Client> {
        self.get(TOP)
    }

    /// Connects the receiver taking `quality` if it is not yet.
    pub(crate) async fn ensure(&mut self, quality: u8) -> Option<&Client> {
        if self.get(quality).is_none() {
            let client = self.connect(quality).await?;
            self.by_quality[quality as usize] = Some(client);
        }
        self.get(quality)
    }

    async fn connect(&self, quality: u8) -> Option<Client> {
        let token = token::receiver(&self.config.key, &self.config.node, &self.cid, quality);
        match Client::connect_receiving(&self.want_url, &token).await {
            Ok((client, mut media)) => {
                let events = self.events.clone();
                tokio::spawn(async move {
                    while let Some(event) = media.recv().await {
                        if events.send((quality, Some(event))).is_err() {
                            return;
                        }
                    }
                    let _ = events.send((quality, None));
                });
                Some(client)
            }
            Err(e) => {
                tracing::warn!(quality, error = %e, "relay cannot join the call on the other node");
                None
            }
        }
    }

    async fn leave(self) {
        for client in self.by_quality.into_iter().flatten() {
            client.leave().await;
        }
    }
}

async fn run(
    config: Arc<RelayConfig>,
    want: Want,
    mut participants: watch::Receiver<Vec<Publisher>>,
    mut stop: oneshot::Receiver<()>,
) {
    let (events, mut received) = mpsc::unbounded_channel();
    let mut receivers = Receivers {
        config: config.clone(),
        want_url: want.url.clone(),
        cid: want.cid.clone(),
        by_quality: [None, None, None],
        events,
    };
    if receivers.ensure(TOP).await.is_none() {
        return;
    }
    let mut here = Here::new(config, want);
    here.join_all().await;
    let mut keyframes = tokio::time::interval(KEYFRAMES_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some((quality, event)) = received.recv() => match event {
                Some(event) => here.event(&mut receivers, quality, event).await,
                None if quality == TOP => {
                    tracing::info!("the other node ended the relay's session");
                    break;
                }
                None => tracing::info!(quality, "a lower layer's receiver ended"),
            },
            Ok(()) = participants.changed() => {
                let carried = participants.borrow_and_update().clone();
                here.keep_only(carried).await;
            }
            _ = keyframes.tick() => {
                here.join_all().await;
                here.pass_keyframe_requests(&receivers);
            }
        }
    }
    receivers.leave().await;
    here.keep_only(Vec::new()).await;
}
