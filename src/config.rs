//! Configuration: a TOML file plus `ONAIR_*` environment overrides.
//!
//! ```toml
//! listen = "127.0.0.1:7880"
//! database_url = "postgres://onair@127.0.0.1/onair"   # or sqlite://path/onair.db
//! data_dir = "/var/lib/onair"
//! signal_url = "wss://video.example.com"             # what clients connect to
//! signal_proxy = false                             # an API node: clients signal through it (failover without SDK help)
//! public_url = "https://video.example.com"           # base of download links
//! link_ttl = "1h"                                  # how long download links work
//! join_token_ttl = "10m"                           # connected clients get fresh ones
//! rtc_udp = "127.0.0.1:7882"                       # SFU media port, shared by all peers
//! rtc_workers = 0                                  # media threads; 0 = one per core
//! rtc_participant_timeout = "30s"                  # a silent participant leaves after this
//! redis_url = "redis://127.0.0.1:6379"             # bus between nodes that split the roles
//! region = "eu-west"                               # an SFU node's region label (placement)
//! sfu_capacity = 500                                # participants the API places on this SFU node
//! rtmp_listen = "127.0.0.1:1935"                   # RTMP ingest (OBS)
//! rtmp_url = "rtmp://video.example.com/live"       # what calls show OBS users
//! whip_url = "https://video.example.com/whip"      # what calls show WHIP publishers
//! api_url = "http://127.0.0.1:7880"                # where an ingest node checks stream keys
//! drain_timeout = "2h"                            # SIGTERM: calls here may go on this long, then move (0s: at once)
//! shutdown_timeout = "30s"                        # then running jobs finish within this
//! cors_origins = ["https://app.example.com"]       # other origins' pages may call the API ("*": any)
//! webhook_retry_for = "24h"                        # a failing webhook delivery is parked after this
//! metrics_listen = "0.0.0.0:9100"                  # /metrics without a token, for an in-cluster scraper
//! [tls]                                          # HTTPS/WSS on `listen`; reloaded when the files change
//! cert = "/etc/onair/tls/fullchain.pem"
//! key = "/etc/onair/tls/privkey.pem"
//! rtmps_listen = "0.0.0.0:1936"                  # RTMPS ingest (OBS), same certificate
//! [turn]                                         # embedded TURN; joins get credentials for it
//! udp_listen = "0.0.0.0:3478"
//! tls_listen = "0.0.0.0:5349"                    # turns:, with the [tls] certificate
//! public_host = "turn.example.com"               # in the URLs clients get
//! public_ip = "203.0.113.7"                      # relayed media's address (default: public_host if an IP)
//! relay_ports = "50000-60000"
//! max_allocations_per_user = 10
//! [egress]
//! allow_private_targets = false                    # RTMP pushes to loopback/private addresses
//! max_rtmp_per_call = 5
//! max_track_recordings_per_call = 16
//! rtmp_retry_for = "5m"                            # a failing push target is given up after this
//! min_free_space = 1073741824                      # bytes free in data_dir for a job to start
//! [limits]                                       # what one client may ask of the SFU
//! tracks_per_participant = 16
//! ids_per_message = 100                            # track ids in one subscription/settings message
//! subscriptions_per_participant = 1000
//! messages_per_second = 50                         # signal messages, with bursts of…
//! message_burst = 200
//! outbox = 1024                                    # messages queued toward a client that does not read
//! participants_per_room = 1000
//! [hls]
//! segment = "2s"                                   # target segment length
//! window = 6                                       # segments in the live playlist
//! vod = true                                       # keep all; full playlist at the end
//! [s3]                                             # recordings to S3 (else data_dir)
//! endpoint = "http://127.0.0.1:9000"               # S3-compatible stores; omit for AWS
//! region = "us-east-1"
//! bucket = "recordings"
//! access_key = "…"
//! secret_key = "…"
//! path_style = true
//! [push.apns]                                     # rings on iPhones (token-based auth)
//! key_path = "/etc/onair/AuthKey_ABC123.p8"
//! key_id = "ABC123"
//! team_id = "TEAM123"
//! bundle_id = "com.example.app"
//! [push.fcm]                                       # rings on Android
//! service_account_path = "/etc/onair/firebase.json"
//! [[api_keys]]
//! key = "APIabc"
//! secret = "…"
//! [[ice_servers]]
//! urls = ["stun:stun.example.com:3478"]
//! [[webhooks]]                                   # every stored event is POSTed here, signed
//! url = "https://backend.example.com/onair"
//! events = ["call.*"]                              # optional: only these types (`*` wildcard)
//! ```
//! Environment: `ONAIR_LISTEN`, `ONAIR_DATABASE_URL` (or `DATABASE_URL`),
//! `ONAIR_DATA_DIR`, `ONAIR_SIGNAL_URL`, `ONAIR_SIGNAL_PROXY`, `ONAIR_PUBLIC_URL`, `ONAIR_LINK_TTL`,
//! `ONAIR_JOIN_TOKEN_TTL`, `ONAIR_RTC_UDP`, `ONAIR_RTC_WORKERS`,
//! `ONAIR_RTC_PARTICIPANT_TIMEOUT`, `ONAIR_REDIS_URL`, `ONAIR_REGION`, `ONAIR_SFU_CAPACITY`, `ONAIR_RTMP_LISTEN`,
//! `ONAIR_RTMP_URL`, `ONAIR_WHIP_URL`, `ONAIR_API_URL`, `ONAIR_WEBHOOK_RETRY_FOR`,
//! `ONAIR_CORS_ORIGINS` (`["https://a", "https://b"]`), and
//! `ONAIR_API_KEY` + `ONAIR_API_SECRET` for one extra key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use onair_api::IceServer;
use onair_auth::{ApiKey, KeySet};
use onair_egress::{HlsConfig, S3Config};
use onair_sfu::SignalLimits;
use serde::{Deserialize, Serialize};

