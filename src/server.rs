//! Starting the server: pick the store, build the state, serve HTTP.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use onair_api::store::{PgStore, SqliteStore, Store};
use onair_api::{ApiConfig, AppState, EgressPolicy, FileLinks};
use onair_auth::token::mint;
use onair_auth::{ApiKey, KeySet, ServerClaims};
use onair_bus::{Bus, LocalBus, RedisBus};
use onair_egress::{Egress, EgressConfig, LocalDir, Routed, S3Storage, Storage};
use onair_ingest::IngestConfig;
use onair_sfu::Sfu;
use tokio::net::TcpListener;

use crate::config::{dev_key, Config};
use crate::drain;
use crate::listen::Listeners;
use crate::{DevArgs, Role};

/// `onair dev`: embedded defaults, a persisted key pair, a friendly banner.
pub async fn dev(args: DevArgs, metrics: PrometheusHandle) -> anyhow::Result<()> {
    private_dir(&args.data_dir)?;
    let config = dev_config(&args);
    let key = match (args.api_key, args.api_secret) {
        (Some(key), Some(secret)) => ApiKey::new(key, secret),
        _ => dev_key(&args.data_dir)?,
    };
    let listeners = Listeners::bind(&config, true).await?;
    let addr = listeners.addr();
    let urls = Urls::of(&config, &listeners, true);
    let rtmp_url = urls.rtmp.clone().context("no RTMP listener")?;
    let keys = Arc::new(KeySet::new([key.clone()]));
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
    let storage = build_storage(&config, &keys, &urls)?;
    let store = open_store(&config).await?;
    let state = build_state(&config, keys, bus, &urls, storage.clone(), store.clone())?;
    let sfu = crate::sfu::start(&config, &state.keys, &state.bus, store)?;

    let data_dir = std::fs::canonicalize(&args.data_dir).unwrap_or(args.data_dir);
    banner(&key, &urls.public, &sfu, &rtmp_url, &data_dir);
    // This node's egress and ingest reach its SFU and API directly.
    let internal = listeners.internal_url();
    let signal = internal.replacen("http", "ws", 1);
    let egress = egress_config(&config, &state.keys, (&signal, None), &internal, storage)?;
    let ingest = IngestConfig {
        api_url: internal,
        keys: state.keys.clone(),
        signal_url: Some(signal.clone()),
    };
    let node = Node {
        keys: state.keys.clone(),
        bus: state.bus.clone(),
        api: Some(state),
        sfu: Some(sfu),
        egress: Some(egress),
        ingest: Some(ingest),
        demo: Some(crate::demo::router(key, args.web_dir, addr)),
    };
    run(listeners, node, &config, metrics).await
}

/// `onair dev`'s configuration: the defaults, and what its flags set.
fn dev_config(args: &DevArgs) -> Config {
    Config {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        rtc_udp: args.rtc_udp,
        rtc_workers: args.rtc_workers,
        rtc_participant_timeout: args.rtc_participant_timeout,
        rtmp_listen: args.rtmp_listen,
        join_token_ttl: args.join_token_ttl,
        link_ttl: args.link_ttl,
        metrics_listen: args.metrics_listen,
        turn: args.turn_listen.map(|udp| crate::turn::TurnSection {
            udp_listen: udp,
            tls_listen: args.turn_tls_listen,
            public_host: udp.ip().to_string(),
            relay_ip: udp.ip(),
            ..Default::default()
        }),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                rtmps_listen: args.rtmps_listen,
            }),
            _ => None,
        },
        drain_timeout: args.drain_timeout,
        egress: crate::config::EgressSection {
            allow_private_targets: args.allow_private_targets,
            min_free_space: args.min_free_space,
            ..Default::default()
        },
        ..Config::default()
    }
}

