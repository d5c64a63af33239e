//! The links a node's relay keeps, read from the SFU registry every
//! second: one per call it hosts together with another node that has
//! participants of its own, carrying them here. A link no longer wanted
//! (the call left one of the nodes, or the other node died) is closed.

use std::collections::HashMap;
use std::sync::Arc;

use onair_bus::nodes::ANNOUNCE_EVERY;
use onair_bus::Bus;

use crate::link::Link;
use crate::want::wanted;
use crate::RelayConfig;

/// Runs this node's relay until the process ends, on a thread of its own
/// (`relay-<node>`, cut to the 15 bytes Linux keeps) with a runtime of its
/// own: a packet crosses from the far node's receiver through its link to
/// the copy's sender here in one thread, waking no other.
pub fn start(
    config: RelayConfig,
    bus: Arc<dyn Bus>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name: String = format!("relay-{}", config.node).chars().take(15).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name)
        .spawn(move || runtime.block_on(run(Arc::new(config), bus)))
}

/// Keeps the links the registry asks for, every second.
async fn run(config: Arc<RelayConfig>, bus: Arc<dyn Bus>) {
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
                Some(link) => link.update(want.participants),
                None => {
                    tracing::info!(call_cid = %want.cid, from = %want.far, "relay link opened");
                    links.insert(key, Link::open(config.clone(), want));
                }
            }
        }
    }
}
