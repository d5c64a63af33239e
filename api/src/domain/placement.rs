//! Where a joining participant's media goes: which SFU node, from the
//! registry of live nodes. A pure rule (the registry is read and the
//! choice settled in `crate::placement`):
//!
//! 1. a node that already hosts the call and has room (below its
//!    capacity), so a call spans as few nodes as it can;
//! 2. else a node with room, in the participant's region (`location`)
//!    first; the call then spans nodes, joined by relays;
//! 3. among those, the one with the fewest participants (ties: by id, so
//!    two API nodes choose alike). When every node is full, the least
//!    loaded one; never a draining one.
//!
//! A node whose machine is busy (CPU at [`onair_bus::nodes::CPU_BUSY`] or
//! more) has no room while another node does, even for a call it hosts:
//! the call goes on over a relay rather than starve its media.

use onair_bus::SfuNode;

/// The node for a participant of call `cid` who is at `location`.
pub fn choose<'a>(nodes: &'a [SfuNode], cid: &str, location: Option<&str>) -> Option<&'a SfuNode> {
    let least = |it: Vec<&'a SfuNode>| {
        it.into_iter()
            .min_by(|a, b| (a.participants, &a.id).cmp(&(b.participants, &b.id)))
    };
    let mut open: Vec<&SfuNode> = nodes.iter().filter(|n| n.has_room()).collect();
    if open.iter().any(|n| !n.is_busy()) {
        open.retain(|n| !n.is_busy());
    }
    let hosts: Vec<&SfuNode> = open
        .iter()
        .copied()
        .filter(|n| n.room(cid).is_some())
        .collect();
    if !hosts.is_empty() {
        return least(hosts);
    }
    let near: Vec<&SfuNode> = open
        .iter()
        .copied()
        .filter(|n| location.is_some() && n.region.as_deref() == location)
        .collect();
    match (near.is_empty(), open.is_empty()) {
        (false, _) => least(near),
        (true, false) => least(open),
        (true, true) => least(nodes.iter().filter(|n| !n.draining).collect()),
    }
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
            rooms: rooms
                .iter()
                .map(|r| onair_bus::HostedRoom {
                    cid: r.to_string(),
                    participants: 1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
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

    #[test]
    fn a_full_node_sends_its_calls_newcomers_elsewhere() {
        let mut full = node("a", "eu", 2, &["default:show"]);
        full.capacity = Some(2);
        let nodes = [
            full,
            node("b", "eu", 7, &[]),
            node("c", "us", 5, &["default:show"]),
        ];
        let id = |n: Option<&SfuNode>| n.map(|n| n.id.clone());
        // Another node of the call with room, before emptier ones.
        assert_eq!(
            id(choose(&nodes, "default:show", Some("eu"))),
            Some("c".into())
        );
        let mut nodes = nodes.to_vec();
        nodes[2].capacity = Some(5);
        // Every node of the call is full: the call spans one more node.
        assert_eq!(id(choose(&nodes, "default:show", None)), Some("b".into()));
        // Every node is full: the least loaded takes it anyway.
        nodes[1].capacity = Some(7);
        assert_eq!(id(choose(&nodes, "default:show", None)), Some("a".into()));
    }

    #[test]
    fn a_busy_machine_takes_no_one_while_another_has_cpu_to_spare() {
        let mut busy = node("a", "eu", 1, &["default:show"]);
        busy.cpu = Some(0.9);
        let mut calm = node("b", "us", 9, &[]);
        calm.cpu = Some(0.3);
        let mut nodes = vec![busy, calm, node("c", "eu", 12, &[])];
        let id = |n: Option<&SfuNode>| n.map(|n| n.id.clone());
        // Not even its own call's newcomers, nor in its region: the least
        // loaded of the others (a node that cannot say counts as calm).
        assert_eq!(
            id(choose(&nodes, "default:show", Some("eu"))),
            Some("c".into())
        );
        assert_eq!(id(choose(&nodes, "default:new", None)), Some("b".into()));
        // Every machine busy: the rules as before.
        for n in &mut nodes {
            n.cpu = Some(0.95);
        }
        assert_eq!(id(choose(&nodes, "default:show", None)), Some("a".into()));
        // Busy but full elsewhere: still placed (on the least loaded).
        nodes[0].cpu = Some(0.5);
        nodes[0].capacity = Some(1);
        assert_eq!(id(choose(&nodes, "default:show", None)), Some("b".into()));
    }

    #[test]
    fn a_draining_node_takes_no_one_new() {
        let mut draining = node("a", "eu", 1, &["default:show"]);
        draining.draining = true;
        let mut nodes = vec![draining, node("b", "us", 9, &[])];
        let id = |n: Option<&SfuNode>| n.map(|n| n.id.clone());
        // Not even its own call's newcomers, nor in its region.
        assert_eq!(
            id(choose(&nodes, "default:show", Some("eu"))),
            Some("b".into())
        );
        // Not even when every other node is full.
        nodes[1].capacity = Some(9);
        assert_eq!(id(choose(&nodes, "default:show", None)), Some("b".into()));
        nodes.truncate(1);
        assert_eq!(choose(&nodes, "default:show", None), None);
    }
}