/// What `onair dev` prints: where to point a browser, OBS, an app backend.
fn banner(key: &ApiKey, base: &str, sfu: &Sfu, rtmp_url: &str, data_dir: &Path) {
    let now = onair_auth::clock::unix_secs();
    let server_token = mint(
        key,
        &ServerClaims {
            iss: key.key.clone(),
            exp: now + 24 * 3600,
            iat: Some(now),
            server: true,
        },
    );
    // The banner goes to stdout, not to the log: it is for the person who ran `onair dev`.
    println!("OnAir dev server (SQLite + local data dir)");
    println!("  HTTP:         {base}");
    println!("  API docs:     {base}/docs");
    println!("  API key:      {}", key.key);
    println!("  API secret:   {}", key.secret);
    println!("  Server token: {server_token}");
    println!("                (valid 24h; more with `onair token server` / `onair token user --user ID`)");
    println!("  Demo:         {base}/  (join a call from two tabs)");
    println!("  Media (UDP):  {}", sfu.udp_addr());
    println!("  RTMP ingest:  {rtmp_url}/<type>:<id>  (OBS; stream key: a user token)");
    println!("  Data dir:     {}", data_dir.display());
}

/// `onair serve --config FILE [--role …]`.
pub async fn serve(
    file: Option<&Path>,
    roles: &[Role],
    metrics: PrometheusHandle,
) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    let keys = Arc::new(config.key_set());
    crate::check::check(&config, &keys, roles)?;
    private_dir(&config.data_dir)?;
    let has = |role| roles.is_empty() || roles.contains(&role);
    let bus = open_bus(&config, &keys).await?;
    let listeners = Listeners::bind(&config, has(Role::Ingest)).await?;
    let addr = listeners.addr();
    let urls = Urls::of(&config, &listeners, has(Role::Ingest));
    let internal = listeners.internal_url();
    // This node's own signal address, for its relay, egress and ingest.
    let internal_ws = internal.replacen("http", "ws", 1);
    let storage = build_storage(&config, &keys, &urls)?;
    // The API keeps its calls there; the SFU asks it who may enter.
    let store = match has(Role::Api) || has(Role::Sfu) {
        true => Some(open_store(&config).await?),
        false => None,
    };
    let api = match (has(Role::Api), &store) {
        (true, Some(store)) => Some(build_state(
            &config,
            keys.clone(),
            bus.clone(),
            &urls,
            storage.clone(),
            store.clone(),
        )?),
        _ => None,
    };
    let sfu = match (has(Role::Sfu), store) {
        (true, Some(store)) => Some(crate::sfu::start(&config, &keys, &bus, store)?),
        _ => None,
    };
    let local_sfu = match &sfu {
        Some(sfu) => Some(crate::sfu::announce(
            &config,
            sfu,
            &bus,
            &keys,
            (&urls.signal, &internal_ws),
        )?),
        None => None,
    };
    let egress = match has(Role::Egress) {
        true => {
            let with = (has(Role::Api), local_sfu);
            Some(node_egress(
                &config, &keys, with, &urls, &internal, storage,
            )?)
        }
        false => None,
    };
    let ingest = has(Role::Ingest).then(|| IngestConfig {
        signal_url: has(Role::Sfu).then_some(internal_ws),
        api_url: config.api_url.clone().unwrap_or(internal),
        keys: keys.clone(),
    });
    let node = Node {
        keys,
        bus,
        api,
        sfu,
        egress,
        ingest,
        demo: None,
    };
    tracing::info!(%addr, roles = %node.roles(), bus = if config.redis_url.is_some() { "redis" } else { "local" }, "OnAir listening");
    run(listeners, node, &config, metrics).await
}

/// The bus: Redis when configured (needed when the roles are split
/// between processes), else in process.
async fn open_bus(config: &Config, keys: &KeySet) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match &config.redis_url {
        Some(url) => Arc::new(
            RedisBus::connect(url, bus_key(keys)?)
                .await
                .context("connecting to the Redis bus (redis_url)")?,
        ),
        None => Arc::new(LocalBus::new()),
    })
}

/// The key that signs the bus between nodes: derived from the primary API
/// secret, which every node of a cluster shares.
fn bus_key(keys: &KeySet) -> anyhow::Result<onair_bus::BusKey> {
    let key = keys.primary().context("no API key")?;
    Ok(onair_bus::BusKey::derive(&key.secret))
}

/// Creates `dir` if needed, readable by OnAir's user only.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", dir.display()))?;
    }
    Ok(())
}

