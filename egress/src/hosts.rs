//! Where a job's recorder joins its call. With one SFU node that is the
//! configured one. With several, the call may be on any of them, and a
//! hidden recorder makes no node host a call (no relay would bring the
//! call to it), so the recorder joins at a node hosting it, from the SFU
//! registry, at the node's public URL; the SFU in this process, if it
//! hosts the call, at the configured URL.

use std::sync::Arc;

use onair_bus::{Bus, SfuNode};

/// Finds the SFU node to join a call at.
#[derive(Clone)]
pub struct Hosts {
    bus: Arc<dyn Bus>,
    /// The configured SFU (`EgressConfig::signal_url`).
    configured: String,
    /// The registry id of the SFU in this process, if any.
    local: Option<String>,
}

impl Hosts {
    /// Hosts read from `bus`'s registry, else `configured`.
    pub fn new(bus: Arc<dyn Bus>, configured: String, local: Option<String>) -> Hosts {
        Hosts {
            bus,
            configured,
            local,
        }
    }

    /// Where to join call `cid`.
    pub async fn of(&self, cid: &str) -> String {
        self.choose(cid, false).await
    }

    /// Where to join call `cid` again after losing a node: one the
    /// registry lists (the configured one may be the node lost).
    pub async fn after_loss(&self, cid: &str) -> String {
        self.choose(cid, true).await
    }

    async fn choose(&self, cid: &str, lost: bool) -> String {
        let nodes = match self.bus.sfu_nodes().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::warn!(call_cid = %cid, error = %e, "SFU registry unreachable: joining the configured SFU");
                return self.configured.clone();
            }
        };
        let here = |n: &SfuNode| self.local.as_ref() == Some(&n.id);
        match onair_bus::nodes::host_of(&nodes, cid) {
            Some(node) if here(node) => self.configured.clone(),
            // One SFU node: the configured URL reaches it, maybe more directly.
            Some(node) if nodes.len() > 1 || lost => node.url.clone(),
            _ => self.configured.clone(),
        }
    }
}

impl std::fmt::Debug for Hosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (f.debug_struct("Hosts"))
            .field("configured", &self.configured)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use onair_bus::{HostedRoom, LocalBus};

    use super::*;

    /// SFU node `id` at `ws://id`, hosting `rooms`.
    fn node(id: &str, rooms: &[&str]) -> SfuNode {
        SfuNode {
            id: id.into(),
            url: format!("ws://{id}"),
            participants: rooms.len() as u32,
            rooms: (rooms.iter())
                .map(|cid| HostedRoom {
                    cid: cid.to_string(),
                    participants: 1,
                    ..Default::default()
                })
                .collect(),
            seen_ms: onair_auth::clock::unix_ms(),
            ..Default::default()
        }
    }

    async fn bus_with(nodes: &[SfuNode]) -> Arc<dyn Bus> {
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
        for node in nodes {
            bus.announce(node).await.unwrap();
        }
        bus
    }

    #[tokio::test]
    async fn one_node_is_joined_at_the_configured_url_unless_it_was_lost() {
        let bus = bus_with(&[node("a", &["c1"])]).await;
        let hosts = Hosts::new(bus, "ws://internal".into(), None);
        assert_eq!(hosts.of("c1").await, "ws://internal");
        assert_eq!(
            hosts.after_loss("c1").await,
            "ws://a",
            "the configured one may be the node lost"
        );
        assert_eq!(
            hosts.after_loss("c2").await,
            "ws://internal",
            "no node hosts it"
        );
    }

    #[tokio::test]
    async fn with_several_nodes_a_call_is_joined_where_it_is_and_the_local_one_directly() {
        let bus = bus_with(&[node("a", &["c1"]), node("b", &["c2"])]).await;
        let hosts = Hosts::new(bus.clone(), "ws://internal".into(), Some("b".into()));
        assert_eq!(hosts.of("c1").await, "ws://a");
        assert_eq!(
            hosts.of("c2").await,
            "ws://internal",
            "this process's SFU hosts it"
        );
        assert_eq!(hosts.of("c3").await, "ws://internal", "nobody hosts it yet");
        let apart = Hosts::new(bus, "ws://a".into(), None);
        assert_eq!(apart.of("c2").await, "ws://b");
    }
}
