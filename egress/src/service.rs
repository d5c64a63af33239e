//! The egress service: listens on the bus for jobs the API requests, runs
//! each in its own task ([`crate::job`]), stops it when asked, and lets
//! the job report its states back on the bus for the API to record. When
//! the node shuts down it takes no new job and finishes the running ones
//! (files finalized, uploads completed) before it lets go.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use onair_bus::{Bus, EgressKind, Event, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::api::Api;
use crate::job::{self, Job, JobKind};
use crate::report::Reporter;
use crate::EgressConfig;

/// How often a worker asks the API whether its jobs are still wanted.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// How long a claimed job request stays claimed (long past any retry of it).
const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);

/// The running egress service.
pub struct Egress {
    drain: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Egress {
    /// Serves job requests from `bus` until it closes or [`Egress::drain`].
    pub fn start(config: EgressConfig, bus: Arc<dyn Bus>) -> Egress {
        let (drain, drained) = oneshot::channel();
        let api = Api::new(&config.api_url, config.key.clone());
        let worker = Worker {
            config: Arc::new(config),
            bus,
            api,
            running: HashMap::new(),
        };
        let task = tokio::spawn(worker.serve(drained));
        Egress { drain, task }
    }

    /// Takes no new job, stops the running ones and waits until each has
    /// finished its output and reported; returns their ids.
    pub async fn drain(self) -> Vec<String> {
        let _ = self.drain.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A running job: how to stop it, and its task.
struct Running {
    /// Taken once the job was asked to stop (it is still finishing).
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// The service's state: the jobs this node runs.
struct Worker {
    config: Arc<EgressConfig>,
    bus: Arc<dyn Bus>,
    api: Api,
    running: HashMap<String, Running>,
}

impl Worker {
    async fn serve(mut self, mut drain: oneshot::Receiver<()>) -> Vec<String> {
        let mut events = self.bus.subscribe();
        let mut check = tokio::time::interval(CHECK_EVERY);
        let (unwanted, mut unwanted_rx) = mpsc::unbounded_channel::<String>();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle_event(event).await,
                    None => break,
                },
                _ = &mut drain => break,
                // A stop event may have been missed: ask the API now and then.
                _ = check.tick() => self.check(unwanted.clone()),
                Some(id) = unwanted_rx.recv() => {
                    tracing::warn!(egress = %id, "the API no longer wants this job (a stop was missed): stopping it");
                    self.stop(&id);
                }
            }
        }
        self.drain().await
    }

    async fn handle_event(&mut self, event: Event) {
        self.running.retain(|_, job| !job.task.is_finished());
        match event.kind {
            EventKind::EgressRequested {
                egress_id,
                kind,
                preset,
                backstage,
                track_sid,
            } => {
                // With several workers on the bus, the first to claim the job runs it.
                match self
                    .bus
                    .claim(&format!("egress:{egress_id}"), CLAIM_TTL)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(egress = %egress_id, error = %e, "cannot claim the egress job");
                        return;
                    }
                }
                let report = Reporter::new(self.bus.clone(), &event.call_cid, &egress_id, kind);
                let kind = match (kind, track_sid) {
                    (EgressKind::Recording, _) => JobKind::Recording,
                    (EgressKind::Hls, _) => JobKind::Hls,
                    (EgressKind::TrackRecording, Some(sid)) => JobKind::Track(sid),
                    (EgressKind::TrackRecording, None) => {
                        return report.failed("a track recording needs a track", None).await;
                    }
                    // The target is fetched from the API when the job starts.
                    (EgressKind::Rtmp, _) => JobKind::Rtmp(String::new()),
                };
                let job = Job {
                    id: egress_id,
                    kind,
                    call_cid: event.call_cid,
                    preset,
                    backstage,
                };
                self.start(job, report);
            }
            EventKind::EgressStopRequested { egress_id } => self.stop(&egress_id),
            _ => {}
        }
    }

    /// Runs `job` in its own task.
    fn start(&mut self, mut job: Job, report: Reporter) {
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("egress", egress_id = %job.id, call_cid = %job.call_cid, kind = job.kind.name());
        tracing::info!(parent: &span, "egress starts");
        let (config, api) = (self.config.clone(), self.api.clone());
        let id = job.id.clone();
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                // Stream keys do not travel on the bus: a push fetches its target.
                if let JobKind::Rtmp(url) = &mut job.kind {
                    match api.push_target(&job.id).await {
                        Ok(target) => *url = target,
                        Err(e) => return report.failed(&e.to_string(), None).await,
                    }
                }
                let running = metrics::gauge!("onair_egress_jobs", "kind" => job.kind.name());
                running.increment(1.0);
                job::run(job, config, stopped, report).await;
                running.decrement(1.0);
            },
            span,
        ));
        let stop = Some(stop);
        self.running.insert(id, Running { stop, task });
    }

    /// Asks job `id` to finish, if it runs here.
    fn stop(&mut self, id: &str) {
        if let Some(stop) = self.running.get_mut(id).and_then(|j| j.stop.take()) {
            let _ = stop.send(());
        }
    }

    /// Asks the API, off this loop, which running jobs it no longer wants.
    fn check(&self, unwanted: mpsc::UnboundedSender<String>) {
        let ids: Vec<String> = self
            .running
            .iter()
            .filter(|(_, job)| job.stop.is_some() && !job.task.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        let api = self.api.clone();
        tokio::spawn(async move {
            for id in ids {
                if api.wanted(&id).await == Some(false) {
                    let _ = unwanted.send(id);
                }
            }
        });
    }

    /// Shutting down: every running job finishes its output and reports.
    async fn drain(self) -> Vec<String> {
        tracing::info!(
            jobs = self.running.len(),
            "egress draining: finishing running jobs"
        );
        let mut finished = Vec::new();
        for (id, job) in self.running {
            if let Some(stop) = job.stop {
                let _ = stop.send(());
            }
            let _ = job.task.await;
            finished.push(id);
        }
        finished
    }
}
