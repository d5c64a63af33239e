//! The networked bus: a Redis Stream, for deployments that run the API, the
//! SFU and egress as separate processes (`onair serve --role …`).
//!
//! Every node appends its events (signed, see [`BusKey`]) to one stream and
//! reads the stream from where it last read, with a dedicated connection;
//! what it reads is fed into a local broadcast channel, so a node's own
//! events reach its own subscribers the same way (once, via Redis) as
//! everyone else's. Unlike pub/sub, a node whose connection drops goes on
//! from the last entry it read when it is back: what was published
//! meanwhile is not lost, as long as the stream still holds it (the newest
//! [`MAX_LEN`] entries) and it is younger than the seal's replay window.
//! Unsigned or forged entries are dropped with a log line.
//!
//! Jobs have streams of their own, one per queue ([`jobs`]); the SFU
//! registry is a hash ([`nodes`]).

mod jobs;
mod nodes;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamKey, StreamRangeReply, StreamReadReply};
use redis::AsyncConnectionConfig;
use tokio::sync::{broadcast, oneshot, Mutex};

use crate::{Bus, BusError, BusKey, Event, Lease, SfuNode, Subscription};

/// The stream every node appends to and reads.
const STREAM: &str = "onair:events";
/// The entry field that holds the sealed event (or job).
const FIELD: &str = "m";
/// Entries the stream keeps (approximately): how far back a node that
/// was away can catch up.
const MAX_LEN: usize = 100_000;
/// Entries read at once.
const READ_COUNT: usize = 256;
/// How long one read waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);
/// Prefix of settled (and claimed) keys.
const SETTLED: &str = "onair:settled:";
/// Events buffered per local subscriber before a slow one starts skipping.
const CAPACITY: usize = 1024;
/// Pause between attempts to get the reading connection back.
const RECONNECT: Duration = Duration::from_secs(1);

/// A bus shared by every node connected to the same Redis.
#[derive(Clone)]
pub struct RedisBus {
    conn: ConnectionManager,
    key: BusKey,
    tx: broadcast::Sender<Event>,
    /// Dropped with the last clone, which ends the reader.
    _reading: Arc<oneshot::Sender<()>>,
    client: redis::Client,
    /// The connection jobs are taken on: taking blocks, which would hold
    /// up every other command on a shared connection. Made when needed.
    taking: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl RedisBus {
    /// Connects to `url` (`redis://host:port[/db]`) and starts reading;
    /// messages are signed and checked with `key`. Once this returns,
    /// every event published anywhere reaches [`Bus::subscribe`]rs.
    pub async fn connect(url: &str, key: BusKey) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(transport)?;
        let conn = client.get_connection_manager().await.map_err(transport)?;
        let mut reader = reading_connection(&client).await.map_err(transport)?;
        let last = last_id(&mut reader).await.map_err(transport)?;
        let (tx, _) = broadcast::channel(CAPACITY);
        let (reading, dropped) = oneshot::channel();
        let stream = Reader {
            client: client.clone(),
            conn: reader,
            last,
            tx: tx.clone(),
            key: key.clone(),
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = stream.run() => {}
                _ = dropped => {}
            }
        });
        Ok(Self {
            conn,
            key,
            tx,
            _reading: Arc::new(reading),
            client,
            taking: Arc::default(),
        })
    }

    /// Sends `command` on the shared connection, once more if the first
    /// try found the connection dropped (the manager reconnects meanwhile).
    async fn send<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        let first = command.query_async(&mut conn).await;
        match first {
            Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                command.query_async(&mut conn).await
            }
            other => other,
        }
    }

    /// `event`, signed.
    fn seal(&self, event: &Event) -> Result<String, BusError> {
        self.key
            .seal(event)
            .map_err(|e| BusError::Transport(e.to_string()))
    }

    /// Runs an `XADD`.
    async fn append(&self, xadd: &redis::Cmd) -> Result<(), BusError> {
        self.send::<String>(xadd).await.map(drop).map_err(transport)
    }

    /// [`Bus::take`] on the taking connection.
    async fn take_on(
        &self,
        conn: &mut MultiplexedConnection,
        queue: &str,
        worker: &str,
        ttl: Duration,
        wait: Duration,
    ) -> redis::RedisResult<Option<Lease>> {
        jobs::ensure_group(conn, queue).await?;
        loop {
            let entry = match jobs::reclaim(conn, queue, worker, ttl).await? {
                Some(lapsed) => lapsed,
                None => match jobs::read_new(conn, queue, worker, wait).await? {
                    Some(new) => (new, 1),
                    None => return Ok(None),
                },
            };
            let id = entry.0.id.clone();
            match jobs::lease_of(&self.key, queue, worker, ttl, entry) {
                Ok(lease) => return Ok(Some(lease)),
                Err(why) => {
                    tracing::error!(queue, entry = %id, %why, "job dropped");
                    jobs::remove(conn, queue, &id, worker).await?;
                }
            }
        }
    }
}

