//! A connected participant's permissions changed by the API (a member's new
//! role, `PATCH …/participants/{identity}`): the client hears its new
//! `ParticipantPermission` and may publish without rejoining; what it may
//! no longer do stops at once (its tracks of a revoked source are
//! unpublished and no longer forwarded; a revoked subscription stops). A
//! user's ingests (RTMP, WHIP) lose what the user loses.

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use onair_auth::VideoGrant;

use super::Room;
use crate::ids::TrackSid;
use crate::media::{Command, Pid};

impl Room {
    /// Gives `pid` the permissions of `grant`; the caller tells the room.
    #[allow(deprecated)] // `recorder` is how LiveKit grants mark egress participants
    pub(super) fn set_grant(&mut self, pid: Pid, grant: &VideoGrant) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let old = member.info.permission.clone().unwrap_or_default();
        let mut new = crate::grant::permission(grant);
        // Hidden and recorder participants stay what their token made them.
        new.hidden = old.hidden;
        new.recorder = old.recorder;
        member.info.permission = Some(new.clone());
        if old.can_publish_data != new.can_publish_data {
            self.commands.push(Command::DataPermission {
                pid,
                allowed: new.can_publish_data,
            });
        }
        self.unpublish_revoked(pid, &new);
        match (old.can_subscribe, new.can_subscribe) {
            (true, false) => self.unsubscribe_all(pid),
            (false, true) => self.subscribe_everything(pid),
            _ => {}
        }
    }

    /// `user`'s ingests (RTMP, WHIP: `{user}:ingest`) publish no more than
    /// `grant` lets the user publish; what they may not is unpublished.
    pub(super) fn narrow_ingests(&mut self, user: &str, grant: &VideoGrant) {
        let allowed = crate::grant::permission(grant);
        let ingests: Vec<Pid> = self
            .members
            .iter()
            .filter(|(_, m)| m.info.identity != user && super::owner(&m.info.identity) == user)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in ingests {
            let Some(member) = self.members.get_mut(&pid) else {
                continue;
            };
            let permission = member.info.permission.get_or_insert_default();
            permission.can_publish = allowed.can_publish;
            permission.can_publish_sources = allowed.can_publish_sources.clone();
            let permission = permission.clone();
            tracing::info!(pid = %pid, can_publish = permission.can_publish, "ingest narrowed to its user's grant");
            self.unpublish_revoked(pid, &permission);
            self.announce(pid);
        }
    }

    /// Unpublishes `pid`'s tracks that `permission` no longer allows: the
    /// client hears each is gone, and nobody receives it any more.
    fn unpublish_revoked(&mut self, pid: Pid, permission: &lk::ParticipantPermission) {
        let Some(member) = self.members.get_mut(&pid) else {
            return;
        };
        let allowed = |t: &lk::TrackInfo| {
            permission.can_publish
                && (permission.can_publish_sources.is_empty()
                    || permission.can_publish_sources.contains(&t.source))
        };
        let revoked: Vec<TrackSid> = member
            .info
            .tracks
            .iter()
            .filter(|t| !allowed(t))
            .map(|t| TrackSid::from(t.sid.as_str()))
            .collect();
        member.info.tracks.retain(|t| allowed(t));
        for track_sid in &revoked {
            member
                .outbox
                .send(Out::TrackUnpublished(lk::TrackUnpublishedResponse {
                    track_sid: track_sid.to_string(),
                }));
        }
        let others: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for sub in others {
            for track_sid in &revoked {
                self.commands.push(Command::Unsubscribe {
                    pid: sub,
                    track_sid: track_sid.clone(),
                });
            }
        }
        self.forget_tracks(&revoked);
    }

    /// `pid` may no longer subscribe: it stops receiving every track.
    fn unsubscribe_all(&mut self, pid: Pid) {
        for (publisher, member) in &self.members {
            if *publisher == pid {
                continue;
            }
            for t in &member.info.tracks {
                self.commands.push(Command::Unsubscribe {
                    pid,
                    track_sid: TrackSid::from(t.sid.as_str()),
                });
            }
        }
    }

    /// `pid` may subscribe again: it receives what it may and wants.
    fn subscribe_everything(&mut self, pid: Pid) {
        let publishers: Vec<Pid> = self.members.keys().copied().filter(|p| *p != pid).collect();
        for publisher in publishers {
            self.subscribe_all(pid, publisher);
        }
    }
}
