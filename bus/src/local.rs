//! The in-process bus: a tokio broadcast channel.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{Bus, BusError, Event, Subscription};

/// Events buffered per subscriber before a slow one starts skipping.
const CAPACITY: usize = 1024;

/// A bus inside one process (`onair dev`, single-node `serve`).
#[derive(Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
}

impl LocalBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
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
        bus.publish(Event::new("a:b", 2, EventKind::CallEnded))
            .await
            .unwrap();
        for s in [&mut s1, &mut s2] {
            assert_eq!(s.recv().await.unwrap().kind, EventKind::LiveStarted);
            assert_eq!(s.recv().await.unwrap().kind, EventKind::CallEnded);
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
}
