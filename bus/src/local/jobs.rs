//! Jobs in one process: queues in memory, with the same leases as Redis's
//! so a job whose worker task stops renewing is taken again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::jobs::MAX_ATTEMPTS;
use crate::{Event, Lease};

/// Every queue of the process, and a wake-up for takers when a job is offered.
#[derive(Default)]
pub(super) struct Queues {
    queues: Mutex<HashMap<String, Queue>>,
    offered: Notify,
}

#[derive(Default)]
struct Queue {
    next: u64,
    waiting: VecDeque<(u64, Event)>,
    taken: BTreeMap<u64, Taken>,
}

struct Taken {
    job: Event,
    worker: String,
    until: Instant,
    attempt: u32,
}

impl Queues {
    pub(super) fn offer(&self, queue: &str, job: Event) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let q = queues.entry(queue.to_owned()).or_default();
        q.next += 1;
        let entry = q.next;
        q.waiting.push_back((entry, job));
        self.offered.notify_waiters();
    }

    pub(super) async fn take(
        &self,
        queue: &str,
        worker: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Option<Lease> {
        let deadline = Instant::now() + wait;
        loop {
            let offered = self.offered.notified();
            tokio::pin!(offered);
            offered.as_mut().enable();
            let (lease, lapse) = self.try_take(queue, worker, ttl);
            if lease.is_some() {
                return lease;
            }
            let until = lapse.map_or(deadline, |l| l.min(deadline));
            if Instant::now() >= deadline {
                return None;
            }
            let _ = tokio::time::timeout_at(until, offered).await;
        }
    }

    /// A lapsed job or a new one; else when the next lease lapses.
    fn try_take(
        &self,
        queue: &str,
        worker: &str,
        ttl: Duration,
    ) -> (Option<Lease>, Option<Instant>) {
        let now = Instant::now();
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let q = queues.entry(queue.to_owned()).or_default();
        while let Some((&entry, _)) = q.taken.iter().find(|(_, t)| t.until <= now) {
            let Some(mut taken) = q.taken.remove(&entry) else {
                break;
            };
            if taken.attempt >= MAX_ATTEMPTS {
                tracing::error!(queue, job = %taken.job.id, attempts = taken.attempt, "job dropped: every worker that took it died");
                continue;
            }
            taken.attempt += 1;
            taken.worker = worker.to_owned();
            taken.until = now + ttl;
            let lease = lease(queue, entry, ttl, &taken);
            q.taken.insert(entry, taken);
            return (Some(lease), None);
        }
        if let Some((entry, job)) = q.waiting.pop_front() {
            let taken = Taken {
                job,
                worker: worker.to_owned(),
                until: now + ttl,
                attempt: 1,
            };
            let lease = lease(queue, entry, ttl, &taken);
            q.taken.insert(entry, taken);
            return (Some(lease), None);
        }
        (None, q.taken.values().map(|t| t.until).min())
    }

    pub(super) fn renew(&self, lease: &Lease) -> bool {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let taken = queues
            .get_mut(&lease.queue)
            .and_then(|q| q.taken.get_mut(&entry_of(lease)));
        match taken {
            Some(t) if t.worker == lease.worker && t.attempt == lease.attempt => {
                t.until = Instant::now() + lease.ttl;
                true
            }
            _ => false,
        }
    }

    pub(super) fn finish(&self, lease: &Lease) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get_mut(&lease.queue) {
            let entry = entry_of(lease);
            if q.taken
                .get(&entry)
                .is_some_and(|t| t.worker == lease.worker)
            {
                q.taken.remove(&entry);
            }
        }
    }
}

fn lease(queue: &str, entry: u64, ttl: Duration, taken: &Taken) -> Lease {
    Lease {
        queue: queue.to_owned(),
        entry: entry.to_string(),
        worker: taken.worker.clone(),
        ttl,
        attempt: taken.attempt,
        job: taken.job.clone(),
    }
}

fn entry_of(lease: &Lease) -> u64 {
    lease.entry.parse().unwrap_or(0)
}
