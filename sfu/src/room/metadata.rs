//! Metadata: the room's (the call's `custom` data, from the store, and its
//! participant counts, sent at most once a second when they change) and a
//! participant's own name, metadata and attributes, changed from its
//! client (`setName`, `setMetadata`, `setAttributes` in livekit-client):
//! allowed by the join grant's `canUpdateOwnMetadata`, held to LiveKit's
//! sizes, and heard by everyone in the room (the client itself waits for
//! its own update before its promise resolves).

use std::collections::HashMap;

use livekit_protocol as lk;
use lk::request_response::Reason;
use lk::signal_response::Message as Out;

use super::Room;
use crate::limits::{count, Limit};
use crate::media::Pid;

/// Why an update was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum MetadataRefusal {
    /// The grant lacks `canUpdateOwnMetadata`.
    #[error("this participant may not update its own metadata")]
    NotAllowed,
    /// Over one of the sizes.
    #[error("{what} over {max} bytes")]
    TooLarge {
        /// Name, metadata or attributes.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

impl MetadataRefusal {
    fn reason(&self) -> Reason {
        match self {
            MetadataRefusal::NotAllowed => Reason::NotAllowed,
            MetadataRefusal::TooLarge { .. } => Reason::LimitExceeded,
        }
    }
}

impl Room {
    /// The call's `custom` data changed: everyone hears the room's new
    /// metadata (`RoomUpdate`, livekit-client's `RoomMetadataChanged`).
    pub(super) fn set_metadata(&mut self, metadata: String) {
        if metadata == self.metadata {
            return;
        }
        self.metadata = metadata;
        self.send_room_update();
    }

    /// The participant and publisher counts changed since everyone last
    /// heard them (livekit-client's `numParticipants`, `numPublishers`).
    pub(super) fn send_counts(&mut self) {
        if self.counts() != self.counts_sent {
            self.send_room_update();
        }
    }

    /// Everyone hears the room as it is now.
    fn send_room_update(&mut self) {
        self.counts_sent = self.counts();
        let update = Out::RoomUpdate(lk::RoomUpdate {
            room: Some(self.room_info()),
        });
        for member in self.members.values() {
            member.outbox.send(update.clone());
        }
    }

    /// The API changes what others see of participant `identity`, and what
    /// it may do (checked there): every connection of it is updated and
    /// everyone hears it.
    pub(super) fn server_update(
        &mut self,
        identity: &str,
        update: &lk::UpdateParticipantMetadata,
        grant: Option<&onair_auth::VideoGrant>,
    ) {
        let pids: Vec<Pid> = self
            .members
            .iter()
            .filter(|(_, m)| m.info.identity == identity)
            .map(|(pid, _)| *pid)
            .collect();
        if let Some(grant) = grant {
            self.narrow_ingests(identity, grant);
        }
        let limits = self.limits.clone();
        for pid in pids {
            if let Some(grant) = grant {
                self.set_grant(pid, grant);
            }
            let Some(member) = self.members.get_mut(&pid) else {
                continue;
            };
            if let Err(refusal) = apply(&mut member.info, update, &limits) {
                tracing::info!(pid = %pid, %refusal, "participant update from the API refused");
            }
            self.announce(pid);
        }
    }

    /// Tells everyone (`pid` too, whose client waits for the echo) of
    /// `pid`'s changed info.
    pub(super) fn announce(&mut self, pid: Pid) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        member.info.version += 1;
        let info = member.info.clone();
        if super::is_hidden(&info) {
            member.outbox.send(Out::Update(lk::ParticipantUpdate {
                participants: vec![info],
            }));
        } else {
            self.broadcast_update(&info, None);
        }
    }

    /// Applies `update` to `pid`'s info and tells everyone, or answers the
    /// client why not.
    pub(super) fn update_metadata(&mut self, pid: Pid, update: lk::UpdateParticipantMetadata) {
        let limits = self.limits.clone();
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let allowed = member
            .info
            .permission
            .as_ref()
            .is_some_and(|p| p.can_update_metadata);
        let checked = match allowed {
            true => apply(&mut member.info, &update, &limits),
            false => Err(MetadataRefusal::NotAllowed),
        };
        if let Err(refusal) = checked {
            if matches!(refusal, MetadataRefusal::TooLarge { .. }) {
                count(Limit::Metadata, 1);
            }
            tracing::info!(pid = %pid, %refusal, "metadata update refused");
            member
                .outbox
                .send(Out::RequestResponse(lk::RequestResponse {
                    request_id: update.request_id,
                    reason: refusal.reason() as i32,
                    message: refusal.to_string(),
                    ..Default::default()
                }));
            return;
        }
        self.announce(pid);
    }
}

