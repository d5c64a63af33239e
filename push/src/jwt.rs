//! APNs provider tokens: ES256 JWTs signed with the team's .p8 key.
//!
//! Apple refuses a token older than an hour and one renewed more often than
//! every 20 minutes, so one token is shared by all pushes for 50 minutes.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::{read_file, PushError};

/// How long one provider token is reused.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

/// Signs and caches the provider token.
pub(crate) struct ApnsSigner {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ApnsSigner {
    /// Loads the .p8 and signs once to prove the key works.
    pub fn load(path: &Path, key_id: &str, team_id: &str) -> Result<Self, PushError> {
        if key_id.is_empty() || team_id.is_empty() {
            return Err(PushError::Config(
                "apns key_id and team_id are required".into(),
            ));
        }
        let bad = |reason: String| PushError::BadKey {
            path: path.to_path_buf(),
            reason,
        };
        let key = EncodingKey::from_ec_pem(&read_file(path)?)
            .map_err(|e| bad(format!("not a PKCS#8 P-256 key ({e})")))?;
        let signer = Self {
            key,
            key_id: key_id.to_string(),
            team_id: team_id.to_string(),
            cached: Mutex::new(None),
        };
        signer
            .sign()
            .map_err(|e| bad(format!("cannot sign ES256 ({e})")))?;
        Ok(signer)
    }

    /// The token to send now: the cached one while young enough, else a new one.
    pub fn token(&self) -> Result<String, jsonwebtoken::errors::Error> {
        self.token_at(Instant::now())
    }

    fn token_at(&self, now: Instant) -> Result<String, jsonwebtoken::errors::Error> {
        // A poisoned lock only means another push panicked mid-update; the
        // cache is still a plain value.
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, made)) = cached.as_ref() {
            if now.saturating_duration_since(*made) < TOKEN_LIFETIME {
                return Ok(token.clone());
            }
        }
        let token = self.sign()?;
        *cached = Some((token.clone(), now));
        Ok(token)
    }

    /// Drops the cached token so the next push signs a new one (after Apple
    /// says it expired).
    pub fn forget(&self, token: &str) {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_some_and(|(t, _)| t == token) {
            *cached = None;
        }
    }

    fn sign(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat: unix_now(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key made for this test only (never used anywhere else).
    fn signer() -> Option<ApnsSigner> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("k.p8");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt")
            .output()
            .ok()?;
        std::fs::write(&path, out.stdout).ok()?;
        ApnsSigner::load(&path, "KEYID12345", "TEAM123456").ok()
    }

    #[test]
    fn token_is_reused_for_fifty_minutes_then_renewed() {
        let s = signer().expect("openssl makes a P-256 key");
        let t0 = Instant::now();
        let first = s.token_at(t0).unwrap();
        // ECDSA signatures are randomised, so equal strings mean the cache.
        assert_eq!(
            s.token_at(t0 + Duration::from_secs(49 * 60)).unwrap(),
            first
        );
        let renewed = s.token_at(t0 + TOKEN_LIFETIME).unwrap();
        assert_ne!(renewed, first);
        s.forget(&renewed);
        assert_ne!(s.token_at(t0 + TOKEN_LIFETIME).unwrap(), renewed);
    }
}
