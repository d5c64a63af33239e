//! Stopping a node without losing work. The first SIGTERM (or Ctrl-C)
//! drains it: no new join, call or job comes here (`/readyz` answers 503),
//! the calls here go on until they end or `drain_timeout`, then running
//! egress jobs finish their output within `shutdown_timeout`. A second
//! SIGTERM cuts the calls short.

use std::time::Duration;

use onair_api::AppState;
use onair_egress::Egress;
use onair_sfu::Sfu;

/// After the first SIGTERM (`/readyz` answers 503 and the API takes no
/// new join, call or job): the SFU refuses new participants, and the calls
/// it carries go on until they end, `drain_timeout` passes, or a second
/// SIGTERM comes.
pub async fn calls_end(sfu: Option<&Sfu>, drain_timeout: Duration) {
    let Some(sfu) = sfu else {
        return;
    };
    sfu.drain();
    let open = sfu.rooms_open();
    if open == 0 || drain_timeout.is_zero() {
        return;
    }
    tracing::info!(
        calls = open,
        ?drain_timeout,
        "draining: waiting for the calls here to end"
    );
    let ended = async {
        while sfu.rooms_open() > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        () = ended => tracing::info!("draining: every call here has ended"),
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(calls = sfu.rooms_open(), "draining: drain_timeout reached; stopping the calls left");
        }
        () = signalled() => tracing::warn!("draining: second signal; stopping the calls left"),
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
