//! OnAir push notifications: wake a phone for a call when its app is not
//! connected, through Apple (APNs, token-based auth) or Google (FCM HTTP v1).
//!
//! The caller owns the device list; [`Pusher::send`] says what became of one
//! push so the caller can drop a device whose token the provider disowns.
//! - [`config`]: where the keys live and which servers to talk to.
//! - [`message`]: what a push says (ring, ended, missed).
//! - `apns` / `fcm`: one request to each provider and how to read its answer.
//! - `jwt` / `oauth`: the credentials those requests carry, cached.

mod apns;
pub mod config;
pub mod error;
mod fcm;
mod jwt;
pub mod message;
mod oauth;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use config::{ApnsConfig, FcmConfig, PushConfig};
pub use error::PushError;
pub use message::PushMessage;

/// Which provider a device token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Apple Push Notification service.
    Apn,
    /// Firebase Cloud Messaging (HTTP v1).
    Firebase,
}

/// A registered device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The provider's token for this app on this device.
    pub id: String,
    /// Which provider issued `id`.
    pub provider: Provider,
    /// An Apple PushKit (VoIP) token rather than a regular APNs token.
    #[serde(default)]
    pub voip: bool,
}

// Debug shows only the start of the token: device tokens stay out of logs.
impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &token_prefix(&self.id))
            .field("provider", &self.provider)
            .field("voip", &self.voip)
            .finish()
    }
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted the push.
    Delivered,
    /// The provider says the token is gone (APNs 410, or 400
    /// BadDeviceToken/DeviceTokenNotForTopic/Unregistered; FCM UNREGISTERED,
    /// or INVALID_ARGUMENT on the token): the caller removes the device.
    Unregistered,
    /// Anything else (network, 403, 429, 5xx…): may be retried.
    Failed(String),
}

/// Sends pushes to whichever providers are configured.
pub struct Pusher {
    apns: Option<apns::ApnsClient>,
    fcm: Option<fcm::FcmClient>,
}

impl Pusher {
    /// Reads and checks every configured key now, so a bad key fails startup
    /// rather than the first call.
    pub fn new(config: &PushConfig) -> Result<Self, PushError> {
        let apns = config
            .apns
            .as_ref()
            .map(apns::ApnsClient::new)
            .transpose()?;
        let fcm = config.fcm.as_ref().map(fcm::FcmClient::new).transpose()?;
        Ok(Self { apns, fcm })
    }

    /// Whether pushes to `p`'s devices can be sent at all.
    pub fn is_configured(&self, p: Provider) -> bool {
        match p {
            Provider::Apn => self.apns.is_some(),
            Provider::Firebase => self.fcm.is_some(),
        }
    }

    /// Sends one push and says what became of it. Never panics; logs carry at
    /// most the first 8 characters of the token.
    ///
    /// A missed call is an alert, which a VoIP token cannot receive (and
    /// PushKit would have to ring for it): that gives `Failed` without a
    /// request, leaving the alert to the user's regular APNs device.
    pub async fn send(&self, device: &Device, msg: &PushMessage) -> Outcome {
        let outcome = match (device.provider, &self.apns, &self.fcm) {
            (Provider::Apn, Some(apns), _) => apns.send(device, msg).await,
            (Provider::Firebase, _, Some(fcm)) => fcm.send(device, msg).await,
            (provider, _, _) => Outcome::Failed(format!("{provider:?} is not configured")),
        };
        log_outcome(device, msg, &outcome);
        outcome
    }
}

fn log_outcome(device: &Device, msg: &PushMessage, outcome: &Outcome) {
    let token = token_prefix(&device.id);
    let (provider, kind, cid) = (device.provider, msg.kind(), msg.call_cid());
    match outcome {
        Outcome::Delivered => tracing::debug!(?provider, token, kind, cid, "push delivered"),
        Outcome::Unregistered => {
            tracing::info!(?provider, token, kind, cid, "push: token unregistered")
        }
        Outcome::Failed(why) => tracing::warn!(?provider, token, kind, cid, why, "push failed"),
    }
}

/// The first 8 characters of a token: enough to tell devices apart in logs.
pub(crate) fn token_prefix(token: &str) -> &str {
    match token.char_indices().nth(8) {
        Some((end, _)) => &token[..end],
        None => token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_prefix_keeps_eight_chars() {
        assert_eq!(token_prefix("0123456789abcdef"), "01234567");
        assert_eq!(token_prefix("abc"), "abc");
        assert_eq!(token_prefix("ééééééééé"), "éééééééé");
    }

    #[test]
    fn device_debug_hides_the_token() {
        let d = Device {
            id: "0123456789abcdef".into(),
            provider: Provider::Apn,
            voip: true,
        };
        let shown = format!("{d:?}");
        assert!(
            shown.contains("01234567") && !shown.contains("89abcdef"),
            "{shown}"
        );
    }

    #[test]
    fn provider_serde_names() {
        assert_eq!(serde_json::to_string(&Provider::Apn).unwrap(), "\"apn\"");
        let p: Provider = serde_json::from_str("\"firebase\"").unwrap();
        assert_eq!(p, Provider::Firebase);
    }
}
