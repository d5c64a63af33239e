//! Active speakers: each publisher's audio level (the RTP header
//! extension, smoothed) and who spoke lately, told to the room when the
//! list changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::rtp::RtpPacket;

use super::{Participant, Worker};
use crate::media::{Notice, ParticipantSid, Pid};

/// Heard above the threshold within this long: speaking.
const SPEAKING_FOR: Duration = Duration::from_millis(800);

/// Notes a publisher's audio level (`-127..0` dBov → `0..1`, smoothed) for
/// the speaker list.
pub(super) fn hear_audio_level(
    participants: &mut HashMap<Pid, Participant>,
    publisher: Pid,
    packet: &RtpPacket,
    now: Instant,
) {
    let Some(level) = packet.header.ext_vals.audio_level else {
        return;
    };
    if let Some(p) = participants.get_mut(&publisher) {
        let l = ((127.0 + f32::from(level)) / 127.0).clamp(0.0, 1.0);
        p.level = p.level * 0.9 + l * 0.1;
        if level > -50 {
            p.heard = Some(now);
        }
    }
}

impl Worker {
    /// Tells each room who speaks, when that changed.
    pub(super) fn speakers(&mut self, now: Instant) {
        let mut changed_rooms: Vec<String> = Vec::new();
        for p in self.participants.values_mut() {
            let speaking = p
                .heard
                .is_some_and(|t| now.duration_since(t) < SPEAKING_FOR);
            if speaking != p.speaking {
                p.speaking = speaking;
                if !changed_rooms.contains(&p.room) {
                    changed_rooms.push(p.room.clone());
                }
            }
        }
        for room in changed_rooms {
            let mut speakers: Vec<(ParticipantSid, f32, bool)> = self
                .participants
                .values()
                .filter(|p| p.room == room)
                .map(|p| {
                    (
                        p.participant_sid.clone(),
                        if p.speaking { p.level } else { 0.0 },
                        p.speaking,
                    )
                })
                .collect();
            speakers.sort_by(|a, b| b.1.total_cmp(&a.1));
            self.tell_room(&room, || Notice::Speakers(speakers.clone()));
        }
    }
}
