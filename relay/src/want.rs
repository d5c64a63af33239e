//! Which links a node wants, from the SFU registry (a pure rule): for each
//! call it hosts, one to every other node hosting the call, carrying its
//! own participants here (those who publish, their tracks with them, and
//! those who watch).

use onair_bus::{Publisher, SfuNode};

/// A link this node wants: call `cid` as node `far` (at `url`) hosts it,
/// and which of that node's participants to carry here.
#[derive(Clone, Debug, PartialEq)]
pub struct Want {
    /// The call.
    pub cid: String,
    /// The other node's id.
    pub far: String,
    /// The other node's signal URL.
    pub url: String,
    /// Its own participants in the call that are not this node's too.
    pub participants: Vec<Publisher>,
}

/// The links node `me` wants, given the live nodes.
pub fn wanted(nodes: &[SfuNode], me: &str) -> Vec<Want> {
    let Some(mine) = nodes.iter().find(|n| n.id == me) else {
        return Vec::new();
    };
    let mut wants = Vec::new();
    for room in &mine.rooms {
        let here = |identity: &str| {
            let mut listed = room.publishers.iter().chain(&room.watchers);
            listed.any(|p| p.identity == identity)
        };
        for far in nodes.iter().filter(|n| n.id != me) {
            let Some(there) = far.room(&room.cid) else {
                continue;
            };
            // The same user on both nodes (two devices) stays apart.
            let participants: Vec<Publisher> = there
                .publishers
                .iter()
                .chain(&there.watchers)
                .filter(|p| !here(&p.identity))
                .cloned()
                .collect();
            if participants.is_empty() {
                continue;
            }
            wants.push(Want {
                cid: room.cid.clone(),
                far: far.id.clone(),
                url: far.url.clone(),
                participants,
            });
        }
    }
    wants
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

    /// Node `id` hosting calls (cid, publishers, watchers).
    fn node(id: &str, rooms: &[(&str, &[&str], &[&str])]) -> SfuNode {
        SfuNode {
            id: id.into(),
            url: format!("ws://{id}"),
            rooms: rooms
                .iter()
                .map(|(cid, publishers, watchers)| HostedRoom {
                    cid: cid.to_string(),
                    participants: 1,
                    publishers: publishers.iter().map(|p| publisher(p)).collect(),
                    watchers: watchers.iter().map(|p| publisher(p)).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_node_links_to_every_other_node_of_each_call_it_hosts() {
        let nodes = [
            node(
                "a",
                &[("c:show", &["alice"], &["erin"]), ("c:solo", &["bob"], &[])],
            ),
            node(
                "b",
                &[
                    ("c:show", &["carol", "alice"], &["frank", "erin"]),
                    ("c:other", &["dave"], &[]),
                ],
            ),
            node("c", &[("c:show", &[], &[])]),
        ];
        let wants = wanted(&nodes, "a");
        assert_eq!(
            wants,
            [
                // alice and erin are a's own too (second devices): not carried.
                Want {
                    cid: "c:show".into(),
                    far: "b".into(),
                    url: "ws://b".into(),
                    participants: vec![publisher("carol"), publisher("frank")],
                },
                // c hosts the call with nobody listed: nothing to carry.
            ]
        );
        assert!(wanted(&nodes, "gone").is_empty());
    }
}
