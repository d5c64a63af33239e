//! Data packets (chat, reactions, text and byte streams, RPC): relayed
//! from a publisher's `_reliable` / `_lossy` channel to the same channel of
//! everyone else, or of the named identities. The SFU writes who sent a
//! packet (a client cannot speak for another), and drops packets over
//! LiveKit's size.

use super::*;
use crate::limits::{count, Limit};

/// Largest data packet relayed: LiveKit's 15 KiB (its clients cut text
/// and byte streams into chunks below it).
pub const MAX_DATA_PACKET: usize = 15 * 1024;

impl Worker {
    /// Relays a data packet from a publisher to its room (or to the named identities).
    // livekit-client 2.x still reads and writes the deprecated identity fields.
    #[allow(deprecated)]
    pub(super) fn relay_data(&mut self, from: Pid, channel: ChannelId, bytes: &[u8]) {
        let Some(label) = self
            .peers
            .get(&self.peer_of(from, Role::Publisher))
            .and_then(|p| p.labels.get(&channel))
            .cloned()
        else {
            return;
        };
        if label != "_reliable" && label != "_lossy" {
            return;
        }
        let Some(sender) = self.participants.get(&from) else {
            return;
        };
        if !sender.can_publish_data {
            tracing::debug!(
                pid = %from,
                "data from a participant without canPublishData dropped"
            );
            return;
        }
        if bytes.len() > MAX_DATA_PACKET {
            count(Limit::Data, 1);
            tracing::info!(pid = %from, size = bytes.len(), max = MAX_DATA_PACKET, "data packet over the size dropped");
            return;
        }
        let mut packet = match livekit_protocol::DataPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(pid = %from, error = %e, "malformed data packet dropped");
                return;
            }
        };
        packet.kind = if label == "_lossy" { 1 } else { 0 };
        packet.participant_identity = sender.identity.clone();
        packet.participant_sid = sender.participant_sid.to_string();
        let mut destinations = packet.destination_identities.clone();
        if let Some(livekit_protocol::data_packet::Value::User(user)) = packet.value.as_mut() {
            user.participant_identity = sender.identity.clone();
            user.participant_sid = sender.participant_sid.to_string();
            if destinations.is_empty() {
                destinations = user.destination_identities.clone();
            }
        }
        let room = sender.room.clone();
        let encoded = packet.encode_to_vec();
        let recipients: Vec<Pid> = self
            .participants
            .iter()
            .filter(|(pid, p)| {
                **pid != from
                    && p.room == room
                    && (destinations.is_empty() || destinations.contains(&p.identity))
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in recipients {
            self.deliver_data(pid, &label, &encoded);
        }
    }

    /// Writes an encoded packet to `pid`'s `label` channel, if it has one.
    pub(super) fn deliver_data(&mut self, pid: Pid, label: &str, encoded: &[u8]) {
        let id = self.peer_of(pid, Role::Subscriber);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(channel) = peer.channels.get(label).copied() else {
            return;
        };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Some(mut ch) = peer.rtc.channel(channel) {
                if !ch.write(true, encoded).unwrap_or(false) {
                    tracing::debug!(pid = %pid, "data channel full; packet dropped");
                }
            }
        }));
        self.drain(id);
    }
}