/// Everything `onair serve` reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address (API, docs, health).
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`; default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Where embedded data lives (SQLite file, dev keys).
    pub data_dir: PathBuf,
    /// Public signal URL handed to clients; default `ws://<listen>`.
    pub signal_url: Option<String>,
    /// On an API node: clients signal through it (`signal_url` is its own
    /// address), so a node that dies sends them to a live one.
    pub signal_proxy: bool,
    /// Public HTTP base of download links; default `http://<listen>`.
    pub public_url: Option<String>,
    /// Lifetime of download links, e.g. `1h`.
    #[serde(with = "humantime_serde")]
    pub link_ttl: Duration,
    /// Lifetime of join tokens, e.g. `10m` (at least 10 s); the SFU hands
    /// connected clients fresh ones, so this bounds only a banked token.
    #[serde(with = "humantime_serde")]
    pub join_token_ttl: Duration,
    /// Accepted API keys; the first signs join tokens.
    pub api_keys: Vec<KeyEntry>,
    /// STUN/TURN servers for clients.
    pub ice_servers: Vec<IceServer>,
    /// UDP address of the SFU's media port (all peers share it).
    pub rtc_udp: SocketAddr,
    /// Addresses announced in ICE candidates (default: `rtc_udp`); set the
    /// public IP here when the server is behind 1:1 NAT.
    pub rtc_candidates: Vec<SocketAddr>,
    /// SFU media worker threads; 0 means one per core.
    pub rtc_workers: usize,
    /// How long a participant not heard from (silent, or its signal
    /// connection lost and not resumed) stays in its call, e.g. `30s`.
    #[serde(with = "humantime_serde")]
    pub rtc_participant_timeout: Duration,
    /// Recordings go to this S3-compatible store (else they stay in `data_dir`).
    pub s3: Option<S3Config>,
    /// How HLS broadcasts are cut and kept.
    pub hls: HlsConfig,
    /// What one client may ask of the SFU.
    pub limits: SignalLimits,
    /// What users may ask of egress.
    pub egress: EgressSection,
    /// On SIGTERM, how long the calls on this node may go on (no new ones
    /// come); a second SIGTERM cuts it short.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Then how long running work (recordings, HLS, pushes) may take to
    /// finish before the process exits.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Where the RTMP ingest server (OBS) listens.
    pub rtmp_listen: SocketAddr,
    /// The RTMP base OBS is told (`rtmp://host:1935/live`); default: `rtmp://<rtmp_listen>/live`.
    pub rtmp_url: Option<String>,
    /// The WHIP base calls show (`https://host/whip`); default `<public_url>/whip`
    /// on a node that runs ingest.
    pub whip_url: Option<String>,
    /// The REST API an ingest node checks stream keys with; default `http://<listen>`.
    pub api_url: Option<String>,
    /// The Redis bus shared by nodes that split the roles (`redis://host:port`);
    /// without it, the roles talk in-process.
    pub redis_url: Option<String>,
    /// This node's region label: the API places a joining participant who
    /// gives a `location` on an SFU node of that region first.
    pub region: Option<String>,
    /// The most participants the API places on this SFU node; then a
    /// call's newcomers go to another node, and the call spans both.
    pub sfu_capacity: Option<u32>,
    /// Push providers for rings on phones (APNs, FCM); none by default.
    pub push: onair_push::PushConfig,
    /// Web origins whose pages may call the API (CORS); `*` for any.
    pub cors_origins: Vec<String>,
    /// Where every stored event is POSTed (with those set over `PUT /v1/webhooks`).
    pub webhooks: Vec<onair_api::domain::webhook::Endpoint>,
    /// How long a failing webhook delivery is retried, from its first
    /// attempt, before it is parked, e.g. `24h`.
    #[serde(with = "humantime_serde")]
    pub webhook_retry_for: Duration,
    /// An address of its own where `/metrics` needs no token (keep it off
    /// the public internet); on `listen` it needs a server token.
    pub metrics_listen: Option<SocketAddr>,
    /// HTTPS and WSS on `listen` (and RTMPS), from these PEM files.
    pub tls: Option<crate::tls::TlsConfig>,
    /// The embedded TURN server, on nodes that run the SFU.
    pub turn: Option<crate::turn::TurnSection>,
}

