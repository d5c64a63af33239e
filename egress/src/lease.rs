//! A job's lease on the bus's egress queue, held while the job runs. If
//! this node dies, the lease lapses and another node takes the job over;
//! if this node loses the lease (cut off from Redis longer than the
//! lease), it stops the job, since another node now runs it.

use std::sync::Arc;
use std::time::Duration;

use onair_bus::{Bus, Lease};
use tokio::sync::{oneshot, watch};

/// How long a job stays with a node that stopped renewing its lease.
pub const LEASE: Duration = Duration::from_secs(5);

/// How often a running job's lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// Runs `job` (a job's run, stopped through the sender it is given)
/// while holding `lease`; `asked` stops it from outside. The lease is
/// finished once the job is, unless it was lost on the way.
pub async fn hold_while<F>(
    bus: Arc<dyn Bus>,
    lease: watch::Receiver<Lease>,
    asked: oneshot::Receiver<()>,
    job: impl FnOnce(oneshot::Receiver<()>) -> F,
) where
    F: std::future::Future<Output = ()>,
{
    let (stop, stopped) = oneshot::channel();
    let mut stop = Some(stop);
    let run = job(stopped);
    let renewing = renew(bus.clone(), lease.clone());
    tokio::pin!(run, renewing, asked);
    let mut lost = false;
    loop {
        tokio::select! {
            _ = &mut run => break,
            _ = &mut asked, if stop.is_some() => {
                stop.take().map(|s| s.send(()));
            }
            _ = &mut renewing, if !lost => {
                tracing::warn!("lost the job's lease (cut off from the bus?): another node runs it now; stopping here");
                lost = true;
                stop.take().map(|s| s.send(()));
            }
        }
    }
    if !lost {
        let lease = lease.borrow().clone();
        if let Err(e) = bus.finish(&lease).await {
            tracing::warn!(error = %e, "could not mark the job done; another node may take it over");
        }
    }
}

/// Renews the lease (the newest one `lease` holds) until it is lost.
async fn renew(bus: Arc<dyn Bus>, lease: watch::Receiver<Lease>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let current = lease.borrow().clone();
        match bus.renew(&current).await {
            Ok(true) => {}
            Ok(false) => return,
            // Redis away for a moment: the lease holds for LEASE.
            Err(e) => tracing::warn!(error = %e, "renewing the job's lease failed; retrying"),
        }
    }
}

/// Takes egress jobs from the bus for `worker` and hands each on, until
/// the receiver is gone.
pub async fn take(bus: Arc<dyn Bus>, worker: String, jobs: tokio::sync::mpsc::Sender<Lease>) {
    loop {
        match bus
            .take(
                onair_bus::jobs::EGRESS,
                &worker,
                LEASE,
                Duration::from_secs(1),
            )
            .await
        {
            Ok(Some(lease)) => {
                if jobs.send(lease).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot take egress jobs; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
