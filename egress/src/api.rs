//! What an egress worker asks the REST API, with a short server token it
//! signs itself: where a push goes (stream keys never travel on the bus),
//! and whether a job is still wanted (a stop event may have been missed).

use std::time::Duration;

use onair_auth::token::mint;
use onair_auth::{ApiKey, ServerClaims};
use onair_bus::EgressState;

/// Why the API did not answer a worker's question.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request did not go through, or its answer was not JSON.
    #[error("asking the API: {0}")]
    Request(#[from] reqwest::Error),
    /// The API refused.
    #[error("asking the API: {0}")]
    Status(reqwest::StatusCode),
    /// The answer lacked what was asked.
    #[error("the API gave no {0}")]
    Missing(&'static str),
}

/// How long a request to the API may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The API of the deployment.
#[derive(Clone)]
pub struct Api {
    url: String,
    key: ApiKey,
    http: reqwest::Client,
}

impl Api {
    /// The API at `url`, asked with server tokens signed by `key`.
    pub fn new(url: &str, key: ApiKey) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            key,
            http: reqwest::Client::new(),
        }
    }

    /// Where RTMP push `egress_id` goes, stream key included.
    pub async fn push_target(&self, egress_id: &str) -> Result<String, ApiError> {
        let body = self.get(&format!("/v1/egress/{egress_id}/target")).await?;
        body["target"]
            .as_str()
            .map(str::to_owned)
            .ok_or(ApiError::Missing("push target"))
    }

    /// Whether job `egress_id` should go on (starting or active); `None`
    /// when the API cannot tell now.
    pub async fn wanted(&self, egress_id: &str) -> Option<bool> {
        let body = self.get(&format!("/v1/egress/{egress_id}")).await.ok()?;
        let state: EgressState = serde_json::from_value(body["state"].clone()).ok()?;
        Some(matches!(state, EgressState::Starting | EgressState::Active))
    }

    async fn get(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        let now = onair_auth::clock::unix_secs();
        let claims = ServerClaims {
            iss: self.key.key.clone(),
            exp: now + 60,
            iat: Some(now),
            server: true,
        };
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(mint(&self.key, &claims))
            .timeout(TIMEOUT)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(ApiError::Status(response.status()));
        }
        Ok(response.json().await?)
    }
}