/// `[egress]`: what users may ask of egress workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressSection {
    /// RTMP push targets may resolve to loopback or private addresses.
    pub allow_private_targets: bool,
    /// RTMP pushes running at once per call.
    pub max_rtmp_per_call: usize,
    /// Track recordings running at once per call.
    pub max_track_recordings_per_call: usize,
    /// How long a push target may keep failing before the push fails.
    #[serde(with = "humantime_serde")]
    pub rtmp_retry_for: Duration,
    /// Free bytes in the data dir below which no job starts (running ones
    /// stop cleanly below half of it).
    pub min_free_space: u64,
}

impl Default for EgressSection {
    fn default() -> Self {
        let policy = onair_api::EgressPolicy::default();
        Self {
            allow_private_targets: policy.allow_private_targets,
            max_rtmp_per_call: policy.max_rtmp_per_call,
            max_track_recordings_per_call: policy.max_track_recordings_per_call,
            rtmp_retry_for: Duration::from_secs(300),
            min_free_space: 1 << 30,
        }
    }
}

/// One API key in the config file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The key (`iss` of tokens).
    pub key: String,
    /// Its secret.
    pub secret: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEntry {{ key: {:?}, secret: <redacted> }}", self.key)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7880)),
            database_url: None,
            data_dir: PathBuf::from("onair-data"),
            signal_url: None,
            signal_proxy: false,
            public_url: None,
            link_ttl: Duration::from_secs(3600),
            join_token_ttl: Duration::from_secs(600),
            api_keys: Vec::new(),
            ice_servers: Vec::new(),
            rtc_udp: SocketAddr::from(([127, 0, 0, 1], 7882)),
            rtc_candidates: Vec::new(),
            rtc_workers: 0,
            rtc_participant_timeout: onair_sfu::DEFAULT_PARTICIPANT_TIMEOUT,
            s3: None,
            hls: HlsConfig::default(),
            limits: SignalLimits::default(),
            egress: EgressSection::default(),
            drain_timeout: Duration::from_secs(2 * 3600),
            shutdown_timeout: Duration::from_secs(30),
            rtmp_listen: SocketAddr::from(([127, 0, 0, 1], 1935)),
            rtmp_url: None,
            whip_url: None,
            api_url: None,
            redis_url: None,
            region: None,
            sfu_capacity: None,
            push: onair_push::PushConfig::default(),
            cors_origins: Vec::new(),
            webhooks: Vec::new(),
            webhook_retry_for: onair_api::domain::webhook::DEFAULT_RETRY_FOR,
            metrics_listen: None,
            tls: None,
            turn: None,
        }
    }
}

