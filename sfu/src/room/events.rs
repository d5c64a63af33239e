//! The call's state changes as the API publishes them on the bus
//! (`docs/ARCHITECTURE.md`, "Bus events"): going live and back to
//! backstage, kicks and blocks, mutes by a moderator, the end of the call.
//! They take effect in the room at once. Also the events the room itself
//! publishes (participants joining and leaving), sent once the message that
//! caused them is handled.

use std::time::Instant;

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use onair_bus::{Event, EventKind};

use super::{can_publish, leave_request, owner, Room};
use crate::ids::TrackSid;
use crate::media::{Command, Pid};

impl Room {
    /// A call-state change from the bus.
    pub(super) fn handle_bus(&mut self, kind: EventKind) {
        if matches!(kind, EventKind::LiveStarted | EventKind::LiveStopped) {
            self.live_set_at = Instant::now();
        }
        self.apply(kind);
    }

    /// The call's state as the store had it at `read_at`: applied unless
    /// a bus event changed it since.
    pub(super) fn handle_reconcile(&mut self, kind: EventKind, read_at: Instant) {
        let stale = matches!(kind, EventKind::LiveStarted | EventKind::LiveStopped)
            && read_at < self.live_set_at;
        if !stale {
            self.apply(kind);
        }
    }

    /// Makes the room what `kind` says the call is now.
    fn apply(&mut self, kind: EventKind) {
        match kind {
            EventKind::LiveStarted if !self.live => self.go_live(),
            EventKind::LiveStopped if self.live => self.go_backstage(),
            EventKind::ParticipantUpdated {
                identity,
                name,
                metadata,
                attributes,
                grant,
            } => {
                let update = lk::UpdateParticipantMetadata {
                    name: name.unwrap_or_default(),
                    metadata: metadata.unwrap_or_default(),
                    attributes: attributes.unwrap_or_default(),
                    request_id: 0,
                };
                self.server_update(&identity, &update, grant.as_ref());
            }
            EventKind::UserKicked { user_id } | EventKind::UserBlocked { user_id } => {
                self.kick(&user_id)
            }
            EventKind::UsersMuted {
                user_ids,
                all,
                audio,
                video,
                screenshare,
            } => {
                let sources: Vec<i32> = [
                    (audio, lk::TrackSource::Microphone),
                    (video, lk::TrackSource::Camera),
                    (screenshare, lk::TrackSource::ScreenShare),
                    (screenshare, lk::TrackSource::ScreenShareAudio),
                ]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, s)| s as i32)
                .collect();
                self.mute_users(&user_ids, all, &sources);
            }
            EventKind::Data {
                user_id,
                topic,
                payload,
            } => self.send_data(&user_id, topic, payload),
            EventKind::CallEnded { reason } => {
                tracing::info!(room = %self.name, ?reason, "call ended: disconnecting everyone");
                self.close();
            }
            EventKind::CallDeleted => {
                tracing::info!(room = %self.name, "call deleted: disconnecting everyone");
                self.close();
            }
            _ => {}
        }
    }

    /// A data packet from the server, on behalf of `user_id`, to everyone
    /// in the room (livekit-client's `DataReceived` with `topic`).
    #[allow(deprecated)] // livekit-client 2.x still reads the deprecated identity field
    fn send_data(&mut self, user_id: &str, topic: String, payload: String) {
        let packet = lk::DataPacket {
            kind: lk::data_packet::Kind::Reliable as i32,
            participant_identity: user_id.to_owned(),
            value: Some(lk::data_packet::Value::User(lk::UserPacket {
                participant_identity: user_id.to_owned(),
                payload: payload.into_bytes(),
                topic: Some(topic),
                ..Default::default()
            })),
            ..Default::default()
        };
        let encoded = prost::Message::encode_to_vec(&packet);
        for (pid, member) in &self.members {
            if !super::is_hidden(&member.info) {
                self.commands.push(Command::SendData {
                    pid: *pid,
                    packet: encoded.clone(),
                });
            }
        }
    }

    /// The call went live: media opens to everyone (`docs/ARCHITECTURE.md`,
    /// "go_live's path").
    fn go_live(&mut self) {
        self.live = true;
        tracing::info!(room = %self.name, "live: media opens to everyone");
        let ids: Vec<Pid> = self.members.keys().copied().collect();
        for sub in &ids {
            for publisher in &ids {
                if sub != publisher {
                    self.subscribe_all(*sub, *publisher);
                }
            }
        }
    }

    /// The call went back to backstage: media closes to those who may not
    /// publish.
    fn go_backstage(&mut self) {
        self.live = false;
        tracing::info!(room = %self.name, "backstage: media closes to viewers");
        for (pid, member) in &self.members {
            if can_publish(&member.info) {
                continue;
            }
            for publisher in self.members.values() {
                for t in &publisher.info.tracks {
                    self.commands.push(Command::Unsubscribe {
                        pid: *pid,
                        track_sid: TrackSid::from(t.sid.as_str()),
                    });
                }
            }
        }
    }

    /// Sends every connection of `user_id` away.
    fn kick(&self, user_id: &str) {
        let leave = leave_request(
            lk::DisconnectReason::ParticipantRemoved,
            lk::leave_request::Action::Disconnect,
        );
        for member in self
            .members
            .values()
            .filter(|m| owner(&m.info.identity) == user_id)
        {
            tracing::info!(room = %self.name, user = %user_id, "kicking");
            member.outbox.send(leave.clone());
        }
    }

    /// Asks every participant to reconnect from scratch (LiveKit's full
    /// reconnect): the node stops, and OnAir's SDKs, reconnecting, ask the
    /// API for the call's node and move there.
    pub(super) fn move_away(&self) {
        let leave = leave_request(
            lk::DisconnectReason::ServerShutdown,
            lk::leave_request::Action::Reconnect,
        );
        tracing::info!(room = %self.name, participants = self.members.len(), "asking everyone to reconnect elsewhere");
        for member in self.members.values() {
            member.outbox.send(leave.clone());
        }
    }

    /// Mutes the unmuted tracks from `sources` of `user_ids` (or of
    /// everyone, with `all`).
    fn mute_users(&mut self, user_ids: &[String], all: bool, sources: &[i32]) {
        let targets: Vec<Pid> = self
            .members
            .iter()
            .filter(|(_, m)| all || user_ids.iter().any(|u| u == owner(&m.info.identity)))
            .map(|(p, _)| *p)
            .collect();
        for pid in targets {
            let Some(member) = self.members.get(&pid) else {
                continue;
            };
            let outbox = member.outbox.clone();
            let track_sids: Vec<TrackSid> = member
                .info
                .tracks
                .iter()
                .filter(|t| sources.contains(&t.source) && !t.muted)
                .map(|t| TrackSid::from(t.sid.as_str()))
                .collect();
            for track_sid in track_sids {
                // The client mutes itself on this request and reports back.
                outbox.send(Out::Mute(lk::MuteTrackRequest {
                    sid: track_sid.to_string(),
                    muted: true,
                }));
                self.mute(pid, &track_sid, true);
            }
        }
    }

    /// Sends everyone away: the call is over.
    fn close(&self) {
        let leave = leave_request(
            lk::DisconnectReason::RoomClosed,
            lk::leave_request::Action::Disconnect,
        );
        for member in self.members.values() {
            member.outbox.send(leave.clone());
        }
    }

    /// Publishes the events the last message caused.
    pub(super) async fn publish_pending(&mut self) {
        for kind in std::mem::take(&mut self.pending_events) {
            let event = Event::new(self.name.clone(), onair_auth::clock::unix_ms(), kind);
            if let Err(e) = self.bus.publish(event).await {
                tracing::warn!(room = %self.name, error = %e, "bus publish failed");
            }
        }
    }
}
