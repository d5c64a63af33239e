//! Who receives which track: the room's rule (see [`crate::room`]), each
//! member's explicit (un)subscriptions, and the commands that tell the
//! media worker.

use super::track_permissions;
use super::{can_publish, is_recorder_only, Room};
use crate::ids::TrackSid;
use crate::limits::{count, Limit};
use crate::media::{Command, Pid};

impl Room {
    /// May `sub` receive `publisher`'s media now?
    pub(super) fn may_receive(&self, sub: Pid, publisher: Pid) -> bool {
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return false;
        };
        let perm = s.info.permission.clone().unwrap_or_default();
        perm.can_subscribe && !is_recorder_only(&p.info) && (self.live || can_publish(&s.info))
    }

    /// Explicit (un)subscriptions. Only tracks published in the room count,
    /// each once, and a participant holds a bounded number of them.
    pub(super) fn subscription(&mut self, pid: Pid, track_sids: Vec<TrackSid>, subscribe: bool) {
        for track_sid in track_sids {
            let Some(publisher) = self
                .members
                .iter()
                .find(|(_, m)| m.info.tracks.iter().any(|t| track_sid == t.sid))
                .map(|(p, _)| *p)
            else {
                continue;
            };
            let limit = self.limits.subscriptions_per_participant;
            let Some(member) = self.members.get_mut(&pid) else {
                return;
            };
            member.declined.retain(|s| *s != track_sid);
            member.wanted.retain(|s| *s != track_sid);
            // An unsubscribe always takes effect; only its record is bounded.
            let full = member.declined.len() + member.wanted.len() >= limit;
            if full {
                count(Limit::Ids, 1);
            }
            if subscribe {
                if full {
                    continue;
                }
                member.wanted.push(track_sid.clone());
                self.subscribe_one(pid, publisher, &track_sid);
            } else {
                if !full {
                    member.declined.push(track_sid.clone());
                }
                self.commands.push(Command::Unsubscribe { pid, track_sid });
            }
        }
    }

    /// Sends `sub` every live track of `publisher` it may and wants receive.
    pub(super) fn subscribe_all(&mut self, sub: Pid, publisher: Pid) {
        let Some(p) = self.members.get(&publisher) else {
            return;
        };
        for track_sid in &p.live_tracks() {
            self.subscribe_one(sub, publisher, track_sid);
        }
    }

    /// Sends `sub` track `track_sid` of `publisher`, if it may and wants.
    pub(super) fn subscribe_one(&mut self, sub: Pid, publisher: Pid, track_sid: &TrackSid) {
        if !self.may_receive(sub, publisher) {
            return;
        }
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return;
        };
        let wants = if s.auto_subscribe {
            !s.declined.contains(track_sid)
        } else {
            s.wanted.contains(track_sid)
        };
        if !wants {
            return;
        }
        if !track_permissions::allows(p.track_permissions.as_ref(), &s.info, track_sid.as_str()) {
            self.tell_permission(sub, publisher, track_sid, false);
            return;
        }
        self.commands.push(Command::Subscribe {
            pid: sub,
            publisher,
            track_sid: track_sid.clone(),
            stream: format!("{}|{}", p.info.sid, track_sid),
        });
    }
}
