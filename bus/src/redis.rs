//! The networked bus: Redis pub/sub, for deployments that run the API, the
//! SFU and egress as separate processes (`onair serve --role …`).
//!
//! Every node publishes events as JSON on one channel and listens on it with
//! a dedicated connection; what arrives is fed into a local broadcast channel,
//! so a node's own events reach its own subscribers the same way (once, via
//! Redis) as everyone else's. The listener reconnects and subscribes again if
//! Redis goes away; events published while it was gone are lost, as they are
//! for any pub/sub subscriber, which is why the API also keeps its state in
//! the store and the SFU and egress re-read what they need. Every message
//! is signed with the cluster's [`BusKey`]; unsigned or forged ones are
//! dropped with a log line.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::{broadcast, oneshot};

use crate::{Bus, BusError, BusKey, Event, Subscription};

/// The pub/sub channel every node publishes to and listens on.
const CHANNEL: &str = "onair:events";
/// Prefix of claim keys.
const CLAIMS: &str = "onair:claim:";
/// Events buffered per local subscriber before a slow one starts skipping.
const CAPACITY: usize = 1024;
/// Pause between attempts to get the listening connection back.
const RECONNECT: Duration = Duration::from_secs(1);

/// A bus shared by every node connected to the same Redis.
#[derive(Clone)]
pub struct RedisBus {
    conn: ConnectionManager,
    key: BusKey,
    tx: broadcast::Sender<Event>,
    /// Dropped with the last clone, which ends the listener.
    _listening: Arc<oneshot::Sender<()>>,
}

impl RedisBus {
    /// Connects to `url` (`redis://host:port[/db]`) and starts listening;
    /// messages are signed and checked with `key`. Once this returns,
    /// every event published anywhere reaches [`Bus::subscribe`]rs.
    pub async fn connect(url: &str, key: BusKey) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(transport)?;
        let conn = client.get_connection_manager().await.map_err(transport)?;
        let pubsub = listen(&client).await.map_err(transport)?;
        let (tx, _) = broadcast::channel(CAPACITY);
        let tx_relay = tx.clone();
        let (listening, dropped) = oneshot::channel();
        let relay_key = key.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = relay(client, pubsub, tx_relay, relay_key) => {}
                _ = dropped => {}
            }
        });
        Ok(Self {
            conn,
            key,
            tx,
            _listening: Arc::new(listening),
        })
    }
}

fn transport(e: redis::RedisError) -> BusError {
    BusError::Transport(e.to_string())
}

async fn listen(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    Ok(pubsub)
}

/// Feeds events from Redis to the local subscribers, reconnecting when the
/// connection is lost. Runs until the bus is dropped.
async fn relay(
    client: redis::Client,
    mut pubsub: redis::aio::PubSub,
    tx: broadcast::Sender<Event>,
    key: BusKey,
) {
    loop {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            match key.open(msg.get_payload_bytes(), onair_auth::clock::unix_ms()) {
                // No local subscriber is not an error.
                Ok(event) => drop(tx.send(event)),
                Err(e) => tracing::warn!(error = %e, "event on the bus dropped"),
            }
        }
        tracing::warn!("lost the Redis bus connection; reconnecting");
        pubsub = loop {
            tokio::time::sleep(RECONNECT).await;
            match listen(&client).await {
                Ok(p) => break p,
                Err(e) => tracing::warn!(error = %e, "Redis bus still unreachable"),
            }
        };
        tracing::info!("Redis bus connection back");
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        let json = self
            .key
            .seal(&event)
            .map_err(|e| BusError::Transport(e.to_string()))?;
        let mut conn = self.conn.clone();
        let _receivers: i64 = conn.publish(CHANNEL, json).await.map_err(transport)?;
        Ok(())
    }

    fn subscribe(&self) -> Subscription {
        Subscription::new(self.tx.subscribe())
    }

    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, BusError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{CLAIMS}{key}"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await
            .map_err(transport)?;
        Ok(set.is_some())
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(transport)?;
        Ok(())
    }
}