fn transport(e: redis::RedisError) -> BusError {
    BusError::Transport(e.to_string())
}

/// A connection of its own for blocking reads, which may wait [`BLOCK`].
async fn reading_connection(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(BLOCK * 5));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The id of the stream's newest entry ("0-0" while it is empty): a new
/// node reads what comes after it.
async fn last_id(conn: &mut MultiplexedConnection) -> redis::RedisResult<String> {
    let newest: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(STREAM)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(newest
        .ids
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
}

/// Reads the stream from the last entry it saw and feeds the local
/// subscribers; runs until the bus is dropped.
struct Reader {
    client: redis::Client,
    conn: MultiplexedConnection,
    /// The last entry read: reading goes on after it, also after a reconnect.
    last: String,
    tx: broadcast::Sender<Event>,
    key: BusKey,
}

impl Reader {
    async fn run(mut self) {
        loop {
            let read: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(STREAM)
                .arg(&self.last)
                .query_async(&mut self.conn)
                .await;
            match read {
                Ok(reply) => self.deliver(reply.map(|r| r.keys).unwrap_or_default()),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the Redis bus connection; reconnecting");
                    self.reconnect().await;
                }
            }
        }
    }

    /// Hands the entries read to the local subscribers, in order.
    fn deliver(&mut self, keys: Vec<StreamKey>) {
        for entry in keys.into_iter().flat_map(|k| k.ids) {
            let sealed = match entry.map.get(FIELD) {
                Some(redis::Value::BulkString(bytes)) => {
                    self.key.open(bytes, onair_auth::clock::unix_ms())
                }
                _ => Err(crate::SealError::BadSignature),
            };
            match sealed {
                // No local subscriber is not an error.
                Ok(event) => drop(self.tx.send(event)),
                Err(e) => tracing::warn!(id = %entry.id, error = %e, "event on the bus dropped"),
            }
            self.last = entry.id;
        }
    }

    async fn reconnect(&mut self) {
        loop {
            tokio::time::sleep(RECONNECT).await;
            match reading_connection(&self.client).await {
                Ok(conn) => {
                    self.conn = conn;
                    tracing::info!(after = %self.last, "Redis bus connection back; reading on");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "Redis bus still unreachable"),
            }
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        let sealed = self.seal(&event)?;
        let mut xadd = redis::cmd("XADD");
        xadd.arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_LEN)
            .arg("*")
            .arg(FIELD)
            .arg(sealed);
        self.append(&xadd).await
    }

    fn subscribe(&self) -> Subscription {
        Subscription::new(self.tx.subscribe())
    }

    async fn offer(&self, queue: &str, job: Event) -> Result<(), BusError> {
        let sealed = self.seal(&job)?;
        let mut conn = self.conn.clone();
        jobs::ensure_group(&mut conn, queue)
            .await
            .map_err(transport)?;
        let mut xadd = redis::cmd("XADD");
        xadd.arg(jobs::stream(queue))
            .arg("*")
            .arg(FIELD)
            .arg(sealed);
        self.append(&xadd).await
    }

    async fn take(
        &self,
        queue: &str,
        worker: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<Lease>, BusError> {
        let mut taking = self.taking.lock().await;
        let mut conn = match taking.take() {
            Some(conn) => conn,
            None => reading_connection(&self.client).await.map_err(transport)?,
        };
        // Within the connection's response timeout.
        let wait = wait.min(BLOCK * 2);
        let taken = self.take_on(&mut conn, queue, worker, ttl, wait).await;
        if taken.is_ok() {
            *taking = Some(conn);
        }
        taken.map_err(transport)
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, BusError> {
        let mut conn = self.conn.clone();
        jobs::renew(&mut conn, lease).await.map_err(transport)
    }

    async fn finish(&self, lease: &Lease) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        jobs::remove(&mut conn, &lease.queue, &lease.entry, &lease.worker)
            .await
            .map(drop)
            .map_err(transport)
    }

    async fn announce(&self, node: &SfuNode) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        nodes::announce(&mut conn, &self.key, node)
            .await
            .map_err(transport)
    }

    async fn withdraw(&self, id: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        nodes::withdraw(&mut conn, id).await.map_err(transport)
    }

    async fn sfu_nodes(&self) -> Result<Vec<SfuNode>, BusError> {
        let mut conn = self.conn.clone();
        nodes::live(&mut conn, &self.key).await.map_err(transport)
    }

    async fn settle(&self, key: &str, value: &str, ttl: Duration) -> Result<String, BusError> {
        // `SET NX GET`: the earlier value, or none when this one is set.
        let mut set = redis::cmd("SET");
        set.arg(format!("{SETTLED}{key}"))
            .arg(value)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        let earlier: Option<String> = self.send(&set).await.map_err(transport)?;
        Ok(earlier.unwrap_or_else(|| value.to_owned()))
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