/// Applies what `update` sets (LiveKit's rules: an empty name or metadata
/// leaves it as it is; an attribute set to "" is removed), if the result
/// stays within `limits`; `info` is unchanged otherwise.
fn apply(
    info: &mut lk::ParticipantInfo,
    update: &lk::UpdateParticipantMetadata,
    limits: &crate::limits::SignalLimits,
) -> Result<(), MetadataRefusal> {
    let too_large = |what, max| MetadataRefusal::TooLarge { what, max };
    if update.name.len() > limits.name_bytes {
        return Err(too_large("name", limits.name_bytes));
    }
    if update.metadata.len() > limits.metadata_bytes {
        return Err(too_large("metadata", limits.metadata_bytes));
    }
    let mut attributes: HashMap<String, String> = info.attributes.clone();
    // `onair.` attributes are the server's (a relayed participant's mark).
    let own = update
        .attributes
        .iter()
        .filter(|(k, _)| !k.starts_with("onair."));
    for (key, value) in own {
        match value.is_empty() {
            true => attributes.remove(key),
            false => attributes.insert(key.clone(), value.clone()),
        };
    }
    let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > limits.attributes_bytes {
        return Err(too_large("attributes", limits.attributes_bytes));
    }
    if !update.name.is_empty() {
        info.name = update.name.clone();
    }
    if !update.metadata.is_empty() {
        info.metadata = update.metadata.clone();
    }
    info.attributes = attributes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::SignalLimits;

    fn update(
        name: &str,
        metadata: &str,
        attributes: &[(&str, &str)],
    ) -> lk::UpdateParticipantMetadata {
        lk::UpdateParticipantMetadata {
            name: name.into(),
            metadata: metadata.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            request_id: 7,
        }
    }

    #[test]
    fn attributes_merge_and_an_empty_value_removes_one() {
        let limits = SignalLimits::default();
        let mut info = lk::ParticipantInfo::default();
        apply(
            &mut info,
            &update("Ann", "{}", &[("mood", "happy"), ("desk", "4")]),
            &limits,
        )
        .unwrap();
        apply(&mut info, &update("", "", &[("mood", "")]), &limits).unwrap();
        assert_eq!((info.name.as_str(), info.metadata.as_str()), ("Ann", "{}"));
        assert_eq!(info.attributes.len(), 1);
        assert_eq!(info.attributes["desk"], "4");
    }

    #[test]
    fn a_client_cannot_set_or_remove_the_servers_attributes() {
        let limits = SignalLimits::default();
        let mut info = lk::ParticipantInfo::default();
        // Posing as another node's relayed participant (neither counted
        // nor announced) is refused silently; the rest applies.
        let relayed = crate::room::RELAYED_FROM;
        apply(
            &mut info,
            &update("", "", &[(relayed, "sfu-x"), ("a", "1")]),
            &limits,
        )
        .unwrap();
        assert!(!info.attributes.contains_key(relayed));
        assert_eq!(info.attributes["a"], "1");
        // A relayed participant cannot shed the mark either.
        info.attributes.insert(relayed.into(), "sfu-y".into());
        apply(&mut info, &update("", "", &[(relayed, "")]), &limits).unwrap();
        assert_eq!(info.attributes[relayed], "sfu-y");
    }

    #[test]
    fn oversized_updates_change_nothing() {
        let limits = SignalLimits::default();
        let mut info = lk::ParticipantInfo::default();
        let long = "x".repeat(limits.name_bytes + 1);
        assert!(matches!(
            apply(&mut info, &update(&long, "", &[]), &limits),
            Err(MetadataRefusal::TooLarge { what: "name", .. })
        ));
        let big = "x".repeat(limits.attributes_bytes);
        assert!(matches!(
            apply(&mut info, &update("Ann", "", &[("k", &big)]), &limits),
            Err(MetadataRefusal::TooLarge {
                what: "attributes",
                ..
            })
        ));
        assert_eq!(info, lk::ParticipantInfo::default());
    }
}
