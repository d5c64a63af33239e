//! The REST side: ask the API to join a call.

use serde::Deserialize;

/// What `POST /v1/calls/{type}/{id}/join` hands back for the SFU.
#[derive(Clone, Debug, Deserialize)]
pub struct Credentials {
    /// Signal URL for [`crate::Client::connect`].
    pub url: String,
    /// Join token.
    pub token: String,
    /// STUN/TURN servers for the peer connections.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// A STUN or TURN server.
#[derive(Clone, Debug, Deserialize)]
pub struct IceServer {
    /// `stun:…` / `turn:…` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default)]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize)]
struct JoinResponse {
    credentials: Credentials,
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {body}")]
pub struct ApiError {
    /// HTTP status (0 when the request did not complete).
    pub status: u16,
    /// The response body (`{code, message}`) or the transport error.
    pub body: String,
}

/// Joins call `cid` (`type:id`) on the API at `base` with a user token.
pub async fn join(
    base: &str,
    user_token: &str,
    cid: &str,
    create: bool,
) -> Result<Credentials, ApiError> {
    let (call_type, id) = cid.split_once(':').ok_or_else(|| ApiError {
        status: 0,
        body: "cid is type:id".into(),
    })?;
    let url = format!(
        "{}/v1/calls/{call_type}/{id}/join",
        base.trim_end_matches('/')
    );
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(user_token)
        .json(&serde_json::json!({ "create": create }))
        .send()
        .await
        .map_err(|e| ApiError {
            status: 0,
            body: e.to_string(),
        })?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| ApiError {
        status,
        body: e.to_string(),
    })?;
    if !(200..300).contains(&status) {
        return Err(ApiError { status, body });
    }
    let parsed: JoinResponse = serde_json::from_str(&body).map_err(|e| ApiError {
        status,
        body: e.to_string(),
    })?;
    Ok(parsed.credentials)
}
