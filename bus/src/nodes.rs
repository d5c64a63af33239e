//! The registry of SFU nodes: each SFU announces itself (where clients
//! reach it, its region, its load and the rooms it hosts) every
//! [`ANNOUNCE_EVERY`]; the API reads the registry to place each joining
//! participant. A node not heard from for [`NODE_TTL`] is gone, so a
//! killed node stops getting participants within seconds. A draining node
//! gets no one new but stays listed while it carries calls: relays of the
//! other nodes of its calls go on carrying its participants.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often an SFU node announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// A node whose machine's CPU is this much in use gets newcomers only
/// when every node is (LiveKit's `cpuload` selector has the same rule).
pub const CPU_BUSY: f32 = 0.85;

/// A node silent this long is gone.
pub const NODE_TTL: Duration = Duration::from_secs(3);

/// How long a room's placement holds before its node announces the room:
/// two participants joining a new room at once go to the same node.
pub const PLACEMENT_TTL: Duration = Duration::from_secs(15);

/// One SFU node, as it announced itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SfuNode {
    /// Unique per process.
    pub id: String,
    /// Where clients open `/rtc` (`wss://…`).
    pub url: String,
    /// Its region label, if configured.
    #[serde(default)]
    pub region: Option<String>,
    /// Where its media is reached: its ICE candidates (`ip:port`).
    #[serde(default)]
    pub media: Vec<String>,
    /// Its own participants now (the API placed them here; relays and
    /// recorders do not count).
    pub participants: u32,
    /// Tracks its own participants publish.
    #[serde(default)]
    pub tracks: u32,
    /// RTP packets it forwarded per second since its last announcement.
    #[serde(default)]
    pub forwarded_pps: u64,
    /// Its machine's CPU in use since its last announcement, from 0 to 1
    /// (all cores); none where that cannot be read.
    #[serde(default)]
    pub cpu: Option<f32>,
    /// The most participants the API should place here (none: no limit).
    #[serde(default)]
    pub capacity: Option<u32>,
    /// The calls it hosts now: those with a participant of its own.
    pub rooms: Vec<HostedRoom>,
    /// When it announced this, ms since the Unix epoch.
    pub seen_ms: i64,
    /// It drains: it takes no one new, and leaves once its calls end.
    #[serde(default)]
    pub draining: bool,
}

impl SfuNode {
    /// Heard from within [`NODE_TTL`] of `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms - self.seen_ms <= NODE_TTL.as_millis() as i64
    }

    /// Its entry for call `cid`, if it hosts it.
    pub fn room(&self, cid: &str) -> Option<&HostedRoom> {
        self.rooms.iter().find(|r| r.cid == cid)
    }

    /// It may take another participant.
    pub fn has_room(&self) -> bool {
        !self.draining && self.capacity.is_none_or(|c| self.participants < c)
    }

    /// Its machine's CPU is at least [`CPU_BUSY`] in use.
    pub fn is_busy(&self) -> bool {
        self.cpu.is_some_and(|c| c >= CPU_BUSY)
    }
}

/// The node to join call `cid` at to receive all of it (a recorder): one
/// hosting it, the one with most of its participants, a draining one
/// last. Every node hosting a call carries all of it through its relays.
pub fn host_of<'a>(nodes: &'a [SfuNode], cid: &str) -> Option<&'a SfuNode> {
    (nodes.iter())
        .filter_map(|n| n.room(cid).map(|r| (n, r.participants)))
        .max_by_key(|(n, participants)| (!n.draining, *participants, std::cmp::Reverse(&n.id)))
        .map(|(n, _)| n)
}

/// Participants a room lists as watchers at most: the registry entry stays
/// small, and each is one more connection on every other node of the call.
pub const MAX_WATCHERS: usize = 64;

/// A call a node hosts: participants of its own are connected to it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostedRoom {
    /// The call.
    pub cid: String,
    /// Its own participants here.
    #[serde(default)]
    pub participants: u32,
    /// The tracks they publish.
    #[serde(default)]
    pub tracks: u32,
    /// Its participants here who publish (relays of other nodes carry
    /// their tracks there).
    pub publishers: Vec<Publisher>,
    /// Its participants here who publish nothing, up to [`MAX_WATCHERS`]
    /// (relays of other nodes show them there).
    #[serde(default)]
    pub watchers: Vec<Publisher>,
}

/// A participant as other nodes relay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    /// Its identity.
    pub identity: String,
    /// Its display name.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, draining: bool, rooms: &[(&str, u32)]) -> SfuNode {
        SfuNode {
            id: id.into(),
            participants: rooms.iter().map(|(_, n)| n).sum(),
            draining,
            rooms: (rooms.iter())
                .map(|(cid, participants)| HostedRoom {
                    cid: cid.to_string(),
                    participants: *participants,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_recorder_joins_where_most_of_the_call_is_and_not_a_draining_node() {
        let nodes = [
            node("a", false, &[("c1", 1), ("c2", 4)]),
            node("b", false, &[("c1", 3)]),
            node("c", true, &[("c1", 9), ("c3", 2)]),
        ];
        let host = |cid| host_of(&nodes, cid).map(|n| n.id.as_str());
        assert_eq!(host("c1"), Some("b"), "most participants, not draining");
        assert_eq!(host("c2"), Some("a"));
        assert_eq!(
            host("c3"),
            Some("c"),
            "a draining node when none other hosts it"
        );
        assert_eq!(host("c4"), None);
    }
}
