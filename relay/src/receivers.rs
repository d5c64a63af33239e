//! A link's hidden receivers on the far node, by the simulcast quality
//! each takes: the main one (HIGH, every track) always, one per lower
//! layer once a simulcast track crosses. Each is a connection of its own;
//! the link takes what any of them received ([`Receivers::next`]).

use std::sync::Arc;
use std::task::Poll;

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
    /// What each has received and not yet handed on (none once it ended).
    media: [Option<mpsc::UnboundedReceiver<MediaEvent>>; 3],
}

impl Receivers {
    /// None connected yet.
    pub(crate) fn new(config: Arc<RelayConfig>, want: &Want) -> Receivers {
        Receivers {
            config,
            want_url: want.url.clone(),
            cid: want.cid.clone(),
            by_quality: [None, None, None],
            media: [None, None, None],
        }
    }

    /// What a receiver received next, with its quality; `None` once its
    /// session ended. Waits forever when none is connected.
    pub(crate) async fn next(&mut self) -> Received {
        std::future::poll_fn(|cx| {
            for (quality, media) in self.media.iter_mut().enumerate().rev() {
                let Some(rx) = media else { continue };
                if let Poll::Ready(event) = rx.poll_recv(cx) {
                    if event.is_none() {
                        *media = None;
                    }
                    return Poll::Ready((quality as u8, event));
                }
            }
            Poll::Pending
        })
        .await
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
            let (client, media) = self.connect(quality).await?;
            self.by_quality[quality as usize] = Some(client);
            self.media[quality as usize] = Some(media);
        }
        self.get(quality)
    }

    async fn connect(&self, quality: u8) -> Option<(Client, mpsc::UnboundedReceiver<MediaEvent>)> {
        let token = token::receiver(&self.config.key, &self.config.node, &self.cid, quality);
        match Client::connect_receiving_packets(&self.want_url, &token).await {
            Ok(connected) => Some(connected),
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
