//! The in-process bus: a tokio broadcast channel, and job queues in memory.

mod jobs;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{Bus, BusError, Event, Lease, SfuNode, Subscription};

/// Events buffered per subscriber before a slow one starts skipping.
const CAPACITY: usize = 1024;

/// A bus inside one process (`onair dev`, single-node `serve`).
#[derive(Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
    /// Settled (and claimed) keys, their values and when each lapses.
    claims: Arc<Mutex<HashMap<String, (String, Instant)>>>,
    /// The SFU nodes' registry.
    nodes: Arc<Mutex<HashMap<String, SfuNode>>>,
    jobs: Arc<jobs::Queues>,
}

impl LocalBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            claims: Arc::default(),
            nodes: Arc::default(),
            jobs: Arc::default(),
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        // A send error only means nobody is subscribed.
        let _ = self.tx.send(event);
        Ok(())
    }

    fn subscribe(&self) -> Subscription {
        Subscription::new(self.tx.subscribe())
    }

    async fn settle(&self, key: &str, value: &str, ttl: Duration) -> Result<String, BusError> {
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.retain(|_, (_, lapses)| *lapses > now);
        let (settled, _) = claims
            .entry(key.to_owned())
            .or_insert_with(|| (value.to_owned(), now + ttl));
        Ok(settled.clone())
    }

    async fn announce(&self, node: &SfuNode) -> Result<(), BusError> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.insert(node.id.clone(), node.clone());
        Ok(())
    }

    async fn withdraw(&self, id: &str) -> Result<(), BusError> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.remove(id);
        Ok(())
    }

    async fn sfu_nodes(&self) -> Result<Vec<SfuNode>, BusError> {
        let now = onair_auth::clock::unix_ms();
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.retain(|_, node| node.is_live(now));
        Ok(nodes.values().cloned().collect())
    }

    async fn offer(&self, queue: &str, job: Event) -> Result<(), BusError> {
        self.jobs.offer(queue, job);
        Ok(())
    }

    async fn take(
        &self,
        queue: &str,
        worker: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<Lease>, BusError> {
        Ok(self.jobs.take(queue, worker, ttl, wait).await)
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, BusError> {
        Ok(self.jobs.renew(lease))
    }

    async fn finish(&self, lease: &Lease) -> Result<(), BusError> {
        self.jobs.finish(lease);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = LocalBus::new();
        bus.publish(Event::new("a:b", 0, EventKind::CallCreated))
            .await
            .unwrap(); // nobody listening
        let mut s1 = bus.subscribe();
        let mut s2 = bus.subscribe();
        bus.publish(Event::new("a:b", 1, EventKind::LiveStarted))
            .await
            .unwrap();
        bus.publish(Event::new("a:b", 2, EventKind::CallEnded { reason: None }))
            .await
            .unwrap();
        for s in [&mut s1, &mut s2] {
            assert_eq!(s.recv().await.unwrap().kind, EventKind::LiveStarted);
            assert_eq!(
                s.recv().await.unwrap().kind,
                EventKind::CallEnded { reason: None }
            );
        }
    }

    #[tokio::test]
    async fn slow_subscriber_skips_instead_of_blocking() {
        let bus = LocalBus::new();
        let mut slow = bus.subscribe();
        for i in 0..(CAPACITY as i64 + 10) {
            bus.publish(Event::new("a:b", i, EventKind::CallUpdated))
                .await
                .unwrap();
        }
        // The oldest 10 were dropped for this subscriber.
        assert_eq!(slow.recv().await.unwrap().created_at_ms, 10);
    }

    #[tokio::test]
    async fn a_key_is_claimed_once_until_its_claim_lapses() {
        let bus = LocalBus::new();
        let other = bus.clone();
        let ttl = Duration::from_millis(50);
        assert!(bus.claim("job-1", ttl).await.unwrap());
        assert!(!other.claim("job-1", ttl).await.unwrap());
        assert!(other.claim("job-2", ttl).await.unwrap());
        tokio::time::sleep(ttl * 2).await;
        assert!(other.claim("job-1", ttl).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_goes_to_one_worker_and_to_another_when_its_lease_lapses() {
        let bus = LocalBus::new();
        let (ttl, wait) = (Duration::from_secs(5), Duration::from_secs(1));
        // Offered before anyone takes: it waits.
        bus.offer("q", Event::new("a:b", 1, EventKind::CallUpdated))
            .await
            .unwrap();
        let a = bus.take("q", "a", ttl, wait).await.unwrap().unwrap();
        assert_eq!((a.attempt, a.job.created_at_ms), (1, 1));
        assert_eq!(bus.take("q", "b", ttl, wait).await.unwrap(), None);
        // Renewed (at 4 s), it stays with a past its first lease.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(bus.renew(&a).await.unwrap());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(bus.take("q", "b", ttl, wait).await.unwrap(), None);
        // a goes silent: b takes it over, and a cannot renew any more.
        let b = bus.take("q", "b", ttl, ttl).await.unwrap().unwrap();
        assert_eq!(
            (b.attempt, &b.worker, &b.entry),
            (2, &"b".to_owned(), &a.entry)
        );
        assert!(!bus.renew(&a).await.unwrap());
        // Finished: nobody gets it again.
        bus.finish(&b).await.unwrap();
        assert_eq!(bus.take("q", "c", ttl, ttl * 2).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_taker_wakes_when_a_job_is_offered() {
        let bus = LocalBus::new();
        let start = tokio::time::Instant::now();
        let taker = bus.clone();
        let took = tokio::spawn(async move {
            let s = Duration::from_secs(60);
            taker.take("q", "a", s, s).await.unwrap()
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        bus.offer("q", Event::new("a:b", 7, EventKind::CallUpdated))
            .await
            .unwrap();
        let lease = took.await.unwrap().unwrap();
        assert_eq!(lease.job.created_at_ms, 7);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "woken by the offer"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_that_kills_every_worker_is_dropped() {
        let bus = LocalBus::new();
        let ttl = Duration::from_secs(1);
        bus.offer("q", Event::new("a:b", 1, EventKind::CallUpdated))
            .await
            .unwrap();
        for attempt in 1..=crate::jobs::MAX_ATTEMPTS {
            let lease = bus.take("q", "w", ttl, ttl * 3).await.unwrap().unwrap();
            assert_eq!(lease.attempt, attempt);
        }
        assert_eq!(bus.take("q", "w", ttl, ttl * 3).await.unwrap(), None);
    }
}
