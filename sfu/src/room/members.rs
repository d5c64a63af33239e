//! Who comes and goes: admission against the call's and the node's limits,
//! joins (a newer connection of the same user replaces the older), leaves,
//! and the participant updates everyone hears of them.

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use onair_bus::EventKind;

use super::{is_hidden, is_own, leave_request, owner, Member, Room};
use crate::gate::Refusal;
use crate::ids::TrackSid;
use crate::limits::{count, Limit};
use crate::media::{Command, Pid};
use crate::outbox::Outbox;

impl Room {
    /// Refuses a newcomer when the call (its own limit) or the room (the
    /// node's) has its most users; the same user again, and hidden
    /// participants, always fit.
    pub(super) fn admit(
        &self,
        join: &lk::JoinResponse,
        max_participants: Option<u32>,
    ) -> Result<(), Refusal> {
        let Some(info) = join.participant.as_ref() else {
            return Ok(());
        };
        // Another node admitted a relayed participant already. But a
        // relayed copy never replaces the participant itself, who may have
        // moved here before the registry told the relays.
        if !is_own(info) {
            let here = (self.members.values())
                .any(|m| m.info.identity == info.identity && is_own(&m.info));
            return match here {
                true => Err(Refusal::ConnectedHere),
                false => Ok(()),
            };
        }
        let me = owner(&info.identity);
        let others: std::collections::BTreeSet<&str> = self
            .members
            .values()
            .filter(|m| !is_hidden(&m.info))
            .map(|m| owner(&m.info.identity))
            .filter(|o| *o != me)
            .collect();
        let max = max_participants
            .map_or(usize::MAX, |m| m as usize)
            .min(self.limits.participants_per_room);
        if others.len() >= max {
            tracing::info!(room = %self.name, identity = %info.identity, max, "join refused: the call is full");
            count(Limit::Full, 1);
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Adds an admitted participant: it hears the room first, then
    /// receives what it may of what others publish.
    pub(super) fn join(
        &mut self,
        pid: Pid,
        mut join: lk::JoinResponse,
        auto_subscribe: bool,
        outbox: Outbox,
    ) {
        let info = join.participant.clone().unwrap_or_default();
        // The same user again (a rejoin after a network loss, or a second
        // device): the newer connection replaces the older one.
        let older: Vec<Pid> = self
            .members
            .iter()
            .filter(|(_, m)| m.info.identity == info.identity)
            .map(|(p, _)| *p)
            .collect();
        for old in older {
            if let Some(member) = self.members.get(&old) {
                member.outbox.send(leave_request(
                    lk::DisconnectReason::DuplicateIdentity,
                    lk::leave_request::Action::Disconnect,
                ));
            }
            tracing::info!(room = %self.name, identity = %info.identity, "replacing the older connection");
            self.leave(old, "replaced");
            self.commands.push(Command::Leave { pid: old });
        }
        let others: Vec<lk::ParticipantInfo> = self
            .members
            .values()
            .filter(|m| !is_hidden(&m.info))
            .map(|m| m.info.clone())
            .collect();
        // Hidden participants (recorders) are not the call's participants;
        // a relayed one's node reports its comings and goings.
        if !is_hidden(&info) {
            self.broadcast_update(&info, Some(pid));
        }
        if is_own(&info) {
            self.pending_events.push(EventKind::ParticipantJoined {
                user_id: info.identity.clone(),
                participant_sid: info.sid.clone(),
            });
        }
        // Nothing may reach the participant before its join response.
        join.room = Some(self.room_info());
        join.other_participants = others;
        outbox.send(Out::Join(join));
        self.members.insert(
            pid,
            Member {
                info,
                outbox,
                auto_subscribe,
                declined: Vec::new(),
                wanted: Vec::new(),
                track_permissions: None,
            },
        );
        // Existing published tracks flow to the newcomer if the rules allow.
        let sources: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for publisher in sources {
            self.subscribe_all(pid, publisher);
        }
    }

    /// Removes a participant; the others hear it left.
    pub(super) fn leave(&mut self, pid: Pid, reason: &str) {
        let Some(mut member) = self.members.remove(&pid) else {
            return;
        };
        let gone: Vec<TrackSid> = member
            .info
            .tracks
            .iter()
            .map(|t| TrackSid::from(t.sid.as_str()))
            .collect();
        self.forget_tracks(&gone);
        if is_own(&member.info) {
            self.pending_events.push(EventKind::ParticipantLeft {
                user_id: member.info.identity.clone(),
                participant_sid: member.info.sid.clone(),
                reason: Some(reason.to_owned()),
            });
        }
        member.info.state = lk::participant_info::State::Disconnected as i32;
        member.info.version += 1;
        if !is_hidden(&member.info) {
            self.broadcast_update(&member.info, None);
        }
    }

    /// The room as the SFU registry shows it: its own participants, who
    /// publishes and who watches; nothing without participants of its own
    /// (then relays of other nodes need not bring it anything).
    pub(super) fn hosted(&self) -> Option<onair_bus::HostedRoom> {
        let own: Vec<&Member> = self.members.values().filter(|m| is_own(&m.info)).collect();
        if own.is_empty() {
            return None;
        }
        let listed = |m: &&Member| onair_bus::Publisher {
            identity: m.info.identity.clone(),
            name: m.info.name.clone(),
        };
        let (publishers, mut watchers): (Vec<&Member>, Vec<&Member>) =
            own.iter().partition(|m| !m.info.tracks.is_empty());
        // The same ones every time, or relays would churn past the limit.
        watchers.sort_by(|a, b| a.info.identity.cmp(&b.info.identity));
        Some(onair_bus::HostedRoom {
            cid: self.name.clone(),
            participants: own.len() as u32,
            tracks: own.iter().map(|m| m.info.tracks.len() as u32).sum(),
            publishers: publishers.iter().map(listed).collect(),
            watchers: watchers
                .iter()
                .take(onair_bus::nodes::MAX_WATCHERS)
                .map(listed)
                .collect(),
        })
    }

    /// Everyone `pid` may see (itself included) and the room, for a
    /// client that may have missed updates while it was away.
    pub(super) fn resync(&self, pid: Pid) {
        let Some(member) = self.members.get(&pid) else {
            return;
        };
        let participants = self
            .members
            .iter()
            .filter(|(p, m)| **p == pid || !is_hidden(&m.info))
            .map(|(_, m)| m.info.clone())
            .collect();
        member
            .outbox
            .send(Out::Update(lk::ParticipantUpdate { participants }));
        member.outbox.send(Out::RoomUpdate(lk::RoomUpdate {
            room: Some(self.room_info()),
        }));
    }

    /// Sends `info` to every member except `skip`.
    pub(super) fn broadcast_update(&self, info: &lk::ParticipantInfo, skip: Option<Pid>) {
        let update = lk::ParticipantUpdate {
            participants: vec![info.clone()],
        };
        for (pid, member) in &self.members {
            if Some(*pid) != skip {
                member.outbox.send(Out::Update(update.clone()));
            }
        }
    }
}
