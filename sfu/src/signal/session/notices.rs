//! What the media worker tells a session, turned into what the client
//! and the room hear: subscriber offers (or requests for the client's
//! offer), speakers, connection quality, dynacast's layer wishes, closed
//! media. Tracks starting and ending go from the worker to the room
//! directly.

use std::collections::HashMap;

use livekit_protocol as lk;
use lk::signal_response::Message as Out;

use super::Session;
use crate::media::Notice;
use crate::room::leave_request;

impl Session {
    /// Handles a media worker notice; `false` ends the session.
    pub(super) fn handle_notice(&mut self, notice: Notice) -> bool {
        match notice {
            Notice::SubscriberOffer { sdp, mid_to_track } => self.send_offer(sdp, mid_to_track),
            Notice::OfferWanted { audios, videos } => self.outbox.send(
                Out::MediaSectionsRequirement(lk::MediaSectionsRequirement {
                    num_audios: audios,
                    num_videos: videos,
                }),
            ),
            // They go to the room directly (`RoomMsg::track_sink`).
            Notice::TrackLive { .. } | Notice::TrackEnded { .. } => {}
            Notice::SubscribedQualities {
                track_sid,
                codec,
                qualities,
            } => {
                let qualities: Vec<lk::SubscribedQuality> = qualities
                    .into_iter()
                    .map(|(quality, enabled)| lk::SubscribedQuality {
                        quality: i32::from(quality),
                        enabled,
                    })
                    .collect();
                #[allow(deprecated)] // older clients read only `subscribed_qualities`
                let update = lk::SubscribedQualityUpdate {
                    track_sid: track_sid.into_string(),
                    subscribed_qualities: qualities.clone(),
                    subscribed_codecs: vec![lk::SubscribedCodec { codec, qualities }],
                };
                self.outbox.send(Out::SubscribedQualityUpdate(update));
            }
            Notice::ConnectionQuality(list) => {
                let updates = list
                    .into_iter()
                    .map(|(sid, quality, score)| lk::ConnectionQualityInfo {
                        participant_sid: sid.into_string(),
                        quality,
                        score,
                    })
                    .collect();
                self.outbox
                    .send(Out::ConnectionQuality(lk::ConnectionQualityUpdate {
                        updates,
                    }));
            }
            Notice::Speakers(levels) => {
                let speakers = levels
                    .into_iter()
                    .map(|(participant_sid, level, active)| lk::SpeakerInfo {
                        sid: participant_sid.into_string(),
                        level,
                        active,
                    })
                    .collect();
                self.outbox
                    .send(Out::SpeakersChanged(lk::SpeakersChanged { speakers }));
            }
            Notice::Closed { reason } => {
                tracing::info!(%reason, "media closed");
                self.outbox.send(leave_request(
                    lk::DisconnectReason::StateMismatch,
                    lk::leave_request::Action::Reconnect,
                ));
                return false;
            }
        }
        true
    }

    /// Sends the client our subscriber offer.
    pub(super) fn send_offer(&mut self, sdp: String, mid_to_track_id: HashMap<String, String>) {
        self.offer_id += 1;
        self.outbox.send(Out::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: self.offer_id,
            mid_to_track_id,
        }));
    }
}
