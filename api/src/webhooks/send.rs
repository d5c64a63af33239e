//! One attempt: the event POSTed as JSON with Stream's headers, the answer
//! read as an [`Outcome`]. Errors never carry the URL (it may hold a
//! token in its query) nor the secret.

use std::time::Duration;

use onair_auth::ApiKey;

use super::sign::signature;
use crate::domain::event::StoredEvent;
use crate::domain::webhook::{outcome_of_status, Outcome};

/// How long one attempt may take, connecting included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer within [`ATTEMPT_TIMEOUT`].
    #[error("timed out after {}s", ATTEMPT_TIMEOUT.as_secs())]
    Timeout,
    /// The endpoint could not be reached.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Anything else on the way (TLS, a broken answer).
    #[error("request failed: {0}")]
    Request(String),
}

impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> Self {
        let e = e.without_url();
        // Display of the error and its sources, without the URL.
        let text = || {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        };
        if e.is_timeout() {
            SendError::Timeout
        } else if e.is_connect() {
            SendError::Connect(text())
        } else {
            SendError::Request(text())
        }
    }
}

/// The HTTP client deliveries share: no redirects followed (a 3xx parks
/// the event: the endpoint should be updated instead), a timeout per attempt.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("onair-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// POSTs `event` to `url` as attempt number `attempt`, signed with `key`.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &ApiKey,
    event: &StoredEvent,
    attempt: u32,
) -> Outcome {
    match try_post(client, url, key, event, attempt).await {
        Ok(status) => outcome_of_status(status),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

async fn try_post(
    client: &reqwest::Client,
    url: &str,
    key: &ApiKey,
    event: &StoredEvent,
    attempt: u32,
) -> Result<u16, SendError> {
    let body = event.to_json().to_string().into_bytes();
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature", signature(&key.secret, &body))
        .header("x-webhook-id", event.id.to_string())
        .header("x-webhook-attempt", attempt.to_string())
        .header("x-api-key", &key.key)
        .body(body)
        .send()
        .await?;
    let status = answer.status().as_u16();
    // Read (and drop) the answer, so the connection can be reused.
    let _ = answer.bytes().await;
    Ok(status)
}
