//! Stopping a node without losing work. The first SIGTERM (or Ctrl-C, or
//! `onair drain`, which asks `POST /drain` with a server token) drains it: no new join, call or job comes here (`/readyz` answers 503),
//! the calls here go on until they end or `drain_timeout`, then running
//! egress jobs finish their output within `shutdown_timeout`. A second
//! SIGTERM cuts the calls short. Participants still here at the end are
//! asked to reconnect: OnAir's SDKs then move to the node the API names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use onair_api::AppState;
use onair_auth::KeySet;
use onair_egress::Egress;
use onair_sfu::Sfu;

/// How long participants asked to reconnect elsewhere have to go.
const MOVE_GRACE: Duration = Duration::from_secs(2);

/// After the first SIGTERM (`/readyz` answers 503 and the API takes no
/// new join, call or job): the SFU refuses new participants, and the calls
/// it carries go on until they end, `drain_timeout` passes, or a second
/// SIGTERM comes; then those left are asked to reconnect elsewhere.
pub async fn calls_end(sfu: Option<&Sfu>, drain_timeout: Duration) {
    let Some(sfu) = sfu else {
        return;
    };
    sfu.drain();
    let open = sfu.rooms_open();
    if open == 0 {
        return;
    }
    tracing::info!(
        calls = open,
        ?drain_timeout,
        "draining: waiting for the calls here to end"
    );
    tokio::select! {
        () = ended(sfu) => return tracing::info!("draining: every call here has ended"),
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(calls = sfu.rooms_open(), "draining: drain_timeout reached; moving the calls left");
        }
        () = signalled() => tracing::warn!("draining: second signal; moving the calls left"),
    }
    sfu.move_participants();
    if tokio::time::timeout(MOVE_GRACE, ended(sfu)).await.is_err() {
        tracing::warn!(
            calls = sfu.rooms_open(),
            "draining: stopping the calls left"
        );
    }
}

/// Once no call runs here.
async fn ended(sfu: &Sfu) {
    while sfu.rooms_open() > 0 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Then every running egress job finishes its output within `timeout`,
/// and the store has their final states.
pub async fn finish_jobs(api: Option<AppState>, egress: Option<Egress>, timeout: Duration) {
    let until = tokio::time::Instant::now() + timeout;
    let Some(egress) = egress else {
        return;
    };
    let Ok(jobs) = tokio::time::timeout_at(until, egress.drain()).await else {
        tracing::warn!(
            ?timeout,
            "egress jobs still finishing at the shutdown deadline"
        );
        return;
    };
    tracing::info!(jobs = jobs.len(), "egress jobs finished");
    if let Some(state) = &api {
        recorded(state, &jobs, until).await;
    }
}

/// Waits until the store shows `jobs` finished (their last reports travel
/// the bus), or `until`.
async fn recorded(state: &AppState, jobs: &[String], until: tokio::time::Instant) {
    for id in jobs {
        while tokio::time::Instant::now() < until {
            match state.store.get_egress(id).await {
                Ok(Some(job)) if job.state.is_running() => {}
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn signalled() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
    tracing::info!("signal received: draining");
}

/// What starts a drain other than a signal: `POST /drain`.
#[derive(Default)]
pub struct Asked(tokio::sync::Notify);

impl Asked {
    /// Waits for SIGTERM, Ctrl-C or `POST /drain`.
    pub async fn signalled_or_asked(&self) {
        tokio::select! {
            () = signalled() => {}
            () = self.0.notified() => tracing::info!("drain asked over HTTP: draining"),
        }
    }
}

/// `POST /drain` (a server token): drains this node as SIGTERM would.
pub fn router(asked: Arc<Asked>, keys: Arc<KeySet>) -> axum::Router {
    let handler = move |headers: HeaderMap| async move { ask(&asked, &keys, &headers) };
    axum::Router::new().route("/drain", axum::routing::post(handler))
}

fn ask(asked: &Asked, keys: &KeySet, headers: &HeaderMap) -> Response {
    if !crate::metrics::is_server(headers, keys) {
        let body = serde_json::json!({"code": "unauthorized",
            "message": "/drain wants a server token (Authorization: Bearer …)"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    asked.0.notify_one();
    let body = serde_json::json!({"draining": true});
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// `onair drain` options.
#[derive(clap::Args)]
pub struct DrainArgs {
    /// The node's HTTP base, e.g. `https://video.example.com`; default: the
    /// config's `listen` on this machine.
    #[arg(long)]
    url: Option<String>,
    /// The node's config file (for its key and address).
    #[arg(long, env = "ONAIR_CONFIG")]
    config: Option<PathBuf>,
    /// Or the data dir of an `onair dev` (for its key).
    #[arg(long, env = "ONAIR_DATA_DIR", default_value = "onair-data")]
    data_dir: PathBuf,
}

/// `onair drain`: asks the node to drain, with a one-minute server token.
pub async fn request(args: DrainArgs) -> anyhow::Result<()> {
    let key = crate::token::signing_key(args.config.as_deref(), &args.data_dir)?;
    let now = onair_auth::clock::unix_secs();
    let claims = onair_auth::ServerClaims {
        iss: key.key.clone(),
        exp: now + 60,
        iat: Some(now),
        server: true,
    };
    let token = onair_auth::token::mint(&key, &claims);
    let url = match args.url {
        Some(url) => url,
        None => local_url(args.config.as_deref())?,
    };
    let answer = reqwest::Client::new()
        .post(format!("{}/drain", url.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!(
            "{url} refused: {} {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
    }
    println!("{url} is draining");
    Ok(())
}

/// The config's `listen`, reached on this machine.
fn local_url(config: Option<&std::path::Path>) -> anyhow::Result<String> {
    let config = crate::config::Config::load(config)?;
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{addr}"))
}
