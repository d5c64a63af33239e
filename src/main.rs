//! `onair`: the one binary. Wiring and configuration only; the work is in
//! the library crates (`onair-api`, `onair-auth`, `onair-bus`).

mod check;
mod config;
mod demo;
mod drain;
mod gate;
mod http;
mod listen;
mod metrics;
mod server;
mod sfu;
mod tls;
mod token;
mod turn;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// OnAir: self-hosted calls and livestreams.
#[derive(Parser)]
#[command(name = "onair", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object a line, with the fields of every span: call, participant,
    /// job) for log shippers.
    #[arg(long, global = true, env = "ONAIR_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on embedded defaults (SQLite + a local data dir).
    Dev(Box<DevArgs>),
    /// Run from a config file (Postgres or SQLite).
    Serve {
        /// TOML config file; `ONAIR_*` variables override it.
        #[arg(long, env = "ONAIR_CONFIG")]
        config: Option<PathBuf>,
        /// Run only these roles (comma-separated; default: all). Nodes that
        /// split the roles share a Redis bus (`redis_url`).
        #[arg(long, env = "ONAIR_ROLE", value_delimiter = ',')]
        role: Vec<Role>,
        /// Only read and check the config (with the environment) for these
        /// roles, print what it sets up, and exit: 0 if it would start.
        #[arg(long)]
        check_config: bool,
    },
    /// Mint a token with the configured (or dev) API key.
    Token(token::TokenArgs),
    /// Drain a running node, as SIGTERM does: no new calls or jobs, the
    /// running ones go on until they end (or `drain_timeout`), then it exits.
    Drain(drain::DrainArgs),
}

/// What a `serve` node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The REST API (needs the database).
    Api,
    /// The SFU: signal WebSocket and media.
    Sfu,
    /// Egress workers: recordings, HLS, RTMP push.
    Egress,
    /// Ingest: the RTMP server OBS streams into calls through.
    Ingest,
}

/// `onair dev` options.
#[derive(clap::Args)]
pub struct DevArgs {
    /// Where the SQLite file and the generated API key live.
    #[arg(long, env = "ONAIR_DATA_DIR", default_value = "onair-data")]
    pub data_dir: PathBuf,
    /// HTTP listen address.
    #[arg(long, env = "ONAIR_LISTEN", default_value = "127.0.0.1:7880")]
    pub listen: SocketAddr,
    /// Where the demo page finds `node_modules/livekit-client` (`make dev` installs it).
    #[arg(long, env = "ONAIR_WEB_DIR", default_value = "web")]
    pub web_dir: PathBuf,
    /// UDP address of the SFU media port.
    #[arg(long, env = "ONAIR_RTC_UDP", default_value = "127.0.0.1:7882")]
    pub rtc_udp: SocketAddr,
    /// Where the RTMP ingest server (OBS) listens.
    #[arg(long, env = "ONAIR_RTMP_LISTEN", default_value = "127.0.0.1:1935")]
    pub rtmp_listen: SocketAddr,
    /// SFU media worker threads (0: one per core).
    #[arg(long, env = "ONAIR_RTC_WORKERS", default_value_t = 0)]
    pub rtc_workers: usize,
    /// How long a participant not heard from (or not resuming) stays in its call, e.g. `30s`.
    #[arg(long, env = "ONAIR_RTC_PARTICIPANT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub rtc_participant_timeout: std::time::Duration,
    /// How long a join token admits its holder, e.g. `10m`; connected
    /// clients are handed fresh ones.
    #[arg(long, env = "ONAIR_JOIN_TOKEN_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub join_token_ttl: std::time::Duration,
    /// How long download links (recordings, HLS) work, e.g. `1h`.
    #[arg(long, env = "ONAIR_LINK_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub link_ttl: std::time::Duration,
    /// Free bytes the data dir needs for an egress job to start.
    #[arg(long, env = "ONAIR_EGRESS_MIN_FREE_SPACE", default_value_t = 1 << 30)]
    pub min_free_space: u64,
    /// Let RTMP pushes go to loopback and private addresses (local tests).
    #[arg(long, env = "ONAIR_EGRESS_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,
    /// On SIGTERM, how long calls may go on before they are stopped, e.g.
    /// `10m` (dev: at once; `serve` waits up to `drain_timeout`, 2 h).
    #[arg(long, env = "ONAIR_DRAIN_TIMEOUT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub drain_timeout: std::time::Duration,
    /// An address where `/metrics` needs no token (on `--listen` it needs
    /// a server token).
    #[arg(long, env = "ONAIR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS and WSS with this certificate chain (PEM; with `--tls-key`).
    #[arg(long, env = "ONAIR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(long, env = "ONAIR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With `--tls-cert`: where RTMPS ingest listens.
    #[arg(long, env = "ONAIR_RTMPS_LISTEN", requires = "tls_cert")]
    pub rtmps_listen: Option<SocketAddr>,
    /// Run the embedded TURN server on this UDP address (relaying to the
    /// SFU only); joins get credentials for it.
    #[arg(long, env = "ONAIR_TURN_LISTEN")]
    pub turn_listen: Option<SocketAddr>,
    /// With `--turn-listen` and `--tls-cert`: TURN over TLS (`turns:`) here.
    #[arg(long, env = "ONAIR_TURN_TLS_LISTEN", requires_all = ["turn_listen", "tls_cert"])]
    pub turn_tls_listen: Option<SocketAddr>,
    /// Use this API key instead of the generated one.
    #[arg(long, env = "ONAIR_API_KEY", requires = "api_secret")]
    pub api_key: Option<String>,
    /// Secret of `--api-key`.
    #[arg(
        long,
        env = "ONAIR_API_SECRET",
        requires = "api_key",
        hide_env_values = true
    )]
    pub api_secret: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Everything OnAir writes (database, keys, recordings, segments) is for
    // its own user only: files 0600, directories 0700.
    // SAFETY: umask only sets the process's file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    logs(cli.log_format);
    match cli.command {
        Command::Dev(args) => server::dev(*args, metrics::install()?).await,
        Command::Serve {
            config,
            role,
            check_config: true,
        } => check::check_config(config.as_deref(), &role),
        Command::Serve { config, role, .. } => {
            server::serve(config.as_deref(), &role, metrics::install()?).await
        }
        Command::Token(args) => token::run(args),
        Command::Drain(args) => drain::request(args).await,
    }
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default: info).
fn logs(format: LogFormat) {
    // str0m warns at every offer of a one-connection client whose later
    // m-lines add RED to the codecs it settled on first (it keeps those).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,sqlx=warn,stun_proto::auth=off,str0m::format::payload_params=error".into()
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}
