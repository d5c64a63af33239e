//! The in-process bus: a tokio broadcast channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{Bus, BusError, Event, Subscription};

/// Events buffered per subscriber before a slow one starts skipping.
const CAPACITY: usize = 1024;

/// A bus inside one process (`onair dev`, single-node `serve`).
#[derive(Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
    /// Claimed keys and when each claim lapses.
    claims: Arc<Mutex<HashMap<String, Instant>>>,
}

impl LocalBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            claims: Arc::default(),
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

    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, BusError> {
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.retain(|_, lapses| *lapses > now);
        if claims.contains_key(key) {
            return Ok(false);
        }
        claims.insert(key.to_owned(), now + ttl);
        Ok(true)
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
}
