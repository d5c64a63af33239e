//! Call settings (Stream-like), and how overrides combine.
//!
//! A call type holds full settings; a call may carry a partial
//! `settings_override` that is deep-merged on top. Both are validated by
//! deserializing the merged JSON into [`CallSettings`], which rejects unknown
//! keys and wrong types.

use onair_auth::SettingsGate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Everything configurable about a call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CallSettings {
    /// Microphone and speaker defaults.
    pub audio: AudioSettings,
    /// Camera defaults and whether video is allowed at all.
    pub video: VideoSettings,
    /// Screen sharing.
    pub screensharing: ScreensharingSettings,
    /// Recording.
    pub recording: RecordingSettings,
    /// HLS and RTMP broadcasting.
    pub broadcasting: BroadcastingSettings,
    /// Backstage: hosts prepare before viewers get media.
    pub backstage: BackstageSettings,
    /// Size and duration limits.
    pub limits: LimitsSettings,
    /// Ringing: how long a ring lasts, and busy callees.
    pub ring: RingSettings,
    /// Only members (and server tokens) see who the members and
    /// participants are; `read-call` alone is not enough.
    pub private: bool,
}

/// Audio defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AudioSettings {
    /// Microphone on when joining.
    pub mic_default_on: bool,
    /// Speaker on when joining.
    pub speaker_default_on: bool,
    /// `speaker` or `earpiece`.
    pub default_device: String,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            mic_default_on: true,
            speaker_default_on: true,
            default_device: "speaker".into(),
        }
    }
}

/// Video defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VideoSettings {
    /// Whether anyone may publish camera video.
    pub enabled: bool,
    /// Camera on when joining.
    pub camera_default_on: bool,
    /// `front` or `back`.
    pub camera_facing: String,
    /// What publishers should aim for.
    pub target_resolution: TargetResolution,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            camera_default_on: true,
            camera_facing: "front".into(),
            target_resolution: TargetResolution::default(),
        }
    }
}

/// A target video size and bitrate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TargetResolution {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Bits per second.
    pub bitrate: u32,
}

impl Default for TargetResolution {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            bitrate: 1_500_000,
        }
    }
}

/// Screen sharing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScreensharingSettings {
    /// Whether anyone may share a screen.
    pub enabled: bool,
}

impl Default for ScreensharingSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Recording mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingMode {
    /// Recording may be started.
    #[default]
    Available,
    /// Recording may not be started.
    Disabled,
    /// Recording starts with the call.
    AutoOn,
}

/// Recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSettings {
    /// `available`, `disabled` or `auto-on`.
    pub mode: RecordingMode,
    /// `360p`, `720p` or `1080p`.
    pub quality: String,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            mode: RecordingMode::Available,
            quality: "720p".into(),
        }
    }
}

/// Broadcasting (HLS, RTMP push).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BroadcastingSettings {
    /// Whether broadcasting may be started.
    pub enabled: bool,
    /// HLS.
    pub hls: HlsSettings,
}

impl Default for BroadcastingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            hls: HlsSettings::default(),
        }
    }
}

/// HLS broadcasting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSettings {
    /// Start HLS when the call goes live.
    pub auto_on: bool,
    /// Whether HLS may be started.
    pub enabled: bool,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            auto_on: false,
            enabled: true,
        }
    }
}

/// Backstage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackstageSettings {
    /// Calls start in backstage and need `go_live`.
    pub enabled: bool,
    /// How long before `starts_at` users without `join-backstage` may join and wait.
    pub join_ahead_time_seconds: u32,
}

/// Limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSettings {
    /// Most participants at once; none when absent.
    pub max_participants: Option<u32>,
    /// Longest session in seconds; none when absent.
    pub max_duration_seconds: Option<u32>,
}

/// Ringing. The timers run on the server: a killed app or a restarted
/// server does not stop a ring from ending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RingSettings {
    /// Nobody accepted within this time: the ring ends (reason `timeout`).
    pub auto_cancel_timeout_ms: u32,
    /// A callee who has not answered within this time is rejected with
    /// reason `timeout` on their behalf.
    pub incoming_call_timeout_ms: u32,
    /// Callees who have not answered within this time missed the call
    /// (`call.missed`; also when the ring ends unanswered before).
    pub missed_call_timeout_ms: u32,
    /// A callee ringing in another call, or in one, answers `busy` at once.
    pub reject_when_busy: bool,
}

impl Default for RingSettings {
    fn default() -> Self {
        Self {
            auto_cancel_timeout_ms: 30_000,
            incoming_call_timeout_ms: 30_000,
            missed_call_timeout_ms: 30_000,
            reject_when_busy: true,
        }
    }
}

/// The shortest and longest ring timeouts accepted.
pub const RING_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 1_000..=3_600_000;

impl CallSettings {
    /// The settings that switch capabilities off.
    pub fn gate(&self) -> SettingsGate {
        SettingsGate {
            video: self.video.enabled,
            screenshare: self.screensharing.enabled,
            recording: self.recording.mode != RecordingMode::Disabled,
            broadcasting: self.broadcasting.enabled,
        }
    }

    /// `self` with the partial JSON `patch` deep-merged on top, validated.
    pub fn merged(&self, patch: &Value) -> Result<CallSettings, serde_json::Error> {
        let mut base = serde_json::to_value(self)?;
        merge(&mut base, patch);
        let merged: CallSettings = serde_json::from_value(base)?;
        let r = &merged.ring;
        let timeouts = [
            r.auto_cancel_timeout_ms,
            r.incoming_call_timeout_ms,
            r.missed_call_timeout_ms,
        ];
        if timeouts.iter().any(|t| !RING_TIMEOUT_MS.contains(t)) {
            return Err(serde::de::Error::custom(
                "ring timeouts are 1000 to 3600000 ms",
            ));
        }
        Ok(merged)
    }
}

/// Deep-merges `patch` into `base`: objects merge key by key, anything else replaces.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn override_merges_deeply_and_validates() {
        let base = CallSettings::default();
        let got = base
            .merged(&json!({"backstage": {"enabled": true}, "video": {"target_resolution": {"width": 640}}}))
            .unwrap();
        assert!(got.backstage.enabled);
        assert_eq!(got.backstage.join_ahead_time_seconds, 0);
        assert_eq!(got.video.target_resolution.width, 640);
        assert_eq!(got.video.target_resolution.height, 720);
        assert!(base.merged(&json!({"video": {"colour": "red"}})).is_err());
        assert!(base
            .merged(&json!({"backstage": {"enabled": "yes"}}))
            .is_err());
        assert!(base
            .merged(&json!({"recording": {"mode": "sometimes"}}))
            .is_err());
        assert!(base
            .merged(&json!({"ring": {"auto_cancel_timeout_ms": 999}}))
            .is_err());
        let quick = base.merged(&json!({"ring": {"incoming_call_timeout_ms": 1000}}));
        assert_eq!(quick.unwrap().ring.incoming_call_timeout_ms, 1000);
    }

    #[test]
    fn gate_follows_settings() {
        let s = CallSettings::default()
            .merged(
                &json!({"recording": {"mode": "disabled"}, "screensharing": {"enabled": false}}),
            )
            .unwrap();
        let gate = s.gate();
        assert!(!gate.recording && !gate.screenshare && gate.video && gate.broadcasting);
    }
}
