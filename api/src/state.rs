//! Shared state of the API handlers and its configuration: what the binary
//! hands the router, so that handlers reach the store, the bus, the keys and
//! file links without globals.

use std::sync::Arc;
use std::time::Duration;

use onair_auth::KeySet;
use onair_bus::Bus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::Store;

/// A STUN/TURN server handed to clients that join a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:` / `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What the API needs to know about the deployment.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The SFU signal URL clients connect to (`credentials.url` of a join),
    /// exactly what `livekit-client`'s `room.connect(url, token)` takes.
    pub signal_url: String,
    /// Clients signal through this node (`signal_url` is its own address):
    /// a join hands out `signal_url` with the chosen SFU node in its path
    /// ([`crate::signal_proxy`]).
    pub signal_proxy: bool,
    /// ICE servers for clients.
    pub ice_servers: Vec<IceServer>,
    /// Lifetime of join tokens.
    pub join_token_ttl: Duration,
    /// Where OBS streams to (`rtmp://host:1935/live`), if ingest runs:
    /// calls show `ingress.rtmp.address` under it.
    pub rtmp_url: Option<String>,
    /// The WHIP base (`https://host/whip`), if ingest runs: calls show
    /// `ingress.whip.url` under it.
    pub whip_url: Option<String>,
    /// What users may ask of egress.
    pub egress: EgressPolicy,
    /// Web origins whose pages may call the API (`https://app.example.com`;
    /// `*` for any); none by default: only same-origin pages.
    pub cors_origins: Vec<String>,
    /// Webhook endpoints from the config, and how long deliveries are retried.
    pub webhooks: crate::domain::webhook::WebhookSettings,
    /// The embedded TURN server, when it runs: each join gets credentials for it.
    pub turn: Option<TurnOffer>,
}

/// TURN credentials for each join, in the TURN REST API scheme the
/// embedded server checks (`onair_turn::credentials`).
#[derive(Clone)]
pub struct TurnOffer {
    /// `turn:host:3478?transport=udp`, `turns:host:5349?transport=tcp`.
    pub urls: Vec<String>,
    /// The secret the TURN server shares.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TurnOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnOffer")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

/// What users may ask of egress workers.
#[derive(Clone, Debug)]
pub struct EgressPolicy {
    /// RTMP push targets may resolve to loopback or private addresses
    /// (tests, private deployments); otherwise they are refused.
    pub allow_private_targets: bool,
    /// This node's own addresses: never a push target.
    pub own_addresses: Vec<std::net::IpAddr>,
    /// RTMP pushes running at once per call.
    pub max_rtmp_per_call: usize,
    /// Track recordings running at once per call.
    pub max_track_recordings_per_call: usize,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            own_addresses: Vec::new(),
            max_rtmp_per_call: 5,
            max_track_recordings_per_call: 16,
        }
    }
}

/// Download links for stored files (egress output). The deployment decides:
/// presigned S3 URLs, or signed links to the built-in file route.
#[async_trait::async_trait]
pub trait FileLinks: Send + Sync {
    /// A link to download the file stored under `key`.
    async fn url(&self, key: &str) -> String;
    /// A link to `key` that also reaches its siblings by relative URL (an
    /// HLS playlist and its segments).
    async fn dir_url(&self, key: &str) -> String;
}

impl AppState {
    /// Refuses (503) new work while the node shuts down.
    pub fn refuse_if_draining(&self) -> Result<(), crate::error::ApiError> {
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "draining",
                "this node is shutting down; try again (another node takes it)",
            ));
        }
        Ok(())
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Where call-state changes are announced.
    pub bus: Arc<dyn Bus>,
    /// Accepted API keys; the primary one signs join tokens.
    pub keys: Arc<KeySet>,
    /// Deployment settings.
    pub config: Arc<ApiConfig>,
    /// Links to stored files.
    pub files: Arc<dyn FileLinks>,
    /// Set when the node shuts down: it answers `/readyz` with 503 and
    /// takes no new join or egress job, while running ones finish.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// New events, as they are stored.
    pub events: Arc<crate::hub::Hub>,
    /// Wakes the ring timers when a ring starts.
    pub ring_timers: Arc<tokio::sync::Notify>,
    /// Sends pushes to phones, when a provider is configured.
    pub pusher: Option<Arc<onair_push::Pusher>>,
}