impl Config {
    /// Join tokens live at least 10 s (clocks of API and SFU may differ a little).
    pub fn join_token_lifetime(&self) -> Duration {
        self.join_token_ttl.max(Duration::from_secs(10))
    }

    /// Defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            )
            .merge(
                Env::prefixed("ONAIR_")
                    .only(&[
                        "LISTEN",
                        "DATABASE_URL",
                        "DATA_DIR",
                        "SIGNAL_URL",
                        "SIGNAL_PROXY",
                        "PUBLIC_URL",
                        "LINK_TTL",
                        "JOIN_TOKEN_TTL",
                        "RTC_UDP",
                        "RTC_WORKERS",
                        "RTC_PARTICIPANT_TIMEOUT",
                        "REDIS_URL",
                        "REGION",
                        "SFU_CAPACITY",
                        "RTMP_LISTEN",
                        "RTMP_URL",
                        "WHIP_URL",
                        "API_URL",
                        "SHUTDOWN_TIMEOUT",
                        "DRAIN_TIMEOUT",
                        "CORS_ORIGINS",
                        "WEBHOOK_RETRY_FOR",
                        "METRICS_LISTEN",
                    ])
                    .map(|k| k.as_str().to_ascii_lowercase().into()),
            );
        let mut config: Config = figment.extract().context("reading configuration")?;
        if let (Ok(key), Ok(secret)) = (
            std::env::var("ONAIR_API_KEY"),
            std::env::var("ONAIR_API_SECRET"),
        ) {
            config.api_keys.insert(0, KeyEntry { key, secret });
        }
        Ok(config)
    }

    /// The configured keys.
    pub fn key_set(&self) -> KeySet {
        KeySet::new(self.api_keys.iter().map(|k| ApiKey::new(&k.key, &k.secret)))
    }

    /// The database URL, defaulting to SQLite in the data dir.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("onair.db").display()))
    }
}

/// The dev key pair kept in `data_dir/keys.toml` so restarts keep it;
/// created (mode 0600) on first use.
pub fn dev_key(data_dir: &Path) -> anyhow::Result<ApiKey> {
    let path = data_dir.join("keys.toml");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let entry: KeyEntry =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok(ApiKey::new(entry.key, entry.secret));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = ApiKey::from_random(&rand::random());
    let entry = KeyEntry {
        key: key.key.clone(),
        secret: key.secret.clone(),
    };
    write_private(&path, &toml::to_string(&entry)?)?;
    Ok(key)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration shown in the README is a valid one.
    #[test]
    fn readme_config_example_loads() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("```toml\n")
            .expect("a toml block in the README")
            + 8;
        let end = start + readme[start..].find("```").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("onair.toml");
        std::fs::write(&file, &readme[start..end]).unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.api_keys[0].key, "APIyourkey");
        assert_eq!(config.join_token_ttl, Duration::from_secs(600));
        assert_eq!(config.rtc_udp, SocketAddr::from(([127, 0, 0, 1], 7882)));
        assert_eq!(config.rtc_candidates.len(), 1);
        assert!(config.database_url().starts_with("postgres://"));
        assert_eq!(
            config.webhooks[0].events.as_deref(),
            Some(&["call.*".to_string()][..])
        );
        assert_eq!(config.webhook_retry_for, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("onair.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
        assert!(Config::load(Some(&file)).is_err());
    }
}
