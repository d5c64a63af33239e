//! A link's hidden receivers on the far node, by the simulcast quality
//! each takes: the main one (HIGH, every track) always, one per lower
//! layer once a simulcast track crosses. Each is a connection of its own;
//! what they all receive goes to one channel, tagged with the quality.

use std::sync::Arc;

use onair_client::{Client, MediaEvent};
use tokio::sync::mpsc;

use crate::token;
use crate::want::Want;
use crate::RelayConfig;

/// The quality the main receiver takes (LiveKit's HIGH).
pub(crate) const TOP: u8 = 2;

/// What a receiver hands on, with the quality it takes; `None` once its
/// session ended.
pub(crate) type Received = (u8, Option<MediaEvent>);

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
    /// None connected yet; what they receive goes to `events`.
    pub(crate) fn new(
        config: Arc<RelayConfig>,
        want: &Want,
        events: mpsc::UnboundedSender<Received>,
    ) -> Receivers {
        Receivers {
            config,
            want_url: want.url.clone(),
            cid: want.cid.clone(),
            by_quality: [None, None, None],
            events,
        }
    }

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

    /// Every receiver leaves the far node.
    pub(crate) async fn leave(self) {
        for client in self.by_quality.into_iter().flatten() {
            client.leave().await;
        }
    }
}
