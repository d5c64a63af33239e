//! `/metrics` in Prometheus' text format. The crates count through the
//! `metrics` facade (the SFU's workers and rooms, egress jobs, ingest
//! streams, limit hits); this installs the Prometheus recorder that keeps
//! the values, times every HTTP request by route, and reads at scrape time
//! what lives elsewhere: the store's pool and webhook backlog, and this
//! process's CPU and memory.
//!
//! On the main listener `/metrics` wants a server token (it tells who uses
//! the service and how much); `metrics_listen` serves it without one on an
//! address of its own, for a scraper inside the cluster.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use onair_api::store::Store;
use onair_auth::token::{verify_api, Verified};
use onair_auth::KeySet;

/// Bounds (seconds) of the request-time histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Installs the process-wide recorder; its handle renders the text.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("onair_http_request_duration_seconds".into()),
            &LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    for (name, help) in HELP {
        metrics::describe_counter!(*name, *help);
    }
    Ok(handle)
}

/// `# HELP` of each metric (the type comes from how it is registered).
const HELP: &[(&str, &str)] = &[
    (
        "onair_sfu_rooms",
        "Rooms (calls with someone connected) on this SFU",
    ),
    (
        "onair_sfu_participants",
        "Participants with media, per media worker",
    ),
    (
        "onair_sfu_published_tracks",
        "Tracks published, per media worker",
    ),
    (
        "onair_sfu_subscribed_tracks",
        "Tracks sent to subscribers, per media worker",
    ),
    (
        "onair_sfu_signal_connections",
        "Signal (LiveKit protocol) sessions",
    ),
    (
        "onair_sfu_forwarded_packets_total",
        "RTP packets forwarded to subscribers",
    ),
    (
        "onair_sfu_forwarded_bytes_total",
        "Payload bytes forwarded to subscribers",
    ),
    (
        "onair_sfu_plis_sent_total",
        "Keyframe requests sent to publishers",
    ),
    (
        "onair_sfu_plis_received_total",
        "Keyframe requests received from subscribers",
    ),
    (
        "onair_sfu_dropped_packets_total",
        "Datagrams dropped: unknown peer, malformed, refused",
    ),
    (
        "onair_sfu_worker_busy_microseconds_total",
        "Time media workers spent working",
    ),
    (
        "onair_sfu_worker_queue_peak",
        "Most datagrams waiting for a media worker since the last round",
    ),
    (
        "onair_egress_jobs",
        "Egress jobs running on this node, by kind",
    ),
    (
        "onair_egress_cpu_seconds",
        "CPU time egress jobs' GStreamer streaming threads used, by kind (grows; a lower bound: encoders' own worker threads are not seen)",
    ),
    (
        "onair_ingest_streams",
        "Ingest streams running on this node, by protocol",
    ),
    (
        "onair_ingest_cpu_seconds",
        "CPU time ingest transcoders' GStreamer streaming threads used (grows; a lower bound, as for egress)",
    ),
    (
        "onair_limit_hits_total",
        "Requests refused or cut by a limit, by limit",
    ),
    (
        "onair_http_request_duration_seconds",
        "HTTP requests by route, method and status, and how long they took",
    ),
    (
        "onair_webhook_pending",
        "Events queued for a webhook endpoint, not delivered yet",
    ),
    (
        "onair_webhook_unqueued_events",
        "Events a webhook endpoint has not looked at yet",
    ),
    (
        "onair_webhook_oldest_pending_seconds",
        "Age of the oldest event waiting for a webhook endpoint",
    ),
    ("onair_store_pool_connections", "Database connections open"),
    (
        "onair_store_pool_idle_connections",
        "Database connections idle",
    ),
    ("onair_process_cpu_seconds", "CPU time this process used"),
    (
        "onair_process_resident_memory_bytes",
        "Resident memory of this process",
    ),
];

/// What a scrape reads.
pub struct Scrape {
    handle: PrometheusHandle,
    /// The API's store, on nodes that run the API.
    store: Option<Arc<dyn Store>>,
    /// Who may scrape on the main listener (server tokens); `None`: anyone.
    keys: Option<Arc<KeySet>>,
}

impl Scrape {
    /// A scrape of `handle`, adding what `store` knows; `keys` guard it.
    pub fn new(
        handle: PrometheusHandle,
        store: Option<Arc<dyn Store>>,
        keys: Option<Arc<KeySet>>,
    ) -> Arc<Self> {
        Arc::new(Scrape {
            handle,
            store,
            keys,
        })
    }
}

/// `GET /metrics`.
pub fn router(scrape: Arc<Scrape>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(scrape)
}

async fn metrics(State(scrape): State<Arc<Scrape>>, headers: HeaderMap) -> Response {
    if let Some(keys) = &scrape.keys {
        if !is_server(&headers, keys) {
            let body = serde_json::json!({"code": "unauthorized",
                "message": "/metrics wants a server token (Authorization: Bearer …)"});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    }
    sample(scrape.store.as_deref()).await;
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], scrape.handle.render()).into_response()
}

/// Whether the request carries a valid server token.
pub fn is_server(headers: &HeaderMap, keys: &KeySet) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let now = onair_auth::clock::unix_secs();
    matches!(
        token.map(|t| verify_api(t, keys, now)),
        Some(Ok(Verified::Server(_)))
    )
}

/// Sets the gauges read at scrape time.
async fn sample(store: Option<&dyn Store>) {
    let (cpu, rss) = process_usage();
    gauge!("onair_process_cpu_seconds").set(cpu);
    gauge!("onair_process_resident_memory_bytes").set(rss);
    let Some(store) = store else {
        return;
    };
    let (size, idle) = store.pool_usage();
    gauge!("onair_store_pool_connections").set(size as f64);
    gauge!("onair_store_pool_idle_connections").set(idle as f64);
    let backlog = match store.webhook_backlog().await {
        Ok(backlog) => backlog,
        Err(e) => return tracing::warn!(error = %e, "reading the webhook backlog failed"),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    for b in backlog {
        let endpoint = b.endpoint_id;
        let age = b
            .oldest_ms
            .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1e3);
        gauge!("onair_webhook_pending", "endpoint" => endpoint.clone()).set(b.pending as f64);
        gauge!("onair_webhook_unqueued_events", "endpoint" => endpoint.clone())
            .set(b.unqueued as f64);
        gauge!("onair_webhook_oldest_pending_seconds", "endpoint" => endpoint).set(age);
    }
}

/// CPU seconds this process used, and its resident memory in bytes
/// (`/proc/self/stat`; zeros where there is no `/proc`).
fn process_usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command (which may hold spaces): utime is the 12th field,
    // stime the 13th, rss (pages) the 22nd.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_PAGESIZE) as f64,
        )
    };
    ((field(11) + field(12)) / ticks.max(1.0), field(21) * page)
}

/// Counts and times each request by its route (not its path: ids would
/// make a series per call) and status. Routes are written `/v1/calls/:type/:id`:
/// braces in label values trip some Prometheus parsers.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .replace('{', ":")
        .replace('}', "");
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    histogram!("onair_http_request_duration_seconds",
        "route" => route, "method" => method, "status" => status)
    .record(started.elapsed().as_secs_f64());
    response
}
