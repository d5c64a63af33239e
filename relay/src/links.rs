//! The links a node's relay keeps: one per call it hosts together with
//! another node that has publishers of its own, carrying them here. Read from the
//! SFU registry every second; a link no longer wanted (the call left one
//! of the nodes, or the other node died) is closed.

use std::collections::HashMap;
use std::sync::Arc;

use onair_auth::ApiKey;
use onair_bus::nodes::ANNOUNCE_EVERY;
use onair_bus::{Bus, Publisher, SfuNode};

use crate::link::Link;

/// Who the relay works for.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Signs the relay's join tokens.
    pub key: ApiKey,
    /// This SFU node's id in the registry.
    pub node: String,
    /// Where this node's `/rtc` is reached (relayed participants join here).
    pub url: String,
}

/// A link this node wants: call `cid` as node `far` (at `url`) hosts it,
/// and which of that node's publishers to carry here.
#[derive(Clone, Debug, PartialEq)]
pub struct Want {
    /// The call.
    pub cid: String,
    /// The other node's id.
    pub far: String,
    /// The other node's signal URL.
    pub url: String,
    /// Its own publishers in the call that are not this node's too.
    pub publishers: Vec<Publisher>,
}

/// The links node `me` wants, given the live nodes.
pub fn wanted(nodes: &[SfuNode], me: &str) -> Vec<Want> {
    let Some(mine) = nodes.iter().find(|n| n.id == me) else {
        return Vec::new();
    };
    let mut wants = Vec::new();
    for room in &mine.rooms {
        let here = |identity: &str| room.publishers.iter().any(|p| p.identity == identity);
        for far in nodes.iter().filter(|n| n.id != me) {
            let Some(there) = far.room(&room.cid) else {
                continue;
            };
            // The same user on both nodes (two devices) stays apart.
            let publishers: Vec<Publisher> = there
                .publishers
                .iter()
                .filter(|p| !here(&p.identity))
                .cloned()
                .collect();
            if publishers.is_empty() {
                continue;
            }
            wants.push(Want {
                cid: room.cid.clone(),
                far: far.id.clone(),
                url: far.url.clone(),
                publishers,
            });
        }
    }
    wants
}

/// Runs this node's relay until the process ends.
pub fn start(config: RelayConfig, bus: Arc<dyn Bus>) -> tokio::task::JoinHandle<()> {
    let config = Arc::new(config);
    tokio::spawn(async move {
        let mut links: HashMap<(String, String), Link> = HashMap::new();
        let mut every = tokio::time::interval(ANNOUNCE_EVERY);
        loop {
            every.tick().await;
            let nodes = match bus.sfu_nodes().await {
                Ok(nodes) => nodes,
                Err(e) => {
                    tracing::warn!(error = %e, "relay cannot read the SFU registry");
                    continue;
                }
            };
            let wants = wanted(&nodes, &config.node);
            let keys: Vec<(String, String)> = wants
                .iter()
                .map(|w| (w.cid.clone(), w.far.clone()))
                .collect();
            links.retain(|key, link| {
                let keep = keys.contains(key) && !link.is_finished();
                if !keep {
                    tracing::info!(call_cid = %key.0, from = %key.1, "relay link closed");
                }
                keep
            });
            for want in wants {
                let key = (want.cid.clone(), want.far.clone());
                match links.get(&key) {
                    Some(link) => link.update(want.publishers),
                    None => {
                        tracing::info!(call_cid = %want.cid, from = %want.far, "relay link opened");
                        links.insert(key, Link::open(config.clone(), want));
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_bus::HostedRoom;

    fn publisher(identity: &str) -> Publisher {
        Publisher {
            identity: identity.into(),
            name: identity.to_uppercase(),
        }
    }

    fn node(id: &str, rooms: &[(&str, &[&str])]) -> SfuNode {
        SfuNode {
            id: id.into(),
            url: format!("ws://{id}"),
            region: None,
            participants: 0,
            capacity: None,
            rooms: rooms
                .iter()
                .map(|(cid, publishers)| HostedRoom {
                    cid: cid.to_string(),
                    publishers: publishers.iter().map(|p| publisher(p)).collect(),
                })
                .collect(),
            seen_ms: 0,
        }
    }

    #[test]
    fn a_node_links_to_every_other_node_of_each_call_it_hosts() {
        let nodes = [
            node("a", &[("c:show", &["alice"]), ("c:solo", &["bob"])]),
            node(
                "b",
                &[("c:show", &["carol", "alice"]), ("c:other", &["dave"])],
            ),
            node("c", &[("c:show", &[])]),
        ];
        let wants = wanted(&nodes, "a");
        assert_eq!(
            wants,
            [
                // alice is a's own too (a second device): not carried.
                Want {
                    cid: "c:show".into(),
                    far: "b".into(),
                    url: "ws://b".into(),
                    publishers: vec![publisher("carol")],
                },
                // c hosts the call with nobody publishing: nothing to carry.
            ]
        );
        assert!(wanted(&nodes, "gone").is_empty());
    }
}
