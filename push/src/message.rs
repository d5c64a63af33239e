//! What a push says, independent of the provider: the call fields both
//! payloads carry and the human text of alerts.

use serde::{Deserialize, Serialize};

/// What to tell the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushMessage {
    /// An incoming call: rings the phone (APNs: a VoIP push to topic
    /// `<bundle>.voip` when the device is a VoIP token, else an alert; FCM: a
    /// high-priority data message).
    Ring {
        /// The call, `type:id`.
        call_cid: String,
        /// Who calls.
        caller_id: String,
        /// Their display name, if known.
        caller_name: Option<String>,
        /// A video call rather than audio only.
        video: bool,
    },
    /// The ring ended elsewhere (accepted, rejected, cancelled, timed out):
    /// stop ringing. APNs: a VoIP push for VoIP tokens, else a background
    /// push; FCM: high-priority data.
    Ended {
        /// The call, `type:id`.
        call_cid: String,
        /// Why it ended (`accepted`, `rejected`, `cancelled`, `timeout`…).
        reason: String,
    },
    /// A missed call: an alert ("Missed call from …").
    Missed {
        /// The call, `type:id`.
        call_cid: String,
        /// Who called.
        caller_id: String,
        /// Their display name, if known.
        caller_name: Option<String>,
        /// A video call rather than audio only.
        video: bool,
    },
}

/// A title and body for an alert.
pub(crate) struct Alert {
    pub title: String,
    pub body: String,
}

impl PushMessage {
    /// The `type` field the app switches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ring { .. } => "call.ring",
            Self::Ended { .. } => "call.ended",
            Self::Missed { .. } => "call.missed",
        }
    }

    /// The call this push is about.
    pub fn call_cid(&self) -> &str {
        match self {
            Self::Ring { call_cid, .. }
            | Self::Ended { call_cid, .. }
            | Self::Missed { call_cid, .. } => call_cid,
        }
    }

    /// The custom fields both providers carry, as `(key, value)`; a missing
    /// caller name is left out rather than sent as null or "".
    pub(crate) fn fields(&self) -> Vec<(&'static str, Field<'_>)> {
        let mut out = vec![("type", Field::Str(self.kind()))];
        match self {
            Self::Ring {
                call_cid,
                caller_id,
                caller_name,
                video,
            }
            | Self::Missed {
                call_cid,
                caller_id,
                caller_name,
                video,
            } => {
                out.push(("call_cid", Field::Str(call_cid)));
                out.push(("caller_id", Field::Str(caller_id)));
                if let Some(name) = caller_name {
                    out.push(("caller_name", Field::Str(name)));
                }
                out.push(("video", Field::Bool(*video)));
            }
            Self::Ended { call_cid, reason } => {
                out.push(("call_cid", Field::Str(call_cid)));
                out.push(("reason", Field::Str(reason)));
            }
        }
        out
    }

    /// The text shown when this push is an alert; `None` for `Ended`.
    pub(crate) fn alert(&self) -> Option<Alert> {
        match self {
            Self::Ring {
                caller_id,
                caller_name,
                video,
                ..
            } => {
                let who = caller_name.as_deref().unwrap_or(caller_id);
                Some(Alert {
                    title: if *video {
                        "Incoming video call"
                    } else {
                        "Incoming call"
                    }
                    .into(),
                    body: format!("{who} is calling"),
                })
            }
            Self::Missed {
                caller_id,
                caller_name,
                video,
                ..
            } => {
                let who = caller_name.as_deref().unwrap_or(caller_id);
                Some(Alert {
                    title: if *video {
                        "Missed video call"
                    } else {
                        "Missed call"
                    }
                    .into(),
                    body: format!("Missed call from {who}"),
                })
            }
            Self::Ended { .. } => None,
        }
    }
}

/// A custom field's value; FCM turns both into strings, APNs keeps JSON types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    Str(&'a str),
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_alert_names_the_caller() {
        let m = PushMessage::Missed {
            call_cid: "default:1".into(),
            caller_id: "bob".into(),
            caller_name: Some("Bob".into()),
            video: false,
        };
        let a = m.alert().unwrap();
        assert_eq!(
            (a.title.as_str(), a.body.as_str()),
            ("Missed call", "Missed call from Bob")
        );
        assert_eq!(m.kind(), "call.missed");
    }

    #[test]
    fn fields_leave_out_a_missing_name() {
        let m = PushMessage::Ring {
            call_cid: "default:1".into(),
            caller_id: "bob".into(),
            caller_name: None,
            video: true,
        };
        let keys: Vec<_> = m.fields().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["type", "call_cid", "caller_id", "video"]);
    }
}
