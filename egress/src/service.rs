//! The egress service: takes the jobs the API queues on the bus, runs
//! each in its own task ([`crate::job`]) while holding its lease
//! ([`crate::lease`]), stops it when asked, and lets the job report its
//! states back on the bus for the API to record. A job whose node died is
//! taken over by another node, into a new file part. When the node shuts
//! down it takes no new job and finishes the running ones (files
//! finalized, uploads completed) before it lets go.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use onair_bus::{Bus, EgressKind, EventKind, Lease};
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::Api;
use crate::hosts::Hosts;
use crate::job::{self, Job, JobKind};
use crate::lease;
use crate::report::Reporter;
use crate::EgressConfig;

/// How often a worker asks the API whether its jobs are still wanted.
const CHECK_EVERY: Duration = Duration::from_secs(10);

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
        let hosts = Hosts::new(
            bus.clone(),
            config.signal_url.clone(),
            config.local_sfu.clone(),
        );
        let worker = Worker {
            config: Arc::new(config),
            hosts,
            bus,
            api,
            running: HashMap::new(),
            name: format!("egress-{}", uuid::Uuid::new_v4().simple()),
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
    /// The job's lease; a newer one if this node took the job again.
    lease: watch::Sender<Lease>,
    task: tokio::task::JoinHandle<()>,
}

/// The service's state: the jobs this node runs.
struct Worker {
    config: Arc<EgressConfig>,
    /// Where jobs join their calls.
    hosts: Hosts,
    bus: Arc<dyn Bus>,
    api: Api,
    running: HashMap<String, Running>,
    /// This node's name as a taker of jobs.
    name: String,
}

impl Worker {
    async fn serve(mut self, mut drain: oneshot::Receiver<()>) -> Vec<String> {
        let mut events = self.bus.subscribe();
        let (leases, mut taken) = mpsc::channel(1);
        let taker = tokio::spawn(lease::take(self.bus.clone(), self.name.clone(), leases));
        let mut check = tokio::time::interval(CHECK_EVERY);
        let (unwanted, mut unwanted_rx) = mpsc::unbounded_channel::<String>();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle_event(event).await,
                    None => break,
                },
                Some(lease) = taken.recv() => self.take(lease).await,
                _ = &mut drain => break,
                // A stop event may have been missed: ask the API now and then.
                _ = check.tick() => self.check(unwanted.clone()),
                Some(id) = unwanted_rx.recv() => {
                    tracing::warn!(egress = %id, "the API no longer wants this job (a stop was missed): stopping it");
                    self.stop(&id);
                }
            }
        }
        taker.abort();
        self.drain().await
    }

    async fn handle_event(&mut self, event: onair_bus::Event) {
        if let EventKind::EgressStopRequested { egress_id } = event.kind {
            self.stop(&egress_id);
        }
    }

    /// Starts the job `lease` holds, unless it runs here already or the
    /// API no longer wants it (stopped, or failed while it waited).
    async fn take(&mut self, lease: Lease) {
        self.running.retain(|_, job| !job.task.is_finished());
        let job = lease.job.clone();
        let EventKind::EgressRequested {
            egress_id,
            kind,
            preset,
            backstage,
            track_sid,
        } = job.kind
        else {
            tracing::warn!(job = %job.id, "not an egress job: dropped");
            return drop(self.bus.finish(&lease).await);
        };
        if let Some(running) = self.running.get(&egress_id) {
            // Its lease lapsed while it ran here and this node took it again.
            running.lease.send_replace(lease);
            return;
        }
        if self.api.wanted(&egress_id).await == Some(false) {
            tracing::info!(egress = %egress_id, "job no longer wanted: dropped");
            return drop(self.bus.finish(&lease).await);
        }
        if lease.attempt > 1 {
            tracing::warn!(egress = %egress_id, attempt = lease.attempt, "taking over a job whose node went silent");
        }
        let report = Reporter::new(self.bus.clone(), &job.call_cid, &egress_id, kind);
        let kind = match (kind, track_sid) {
            (EgressKind::Recording, _) => JobKind::Recording,
            (EgressKind::Hls, _) => JobKind::Hls,
            (EgressKind::TrackRecording, Some(sid)) => JobKind::Track(sid),
            (EgressKind::TrackRecording, None) => {
                drop(self.bus.finish(&lease).await);
                return report.failed("a track recording needs a track", None).await;
            }
            // The target is fetched from the API when the job starts.
            (EgressKind::Rtmp, _) => JobKind::Rtmp(String::new()),
        };
        let job = Job {
            id: egress_id,
            kind,
            call_cid: job.call_cid,
            preset,
            backstage,
            part: lease.attempt,
            hosts: self.hosts.clone(),
        };
        self.start(job, report, lease);
    }

    /// Runs `job` in its own task, holding its lease.
    fn start(&mut self, mut job: Job, report: Reporter, lease: Lease) {
        let (stop, stopped) = oneshot::channel();
        let (lease, held) = watch::channel(lease);
        let bus = self.bus.clone();
        let span = tracing::info_span!("egress", egress_id = %job.id, call_cid = %job.call_cid, kind = job.kind.name());
        tracing::info!(parent: &span, "egress starts");
        let (config, api) = (self.config.clone(), self.api.clone());
        let id = job.id.clone();
        let run = |stopped| async move {
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
        };
        let task = tokio::spawn(tracing::Instrument::instrument(
            lease::hold_while(bus, held, stopped, run),
            span,
        ));
        let stop = Some(stop);
        self.running.insert(id, Running { stop, lease, task });
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
