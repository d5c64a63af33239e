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
