//! Google OAuth2 access tokens for FCM, from a service account through the
//! JWT-bearer grant (RFC 7523), cached until shortly before they expire.

use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{describe_http, read_file, PushError};
use crate::jwt::unix_now;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A token this close to expiry is renewed before use.
const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The fields of Google's service-account JSON that FCM needs.
#[derive(Deserialize)]
pub(crate) struct ServiceAccount {
    pub project_id: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

/// A cached access token.
struct Cached {
    token: String,
    renew_at: Instant,
}

/// Fetches and caches access tokens for one service account.
pub(crate) struct TokenSource {
    account: ServiceAccount,
    key: EncodingKey,
    // Held across the fetch so concurrent pushes share one request.
    cached: Mutex<Option<Cached>>,
}

impl TokenSource {
    /// Reads the service account and signs once to prove its key works.
    pub fn load(path: &Path) -> Result<Self, PushError> {
        let bad = |reason: String| PushError::BadServiceAccount {
            path: path.to_path_buf(),
            reason,
        };
        // serde_json's messages give positions and field names, not contents.
        let account: ServiceAccount =
            serde_json::from_slice(&read_file(path)?).map_err(|e| bad(e.to_string()))?;
        if account.project_id.is_empty() || account.client_email.is_empty() {
            return Err(bad("project_id and client_email must not be empty".into()));
        }
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|e| {
            PushError::BadKey {
                path: path.to_path_buf(),
                reason: format!("private_key is not an RSA PEM key ({e})"),
            }
        })?;
        let source = Self {
            account,
            key,
            cached: Mutex::new(None),
        };
        source.assertion().map_err(|e| PushError::BadKey {
            path: path.to_path_buf(),
            reason: format!("cannot sign RS256 ({e})"),
        })?;
        Ok(source)
    }

    /// The Firebase project messages are sent to.
    pub fn project_id(&self) -> &str {
        &self.account.project_id
    }

    /// A valid access token, fetched only when the cached one is near expiry.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(http).await?;
        let lifetime = Duration::from_secs(fresh.expires_in);
        let token = fresh.access_token;
        *cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(RENEW_MARGIN),
        });
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (Google refused it).
    pub async fn forget(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<TokenResponse, String> {
        let assertion = self.assertion().map_err(|e| format!("signing: {e}"))?;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
        ];
        let resp = http
            .post(&self.account.token_uri)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token request: {}", describe_http(e)))?;
        let status = resp.status();
        if !status.is_success() {
            // Google's error body (`invalid_grant`…) names no secret.
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("token endpoint {status}: {}", clip(&body)));
        }
        resp.json::<TokenResponse>()
            .await
            .map_err(|e| format!("token response: {e}"))
    }

    fn assertion(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let iat = unix_now();
        let claims = Claims {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat,
            exp: iat + 3600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

/// At most 200 characters of a provider's error body, for a log line.
pub(crate) fn clip(body: &str) -> &str {
    match body.char_indices().nth(200) {
        Some((end, _)) => &body[..end],
        None => body,
    }
}
