//! Places a joining participant on an SFU node: reads the registry the
//! SFU nodes announce themselves in, chooses by
//! [`crate::domain::placement`], and settles the choice on the bus for a
//! new room so that two participants joining it at once, through two API
//! nodes, land on the same node. With no node announced (one process,
//! or the registry unreachable), clients go to the configured signal URL.
//! With `signal_proxy`, the URL is this node's, naming the SFU node chosen.

use onair_bus::nodes::PLACEMENT_TTL;

use crate::domain::placement::choose;
use crate::state::AppState;

/// The signal URL for a participant of call `cid` at `location`.
pub async fn signal_url(state: &AppState, cid: &str, location: Option<&str>) -> String {
    let fallback = || state.config.signal_url.clone();
    let nodes = match state.bus.sfu_nodes().await {
        Ok(nodes) => nodes,
        Err(e) => {
            tracing::warn!(call_cid = %cid, error = %e, "SFU registry unreachable: using the configured signal URL");
            return fallback();
        }
    };
    let Some(chosen) = choose(&nodes, cid, location) else {
        return fallback();
    };
    let url_of = |node: &onair_bus::SfuNode| match state.config.signal_proxy {
        true => crate::signal_proxy::url_for(&state.config.signal_url, &node.id),
        false => node.url.clone(),
    };
    if chosen.room(cid).is_some() {
        return url_of(chosen);
    }
    let settled = match state
        .bus
        .settle(&format!("room:{cid}"), &chosen.id, PLACEMENT_TTL)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(call_cid = %cid, error = %e, "cannot settle the room's node");
            chosen.id.clone()
        }
    };
    // The node settled earlier may have died or filled up since: then
    // the choice stands.
    let node = nodes
        .iter()
        .find(|n| n.id == settled && n.has_room())
        .unwrap_or(chosen);
    tracing::debug!(call_cid = %cid, node = %node.id, "placed");
    url_of(node)
}
