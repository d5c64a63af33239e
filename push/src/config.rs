//! Push settings as they appear in OnAir's config file: key paths and ids,
//! plus base URLs that tests (or Apple's sandbox) can replace.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Apple's production APNs endpoint.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// Apple's development APNs endpoint (tokens of debug builds live there).
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// Google's FCM endpoint.
pub const FCM_DEFAULT: &str = "https://fcm.googleapis.com";

/// APNs with token-based auth (a .p8 signing key from the Apple developer account).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApnsConfig {
    /// The .p8 file (PKCS#8 P-256 private key).
    pub key_path: PathBuf,
    /// The key's 10-character id (the JWT `kid`).
    pub key_id: String,
    /// The developer team id (the JWT `iss`).
    pub team_id: String,
    /// The app's bundle id: the `apns-topic` (with `.voip` for VoIP pushes).
    pub bundle_id: String,
    /// Where to send; [`APNS_SANDBOX`] for development builds. `http://`
    /// speaks HTTP/2 in cleartext (tests).
    #[serde(default = "apns_default_url")]
    pub base_url: String,
}

/// FCM HTTP v1 with a Google service account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FcmConfig {
    /// Google's service-account JSON (project_id, client_email, private_key, token_uri).
    pub service_account_path: PathBuf,
    /// Where to send messages.
    #[serde(default = "fcm_default_url")]
    pub base_url: String,
}

/// Which providers to use; a missing one is simply not configured.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PushConfig {
    /// Apple, if set.
    pub apns: Option<ApnsConfig>,
    /// Google, if set.
    pub fcm: Option<FcmConfig>,
}

fn apns_default_url() -> String {
    APNS_PRODUCTION.to_string()
}

fn fcm_default_url() -> String {
    FCM_DEFAULT.to_string()
}

/// `url` without trailing slashes, refusing anything but http(s).
pub(crate) fn base_url(url: &str, what: &str) -> Result<String, crate::PushError> {
    let trimmed = url.trim_end_matches('/');
    if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        Ok(trimmed.to_string())
    } else {
        Err(crate::PushError::Config(format!(
            "{what} must be an http(s) URL, got {url:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_base_urls() {
        let c: PushConfig = serde_json::from_str(
            r#"{"apns": {"key_path": "k.p8", "key_id": "K", "team_id": "T", "bundle_id": "b"},
                "fcm": {"service_account_path": "sa.json"}}"#,
        )
        .unwrap();
        assert_eq!(c.apns.unwrap().base_url, APNS_PRODUCTION);
        assert_eq!(c.fcm.unwrap().base_url, FCM_DEFAULT);
        assert!(PushConfig::default().apns.is_none());
    }

    #[test]
    fn base_url_trims_and_checks() {
        assert_eq!(base_url("http://h:1/", "x").unwrap(), "http://h:1");
        assert!(base_url("ftp://h", "x").is_err());
    }
}
