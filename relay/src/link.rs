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
use tokio::sync::{oneshot, watch};

use crate::here::Here;
use crate::receivers::{Receivers, TOP};
use crate::want::Want;
use crate::RelayConfig;

/// How often keyframe requests made here are passed on (and joins that
/// failed retried).
const KEYFRAMES_EVERY: Duration = Duration::from_millis(250);

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
    let mut receivers = Receivers::new(config.clone(), &want);
    if receivers.ensure(TOP).await.is_none() {
        return;
    }
    let mut here = Here::new(config, want);
    here.join_all(&receivers).await;
    let mut keyframes = tokio::time::interval(KEYFRAMES_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            (quality, event) = receivers.next() => match event {
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
                here.join_all(&receivers).await;
            }
            _ = keyframes.tick() => {
                here.join_all(&receivers).await;
                here.pass_keyframe_requests(&receivers);
            }
        }
    }
    receivers.leave().await;
    here.keep_only(Vec::new()).await;
}