/// Where clients reach this server.
struct Urls {
    /// The SFU signal URL (`ws://…`).
    signal: String,
    /// The HTTP base of links (file downloads).
    public: String,
    /// The RTMP ingest base OBS is told, if any.
    rtmp: Option<String>,
    /// The WHIP base, if this node takes WHIP.
    whip: Option<String>,
}

impl Urls {
    /// What `config` says, else this node's own addresses.
    fn of(config: &Config, listeners: &Listeners, ingest: bool) -> Urls {
        let (http, ws) = listeners.schemes();
        let addr = listeners.addr();
        let public = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{http}://{addr}"));
        Urls {
            rtmp: config.rtmp_url.clone().or_else(|| listeners.rtmp_url()),
            whip: config
                .whip_url
                .clone()
                .or_else(|| ingest.then(|| format!("{}/whip", public.trim_end_matches('/')))),
            signal: config
                .signal_url
                .clone()
                .unwrap_or_else(|| format!("{ws}://{addr}")),
            public,
        }
    }
}

/// Download links are the storage's own.
struct StorageLinks(Arc<dyn Storage>);

#[async_trait::async_trait]
impl FileLinks for StorageLinks {
    async fn url(&self, key: &str) -> String {
        self.0.url(key).await
    }

    async fn dir_url(&self, key: &str) -> String {
        self.0.dir_url(key).await
    }
}

/// Where files go: the data dir, or S3 for recordings when configured.
fn build_storage(config: &Config, keys: &KeySet, urls: &Urls) -> anyhow::Result<Arc<dyn Storage>> {
    let key = keys.primary().cloned().context("no API key")?;
    let local = Arc::new(LocalDir::new(
        &config.data_dir,
        &urls.public,
        key,
        config.link_ttl,
    ));
    // Recordings go to S3 when configured; live HLS is always served locally.
    Ok(match &config.s3 {
        Some(s3) => {
            tracing::info!(bucket = %s3.bucket, endpoint = ?s3.endpoint, "recordings go to S3");
            let files = Arc::new(S3Storage::new(s3, &config.data_dir, config.link_ttl));
            Arc::new(Routed::new(local, files))
        }
        None => local,
    })
}

/// The database: Postgres or SQLite, migrated, with the built-in call types.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    let store: Arc<dyn Store> = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(
            PgStore::connect(&url)
                .await
                .context("connecting to Postgres")?,
        )
    } else if url.starts_with("sqlite:") {
        // The data dir was made (private) by `dev` or `serve`.
        Arc::new(SqliteStore::connect(&url).await.context("opening SQLite")?)
    } else {
        bail!("database_url must start with sqlite: or postgres:");
    };
    onair_api::seed_call_types(store.as_ref()).await?;
    Ok(store)
}

/// The push sender, when a provider is configured (a bad key stops startup).
fn pusher(config: &Config) -> anyhow::Result<Option<Arc<onair_push::Pusher>>> {
    if config.push.apns.is_none() && config.push.fcm.is_none() {
        return Ok(None);
    }
    let pusher = onair_push::Pusher::new(&config.push).context("push providers")?;
    Ok(Some(Arc::new(pusher)))
}

fn build_state(
    config: &Config,
    keys: Arc<KeySet>,
    bus: Arc<dyn Bus>,
    urls: &Urls,
    storage: Arc<dyn Storage>,
    store: Arc<dyn Store>,
) -> anyhow::Result<AppState> {
    let turn = config.turn.as_ref();
    let turn = turn.map(|t| crate::turn::offer(t, &keys)).transpose()?;
    Ok(AppState {
        store,
        bus,
        keys,
        config: Arc::new(ApiConfig {
            signal_url: urls.signal.clone(),
            signal_proxy: config.signal_proxy,
            ice_servers: config.ice_servers.clone(),
            join_token_ttl: config.join_token_lifetime(),
            rtmp_url: urls.rtmp.clone(),
            whip_url: urls.whip.clone(),
            egress: EgressPolicy {
                allow_private_targets: config.egress.allow_private_targets,
                own_addresses: own_addresses(config),
                max_rtmp_per_call: config.egress.max_rtmp_per_call,
                max_track_recordings_per_call: config.egress.max_track_recordings_per_call,
            },
            cors_origins: config.cors_origins.clone(),
            webhooks: webhook_settings(config)?,
            turn,
        }),
        files: Arc::new(StorageLinks(storage)),
        draining: Arc::default(),
        events: Arc::default(),
        ring_timers: Arc::default(),
        pusher: pusher(config)?,
    })
}

