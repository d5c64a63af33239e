//! Where a joining participant's media goes: which SFU node, from the
//! registry of live nodes. A pure rule (the registry is read and the
//! choice settled in `crate::placement`):
//!
//! 1. the node that already hosts the call, so a room stays on one node;
//! 2. else a node in the participant's region (`location`), if any;
//! 3. among those, the one with the fewest participants (ties: by id, so
//!    two API nodes choose alike).

use onair_bus::SfuNode;

/// The node for a participant of call `cid` who is at `location`.
pub fn choose<'a>(nodes: &'a [SfuNode], cid: &str, location: Option<&str>) -> Option<&'a SfuNode> {
    if let Some(host) = nodes.iter().find(|n| n.rooms.iter().any(|r| r == cid)) {
        return Some(host);
    }
    let near = |n: &&SfuNode| location.is_some() && n.region.as_deref() == location;
    let candidates: Vec<&SfuNode> = match nodes.iter().filter(near).count() {
        0 => nodes.iter().collect(),
        _ => nodes.iter().filter(near).collect(),
    };
    candidates
        .into_iter()
        .min_by(|a, b| (a.participants, &a.id).cmp(&(b.participants, &b.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: &str, participants: u32, rooms: &[&str]) -> SfuNode {
        SfuNode {
            id: id.into(),
            url: format!("wss://{id}"),
            region: Some(region.into()),
            participants,
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            seen_ms: 0,
        }
    }

    #[test]
    fn the_hosting_node_then_the_region_then_the_least_loaded() {
        let nodes = [
            node("a", "eu", 50, &["default:busy"]),
            node("b", "eu", 10, &[]),
            node("c", "us", 2, &[]),
            node("d", "us", 2, &[]),
        ];
        let id = |n: Option<&SfuNode>| n.map(|n| n.id.clone());
        // The room's node, however loaded and wherever.
        assert_eq!(
            id(choose(&nodes, "default:busy", Some("us"))),
            Some("a".into())
        );
        // A new room: the least loaded (ties by id).
        assert_eq!(id(choose(&nodes, "default:new", None)), Some("c".into()));
        // In the participant's region first.
        assert_eq!(
            id(choose(&nodes, "default:new", Some("eu"))),
            Some("b".into())
        );
        // A region no node is in: any node.
        assert_eq!(
            id(choose(&nodes, "default:new", Some("ap"))),
            Some("c".into())
        );
        assert_eq!(choose(&[], "default:new", None), None);
    }
}
