//! What an egress worker is configured with: where it joins calls, how it
//! signs its recorders' tokens, where output goes and the limits it keeps.

use std::sync::Arc;

use onair_auth::ApiKey;

use crate::storage::Storage;
use crate::HlsConfig;

/// What egress jobs need.
pub struct EgressConfig {
    /// The SFU's signal URL (jobs join calls like any client).
    pub signal_url: String,
    /// The registry id of the SFU node in this process, if any (reached
    /// at `signal_url`): a call it hosts is joined there.
    pub local_sfu: Option<String>,
    /// Signs the recorders' join tokens.
    pub key: ApiKey,
    /// Where output goes.
    pub storage: Arc<dyn Storage>,
    /// How HLS broadcasts are cut and kept.
    pub hls: HlsConfig,
    /// RTMP pushes may go to loopback and private addresses (tests,
    /// private deployments).
    pub allow_private_targets: bool,
    /// How long an RTMP target may keep failing before its push fails.
    pub rtmp_retry_for: std::time::Duration,
    /// The REST API, where a push's target (with its stream key) is fetched.
    pub api_url: String,
    /// No job starts with less free space where it writes; running ones
    /// stop (files finished) below half of it.
    pub min_free_space: u64,
}