/// The config's webhook endpoints, checked as `PUT /v1/webhooks` checks them.
fn webhook_settings(
    config: &Config,
) -> anyhow::Result<onair_api::domain::webhook::WebhookSettings> {
    onair_api::domain::webhook::validate(&config.webhooks).context("[[webhooks]] in the config")?;
    Ok(onair_api::domain::webhook::WebhookSettings {
        endpoints: config.webhooks.clone(),
        retry_for: config.webhook_retry_for,
    })
}

/// The egress of a node running the API (`api`) and an SFU (`local_sfu`)
/// or not: where it joins calls and asks for push targets.
fn node_egress(
    config: &Config,
    keys: &KeySet,
    (api, local_sfu): (bool, Option<String>),
    urls: &Urls,
    internal: &str,
    storage: Arc<dyn Storage>,
) -> anyhow::Result<EgressConfig> {
    // Push targets come from the API: this node's, or the one the SFU is on.
    let api_url = match (&config.api_url, api) {
        (Some(url), _) => url.clone(),
        (None, true) => internal.to_owned(),
        (None, false) => urls.signal.replacen("ws", "http", 1),
    };
    let signal = match (&local_sfu, &config.signal_url) {
        (Some(_), _) | (None, None) => internal.replacen("http", "ws", 1),
        (None, Some(remote)) => remote.clone(),
    };
    egress_config(config, keys, (&signal, local_sfu), &api_url, storage)
}

/// The egress settings from `config`, joining calls at `signal_url`.
fn egress_config(
    config: &Config,
    keys: &KeySet,
    (signal_url, local_sfu): (&str, Option<String>),
    api_url: &str,
    storage: Arc<dyn Storage>,
) -> anyhow::Result<EgressConfig> {
    Ok(EgressConfig {
        signal_url: signal_url.to_owned(),
        local_sfu,
        key: keys.primary().cloned().context("no API key")?,
        storage,
        hls: config.hls,
        allow_private_targets: config.egress.allow_private_targets,
        rtmp_retry_for: config.egress.rtmp_retry_for,
        api_url: api_url.to_owned(),
        min_free_space: config.egress.min_free_space,
    })
}

/// The addresses this node is reached at: never a push target.
fn own_addresses(config: &Config) -> Vec<std::net::IpAddr> {
    let mut own: Vec<std::net::IpAddr> = config.rtc_candidates.iter().map(|a| a.ip()).collect();
    own.extend([
        config.listen.ip(),
        config.rtc_udp.ip(),
        config.rtmp_listen.ip(),
    ]);
    own.retain(|ip| !ip.is_unspecified());
    own.dedup();
    own
}

/// What one process runs: any of the roles, and the demo page in `dev`.
struct Node {
    keys: Arc<KeySet>,
    bus: Arc<dyn Bus>,
    api: Option<AppState>,
    sfu: Option<Sfu>,
    egress: Option<EgressConfig>,
    ingest: Option<IngestConfig>,
    demo: Option<axum::Router>,
}

impl Node {
    /// The roles it runs, for the log.
    fn roles(&self) -> String {
        let roles = [
            (self.api.is_some(), "api"),
            (self.sfu.is_some(), "sfu"),
            (self.egress.is_some(), "egress"),
            (self.ingest.is_some(), "ingest"),
        ];
        let on: Vec<&str> = roles
            .iter()
            .filter_map(|(on, name)| on.then_some(*name))
            .collect();
        on.join(",")
    }
}

