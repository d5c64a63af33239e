//! The egress service: listens on the bus for jobs the API requests, runs
//! each in its own task, stops it when asked, and reports its states
//! (`active`, `complete`, `failed`) back on the bus for the API to record.
//! When the node shuts down it takes no new job and finishes the running
//! ones (files finalized, uploads completed) before it lets go.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use onair_auth::ApiKey;
use onair_bus::{Bus, EgressKind, EgressState, Event, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::api::Api;
use crate::job::{self, CompositeJob, JobKind};
use crate::push;
use crate::storage::Storage;

/// How often a worker asks the API whether its jobs are still wanted.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// How long a claimed job request stays claimed (long past any retry of it).
const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);

/// What egress jobs need.
pub struct EgressConfig {
    /// The SFU's signal URL (jobs join calls like any client).
    pub signal_url: String,
    /// Signs the recorders' join tokens.
    pub key: ApiKey,
    /// Where output goes.
    pub storage: Arc<dyn Storage>,
    /// How HLS broadcasts are cut and kept.
    pub hls: crate::HlsConfig,
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

/// The running egress service.
pub struct Egress {
    drain: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

/// A running job: how to stop it, and its task.
struct Running {
    /// Taken once the job was asked to stop (it is still finishing).
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Egress {
    /// Serves job requests from `bus` until it closes or [`Egress::drain`].
    pub fn start(config: EgressConfig, bus: Arc<dyn Bus>) -> Egress {
        let (drain, drained) = oneshot::channel();
        let task = tokio::spawn(serve(Arc::new(config), bus, drained));
        Egress { drain, task }
    }

    /// Takes no new job, stops the running ones and waits until each has
    /// finished its output and reported; returns their ids.
    pub async fn drain(self) -> Vec<String> {
        let _ = self.drain.send(());
        self.task.await.unwrap_or_default()
    }
}

async fn serve(
    config: Arc<EgressConfig>,
    bus: Arc<dyn Bus>,
    mut drain: oneshot::Receiver<()>,
) -> Vec<String> {
    let mut events = bus.subscribe();
    let mut running: HashMap<String, Running> = HashMap::new();
    let api = Api::new(&config.api_url, config.key.clone());
    let mut check = tokio::time::interval(CHECK_EVERY);
    let (unwanted, mut unwanted_rx) = mpsc::unbounded_channel::<String>();
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = &mut drain => break,
            // A stop event may have been missed: ask the API now and then.
            _ = check.tick() => {
                let ids: Vec<String> = running
                    .iter()
                    .filter(|(_, job)| job.stop.is_some() && !job.task.is_finished())
                    .map(|(id, _)| id.clone())
                    .collect();
                tokio::spawn(unwanted_jobs(api.clone(), ids, unwanted.clone()));
                continue;
            }
            Some(id) = unwanted_rx.recv() => {
                if let Some(stop) = running.get_mut(&id).and_then(|j| j.stop.take()) {
                    tracing::warn!(egress = %id, "the API no longer wants this job (a stop was missed): stopping it");
                    let _ = stop.send(());
                }
                continue;
            }
        };
        running.retain(|_, job| !job.task.is_finished());
        match event.kind {
            EventKind::EgressRequested {
                egress_id,
                kind,
                preset,
                backstage,
                track_sid,
            } => {
                // With several workers on the bus, the first to claim the job runs it.
                match bus.claim(&format!("egress:{egress_id}"), CLAIM_TTL).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(egress = %egress_id, error = %e, "cannot claim the egress job");
                        continue;
                    }
                }
                let report = Reporter {
                    bus: bus.clone(),
                    call_cid: event.call_cid.clone(),
                    egress_id: egress_id.clone(),
                };
                let kind = match kind {
                    EgressKind::Recording => JobKind::Recording,
                    EgressKind::Hls => JobKind::Hls,
                    EgressKind::TrackRecording => match track_sid {
                        Some(sid) => JobKind::Track(sid),
                        None => {
                            report.failed("a track recording needs a track", None).await;
                            continue;
                        }
                    },
                    // The target is fetched from the API when the job starts.
                    EgressKind::Rtmp => JobKind::Rtmp(String::new()),
                };
                let job = CompositeJob {
                    id: egress_id.clone(),
                    kind,
                    call_cid: event.call_cid,
                    preset,
                    backstage,
                };
                let (stop, stopped) = oneshot::channel();
                tracing::info!(egress = %job.id, call_cid = %job.call_cid, kind = job.kind.name(), "egress starts");
                let (config, api) = (config.clone(), api.clone());
                let task = tokio::spawn(async move {
                    match push::resolve(job, &api).await {
                        Ok(job) => job::run(job, config, stopped, report).await,
                        Err(why) => report.failed(&why, None).await,
                    }
                });
                running.insert(
                    egress_id,
                    Running {
                        stop: Some(stop),
                        task,
                    },
                );
            }
            EventKind::EgressStopRequested { egress_id } => {
                if let Some(stop) = running.get_mut(&egress_id).and_then(|j| j.stop.take()) {
                    let _ = stop.send(());
                }
            }
            _ => {}
        }
    }
    // Shutting down: every running job finishes its output and reports.
    tracing::info!(
        jobs = running.len(),
        "egress draining: finishing running jobs"
    );
    let mut finished = Vec::new();
    for (id, job) in running {
        if let Some(stop) = job.stop {
            let _ = stop.send(());
        }
        let _ = job.task.await;
        finished.push(id);
    }
    finished
}

/// Sends on `unwanted` the ids among `ids` the API says should stop.
async fn unwanted_jobs(api: Api, ids: Vec<String>, unwanted: mpsc::UnboundedSender<String>) {
    for id in ids {
        if api.wanted(&id).await == Some(false) {
            let _ = unwanted.send(id);
        }
    }
}

/// Publishes one job's state changes.
pub struct Reporter {
    bus: Arc<dyn Bus>,
    call_cid: String,
    egress_id: String,
}

impl Reporter {
    async fn send(
        &self,
        state: EgressState,
        error: Option<&str>,
        file: Option<&str>,
        size: u64,
        duration: Duration,
    ) {
        let kind = EventKind::EgressUpdated {
            egress_id: self.egress_id.clone(),
            state,
            error: error.map(str::to_owned),
            file: file.map(str::to_owned),
            size,
            duration_ms: duration.as_millis() as u64,
        };
        let now = onair_auth::clock::unix_ms();
        if let Err(e) = self
            .bus
            .publish(Event::new(self.call_cid.clone(), now, kind))
            .await
        {
            tracing::warn!(egress = %self.egress_id, error = %e, "egress report not published");
        }
    }

    /// Producing output into `file` (named once a player may open it).
    pub async fn active(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Active, None, file, size, duration)
            .await;
    }

    /// Finishing (`file`, if it has one).
    pub async fn ending(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Ending, None, file, size, duration)
            .await;
    }

    /// Done (`file`, if it has one, is complete).
    pub async fn complete(&self, file: Option<&str>, size: u64, duration: Duration) {
        self.send(EgressState::Complete, None, file, size, duration)
            .await;
    }

    /// Gave up, leaving `file` if any.
    pub async fn failed(&self, why: &str, file: Option<&str>) {
        self.send(EgressState::Failed, Some(why), file, 0, Duration::ZERO)
            .await;
    }
}
