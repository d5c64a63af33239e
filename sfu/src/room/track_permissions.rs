//! Who may subscribe to a publisher's tracks (livekit-client's
//! `setTrackSubscriptionPermissions`): by default everyone the room's rules
//! allow; a publisher may narrow it to named participants, all of its
//! tracks or some. A participant refused a track does not receive it and
//! hears why (`SubscriptionPermissionUpdate`); a change applies at once.

use livekit_protocol as lk;
use lk::signal_response::Message as Out;

use super::Room;
use crate::ids::TrackSid;
use crate::limits::{count, Limit};
use crate::media::{Command, Pid};

/// Whether `rules` (a publisher's; none: everyone) let `sub` receive `track_sid`.
pub(super) fn allows(
    rules: Option<&lk::SubscriptionPermission>,
    sub: &lk::ParticipantInfo,
    track_sid: &str,
) -> bool {
    let Some(rules) = rules else {
        return true;
    };
    rules.all_participants
        || rules.track_permissions.iter().any(|p| {
            let names_sub = (!p.participant_identity.is_empty()
                && p.participant_identity == sub.identity)
                || (!p.participant_sid.is_empty() && p.participant_sid == sub.sid);
            names_sub && (p.all_tracks || p.track_sids.iter().any(|t| t == track_sid))
        })
}

impl Room {
    /// `pid` sets who may subscribe to its tracks; everyone else in the
    /// room gains or loses them now.
    pub(super) fn set_track_permissions(
        &mut self,
        pid: Pid,
        mut rules: lk::SubscriptionPermission,
    ) {
        // Bounded like any id list a client sends.
        let max = self.limits.ids_per_message;
        if rules.track_permissions.len() > max {
            count(Limit::Ids, 1);
            rules.track_permissions.truncate(max);
        }
        for p in &mut rules.track_permissions {
            p.track_sids.truncate(max);
        }
        let Some(publisher) = self.members.get_mut(&pid) else {
            return;
        };
        let before = publisher.track_permissions.replace(rules);
        let tracks = publisher.live_tracks();
        let subs: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for sub in subs {
            for track_sid in &tracks {
                self.permission_changed(sub, pid, track_sid, before.as_ref());
            }
        }
    }

    /// Applies a publisher's new rules to one subscriber and one track.
    fn permission_changed(
        &mut self,
        sub: Pid,
        publisher: Pid,
        track_sid: &TrackSid,
        before: Option<&lk::SubscriptionPermission>,
    ) {
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return;
        };
        let was = allows(before, &s.info, track_sid.as_str());
        let now = allows(p.track_permissions.as_ref(), &s.info, track_sid.as_str());
        if was == now {
            return;
        }
        match now {
            true => self.subscribe_one(sub, publisher, track_sid),
            false => self.commands.push(Command::Unsubscribe {
                pid: sub,
                track_sid: track_sid.clone(),
            }),
        }
        self.tell_permission(sub, publisher, track_sid, now);
    }

    /// Tells `sub` whether it may receive `publisher`'s `track_sid`.
    pub(super) fn tell_permission(
        &self,
        sub: Pid,
        publisher: Pid,
        track_sid: &TrackSid,
        allowed: bool,
    ) {
        let (Some(s), Some(p)) = (self.members.get(&sub), self.members.get(&publisher)) else {
            return;
        };
        s.outbox.send(Out::SubscriptionPermissionUpdate(
            lk::SubscriptionPermissionUpdate {
                participant_sid: p.info.sid.clone(),
                track_sid: track_sid.to_string(),
                allowed,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(identity: &str, sid: &str) -> lk::ParticipantInfo {
        lk::ParticipantInfo {
            identity: identity.into(),
            sid: sid.into(),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_named_receive_what_they_are_named_for() {
        let rules = lk::SubscriptionPermission {
            all_participants: false,
            track_permissions: vec![
                lk::TrackPermission {
                    participant_identity: "bob".into(),
                    all_tracks: true,
                    ..Default::default()
                },
                lk::TrackPermission {
                    participant_sid: "PA_carol".into(),
                    track_sids: vec!["TR_mic".into()],
                    ..Default::default()
                },
            ],
        };
        let (bob, carol, eve) = (
            participant("bob", "PA_bob"),
            participant("carol", "PA_carol"),
            participant("eve", "PA_eve"),
        );
        assert!(allows(Some(&rules), &bob, "TR_cam"));
        assert!(allows(Some(&rules), &carol, "TR_mic"));
        assert!(!allows(Some(&rules), &carol, "TR_cam"));
        assert!(!allows(Some(&rules), &eve, "TR_mic"));
        assert!(allows(None, &eve, "TR_mic"), "no rules: everyone");
        let open = lk::SubscriptionPermission {
            all_participants: true,
            track_permissions: Vec::new(),
        };
        assert!(allows(Some(&open), &eve, "TR_cam"));
    }
}