async fn run(
    listeners: Listeners,
    mut node: Node,
    config: &Config,
    metrics: PrometheusHandle,
) -> anyhow::Result<()> {
    let Listeners {
        http,
        internal,
        rtmp,
        rtmps,
        tls,
        certificate,
    } = listeners;
    let _turn = match (&node.sfu, &config.turn) {
        (Some(sfu), Some(turn)) => {
            let mut media = config.rtc_candidates.clone();
            media.push(sfu.udp_addr());
            Some(crate::turn::start(
                turn,
                &node.keys,
                media,
                certificate.as_ref(),
            )?)
        }
        _ => None,
    };
    // Set at the first SIGTERM: `/readyz` answers 503 from then on.
    let draining = match &node.api {
        Some(state) => state.draining.clone(),
        None => Arc::default(),
    };
    let egress = node
        .egress
        .take()
        .map(|e| Egress::start(e, node.bus.clone()));
    let mut app = routes(&node, config, &draining);
    if let Some(ingest) = node.ingest.take() {
        let ingest = Arc::new(ingest);
        app = app.merge(onair_ingest::whip::router(ingest.clone()));
        for (listener, tls) in [(rtmp, None), (rtmps, tls.clone())] {
            let Some(listener) = listener else { continue };
            let secure = tls.is_some();
            tracing::info!(addr = %listener.local_addr()?, secure, "RTMP ingest listening");
            tokio::spawn(onair_ingest::rtmp::serve(listener, ingest.clone(), tls));
        }
    }
    let store = node.api.as_ref().map(|state| state.store.clone());
    if let Some(addr) = config.metrics_listen {
        let open = crate::metrics::Scrape::new(metrics.clone(), store.clone(), None);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics_listen {addr}"))?;
        tracing::info!(%addr, "metrics listening");
        background(listener, crate::metrics::router(open));
    }
    let guarded = crate::metrics::Scrape::new(metrics, store, Some(node.keys.clone()));
    let asked = Arc::new(drain::Asked::default());
    let app = app
        .merge(crate::metrics::router(guarded))
        .merge(drain::router(asked.clone(), node.keys.clone()))
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(axum::middleware::from_fn(crate::http::deadline));
    if let Some(internal) = internal {
        background(internal, app.clone());
    }
    let timeout = config.shutdown_timeout;
    let drain = async {
        asked.signalled_or_asked().await;
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
        drain::calls_end(node.sfu.as_ref(), config.drain_timeout).await;
        drain::finish_jobs(node.api.clone(), egress, timeout).await;
    };
    crate::http::serve(http, app, drain, CONNECTION_GRACE.min(timeout), tls).await;
    tracing::info!("stopped");
    Ok(())
}

/// What this node serves over HTTP: files, and its roles' routes.
fn routes(node: &Node, config: &Config, draining: &Arc<AtomicBool>) -> axum::Router {
    // Every node serves its data dir's files (recordings, live HLS) to link holders.
    let mut app = LocalDir::router(&config.data_dir, node.keys.clone(), config.link_ttl);
    if let Some(sfu) = &node.sfu {
        app = app.merge(sfu.router());
    }
    if let Some(demo) = &node.demo {
        app = app.merge(demo.clone());
    }
    match &node.api {
        Some(state) => {
            onair_api::presence::spawn(state.clone());
            onair_api::events::reader::spawn(state.clone());
            onair_api::ringing::spawn(state.clone());
            if let Some(pusher) = &state.pusher {
                onair_api::events::push::spawn(state.clone(), pusher.clone());
            }
            onair_api::webhooks::spawn(state.clone());
            if state.config.signal_proxy {
                app = app.merge(onair_api::signal_proxy::router(state.clone()));
            }
            app.merge(onair_api::router(state.clone()))
        }
        None => {
            let (draining, bus) = (draining.clone(), node.bus.clone());
            let readyz = move || async move {
                onair_api::routes::ops::node_readyz(&draining, bus.as_ref()).await
            };
            app.route("/healthz", get(onair_api::routes::ops::healthz))
                .route("/readyz", get(readyz))
        }
    }
}

/// Serves `app` on `listener` (plain HTTP) for as long as the process runs.
fn background(listener: TcpListener, app: axum::Router) {
    let forever = std::future::pending();
    tokio::spawn(crate::http::serve(
        listener,
        app,
        forever,
        CONNECTION_GRACE,
        None,
    ));
}

/// How long open connections (WebSockets, downloads) may take to finish
/// once the work is drained.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);
