//! Webhook delivery state: endpoints with their place in the event log,
//! the deliveries still to make (or parked), and the lease that lets one
//! node deliver at a time. It is in the store, not in memory, so a restart,
//! a crash or another node taking over resumes where delivery was (an
//! event may go out twice around a crash, never zero times).
//!
//! The SQL is written once ([`impl_webhook_store`]) and expanded for both
//! backends, like `sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::webhook_rows::{rows, EndpointRow, HeadRow, ParkedRow};
use super::{PgStore, SqliteStore, StoreResult};
use crate::domain::webhook::{
    Backlog, Delivery, Endpoint, FailedAttempt, Parked, Source, StoredEndpoint,
};

/// Where delivery state is kept: part of every [`Store`](super::Store).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Every endpoint: the config's first, then the API's, each in the
    /// order they were given.
    async fn webhook_endpoints(&self) -> StoreResult<Vec<StoredEndpoint>>;
    /// Replaces the endpoints of `source` with `endpoints`: one whose URL
    /// was there already keeps its queue (and takes the new event types);
    /// a new one starts after the latest event; one no longer listed goes
    /// with its queue.
    async fn replace_webhook_endpoints(
        &self,
        source: Source,
        endpoints: &[Endpoint],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Queues `events` (id, call) for endpoint `endpoint_id` and moves its
    /// place in the log from `from` to `through`, in one transaction;
    /// `false` (nothing stored) if its place is no longer `from` or the
    /// endpoint is gone.
    async fn queue_webhook_events(
        &self,
        endpoint_id: &str,
        from: i64,
        through: i64,
        events: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The head of each call's queue for endpoint `endpoint_id` (what may
    /// go next), soonest due first, at most `limit`.
    async fn webhook_heads(&self, endpoint_id: &str, limit: i64) -> StoreResult<Vec<Delivery>>;
    /// Settles attempts at endpoint `endpoint_id` in one transaction:
    /// `delivered` (event id, call) deliveries go, `failed` ones are
    /// recorded (retried later or parked). A call whose head went gets its
    /// next oldest pending event as its head, due `now`. Returns the heads
    /// of the calls of `delivered` and of the parked ones.
    async fn settle_webhooks(
        &self,
        endpoint_id: &str,
        delivered: &[(i64, String)],
        failed: &[FailedAttempt],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Delivery>>;
    /// Parked deliveries after (event id, endpoint id) `after`, by event id.
    async fn parked_webhooks(
        &self,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<Parked>>;
    /// Gives every call of endpoint `endpoint_id` with pending deliveries
    /// but no head its head (due `now`); a loop does it when it starts, in
    /// case a call was left without one.
    async fn heal_webhook_queues(&self, endpoint_id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Puts parked deliveries (of `event_ids`, or all) back in their
    /// queues, due now; how many.
    async fn redeliver_webhooks(
        &self,
        event_ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Takes or renews the delivery lease for `holder` until `now + ttl`;
    /// `false` while another holder's lease runs.
    async fn take_webhook_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    /// Gives the lease up (if `holder` has it), so another node takes over at once.
    async fn release_webhook_lease(&self, holder: &str) -> StoreResult<()>;
    /// How far behind each endpoint is.
    async fn webhook_backlog(&self) -> StoreResult<Vec<Backlog>>;
}

/// The lease's one row.
const LEASE: &str = "delivery";

/// The heads of an endpoint's queues with their events: the endpoint is
/// bound after this text (then narrowed and ordered).
const BACKLOG: &str = "SELECT w.id AS endpoint_id,
      (SELECT COUNT(*) FROM webhook_deliveries d
        WHERE d.endpoint_id = w.id AND d.state = 'pending') AS pending,
      (SELECT MIN(e.created_at) FROM webhook_deliveries d JOIN events e ON e.seq = d.event_id
        WHERE d.endpoint_id = w.id AND d.state = 'pending') AS oldest_ms,
      COALESCE((SELECT MAX(seq) FROM events), 0) - w.queued_through AS unqueued
    FROM webhook_endpoints w";

const HEADS_OF: &str = "SELECT d.endpoint_id, d.event_id, d.attempts, d.first_attempt_at,
      d.next_attempt_at, e.type, e.call_cid, e.created_at, e.payload
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_id
    WHERE d.next_attempt_at IS NOT NULL AND d.state = 'pending' AND d.endpoint_id = ";

/// Implements [`WebhookStore`] for `$store` (which has `pool()`) on `$db`;
/// `$lock_queues` (with the endpoint id bound) serializes the transactions
/// that change an endpoint's queues, so that two of them (new events queued
/// while a head is settled) cannot both see the other's call as having a
/// head and leave it with none. Each takes it first, before any row lock,
/// and several in endpoint id order: no deadlock.
macro_rules! impl_webhook_store {
    ($store:ty, $db:ty, $lock_queues:expr) => {
        #[async_trait]
        impl WebhookStore for $store {
            async fn webhook_endpoints(&self) -> StoreResult<Vec<StoredEndpoint>> {
                // 'config' sorts after 'api': descending puts it first.
                let found: Vec<EndpointRow> = sqlx::query_as(
                    "SELECT id, source, url, events, queued_through FROM webhook_endpoints
                     ORDER BY source DESC, ordinal",
                )
                .fetch_all(self.pool())
                .await?;
                rows(found)
            }

            async fn replace_webhook_endpoints(
                &self,
                source: Source,
                endpoints: &[Endpoint],
                now: DateTime<Utc>,
            ) -> StoreResult<()> {
                let existing: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, url FROM webhook_endpoints WHERE source = $1 ORDER BY id",
                )
                .bind(source.as_str())
                .fetch_all(self.pool())
                .await?;
                let mut tx = self.pool().begin().await?;
                for (id, url) in existing {
                    if !endpoints.iter().any(|e| e.url == url) {
                        Self::lock(&mut tx, &id).await?;
                        for sql in [
                            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
                            "DELETE FROM webhook_endpoints WHERE id = $1",
                        ] {
                            sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
                        }
                    }
                }
                for (i, e) in endpoints.iter().enumerate() {
                    let events = e.events.as_ref().map(|p| serde_json::Value::from(p.clone()).to_string());
                    sqlx::query(
                        "INSERT INTO webhook_endpoints (id, source, ordinal, url, events, queued_through, created_at)
                         VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(seq), 0) FROM events), $6)
                         ON CONFLICT (source, url) DO UPDATE SET ordinal = excluded.ordinal,
                           events = excluded.events",
                    )
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(source.as_str())
                    .bind(i as i64)
                    .bind(&e.url)
                    .bind(events)
                    .bind(now.timestamp_millis())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn queue_webhook_events(
                &self,
                endpoint_id: &str,
                from: i64,
                through: i64,
                events: &[(i64, String)],
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let mut tx = self.pool().begin().await?;
                Self::lock(&mut tx, endpoint_id).await?;
                let moved = sqlx::query(
                    "UPDATE webhook_endpoints SET queued_through = $2 WHERE id = $1 AND queued_through = $3",
                )
                .bind(endpoint_id)
                .bind(through)
                .bind(from)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Ok(false); // dropping `tx` rolls back
                }
                if !events.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO webhook_deliveries (endpoint_id, event_id, call_cid, state, attempts) ",
                    );
                    q.push_values(events, |mut row, (id, cid)| {
                        row.push_bind(endpoint_id)
                            .push_bind(*id)
                            .push_bind(cid)
                            .push_bind("pending")
                            .push_bind(0_i64);
                    });
                    q.push(" ON CONFLICT (endpoint_id, event_id) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                let calls: Vec<&str> = events.iter().map(|(_, cid)| cid.as_str()).collect();
                Self::promote(&mut tx, endpoint_id, Some(&calls), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn webhook_heads(&self, endpoint_id: &str, limit: i64) -> StoreResult<Vec<Delivery>> {
                let sql = format!("{HEADS_OF}$1 ORDER BY d.next_attempt_at, d.event_id LIMIT $2");
                let found: Vec<HeadRow> = sqlx::query_as(&sql)
                    .bind(endpoint_id)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                rows(found)
            }

            async fn settle_webhooks(
                &self,
                endpoint_id: &str,
                delivered: &[(i64, String)],
                failed: &[FailedAttempt],
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<Delivery>> {
                let mut tx = self.pool().begin().await?;
                Self::lock(&mut tx, endpoint_id).await?;
                if !delivered.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "DELETE FROM webhook_deliveries WHERE endpoint_id = ",
                    );
                    q.push_bind(endpoint_id).push(" AND event_id IN (");
                    let mut list = q.separated(", ");
                    for (id, _) in delivered {
                        list.push_bind(*id);
                    }
                    q.push(")").build().execute(&mut *tx).await?;
                }
                for f in failed {
                    Self::attempt_failed(&mut tx, endpoint_id, f).await?;
                }
                let parked = failed.iter().filter(|f| f.retry_at.is_none());
                let calls: Vec<&str> = delivered
                    .iter()
                    .map(|(_, cid)| cid.as_str())
                    .chain(parked.map(|f| f.call_cid.as_str()))
                    .collect();
                Self::promote(&mut tx, endpoint_id, Some(&calls), now).await?;
                let heads = Self::heads_of(&mut tx, endpoint_id, &calls).await?;
                tx.commit().await?;
                Ok(heads)
            }

            async fn parked_webhooks(&self, after: Option<(i64, &str)>, limit: i64) -> StoreResult<Vec<Parked>> {
                let (event, endpoint) = after.unwrap_or((0, ""));
                let found: Vec<ParkedRow> = sqlx::query_as(
                    "SELECT d.endpoint_id, w.url, d.event_id, e.type, e.call_cid, d.attempts,
                       d.last_error, d.last_attempt_at
                     FROM webhook_deliveries d
                       JOIN webhook_endpoints w ON w.id = d.endpoint_id
                       JOIN events e ON e.seq = d.event_id
                     WHERE d.state = 'parked'
                       AND (d.event_id > $1 OR (d.event_id = $1 AND d.endpoint_id > $2))
                     ORDER BY d.event_id, d.endpoint_id LIMIT $3",
                )
                .bind(event)
                .bind(endpoint)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
                rows(found)
            }

            async fn heal_webhook_queues(&self, endpoint_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
                let mut tx = self.pool().begin().await?;
                Self::lock(&mut tx, endpoint_id).await?;
                Self::promote(&mut tx, endpoint_id, None, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeliver_webhooks(&self, event_ids: Option<&[i64]>, now: DateTime<Utc>) -> StoreResult<u64> {
                if event_ids.is_some_and(|ids| ids.is_empty()) {
                    return Ok(0);
                }
                let parked = |select: &str| {
                    let mut q = sqlx::QueryBuilder::<$db>::new(select);
                    q.push(" WHERE state = 'parked'");
                    if let Some(ids) = event_ids {
                        q.push(" AND event_id IN (");
                        let mut list = q.separated(", ");
                        for id in ids {
                            list.push_bind(*id);
                        }
                        q.push(")");
                    }
                    q
                };
                let mut q = parked("SELECT DISTINCT endpoint_id FROM webhook_deliveries");
                let endpoints: Vec<(String,)> = q.push(" ORDER BY endpoint_id").build_query_as().fetch_all(self.pool()).await?;
                let mut tx = self.pool().begin().await?;
                let mut redelivered = 0;
                for (endpoint_id,) in &endpoints {
                    Self::lock(&mut tx, endpoint_id).await?;
                    let mut q = parked(
                        "UPDATE webhook_deliveries SET state = 'pending', first_attempt_at = NULL, next_attempt_at = NULL",
                    );
                    q.push(" AND endpoint_id = ").push_bind(endpoint_id).push(" RETURNING call_cid");
                    let calls: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    let calls: Vec<&str> = calls.iter().map(|(cid,)| cid.as_str()).collect();
                    Self::promote(&mut tx, endpoint_id, Some(&calls), now).await?;
                    redelivered += calls.len() as u64;
                }
                tx.commit().await?;
                Ok(redelivered)
            }

            async fn take_webhook_lease(
                &self,
                holder: &str,
                now: DateTime<Utc>,
                ttl: std::time::Duration,
            ) -> StoreResult<bool> {
                let until = now.timestamp_millis().saturating_add(ttl.as_millis() as i64);
                let taken = sqlx::query(
                    "INSERT INTO webhook_lease (name, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE webhook_lease.holder = excluded.holder OR webhook_lease.expires_at < $4",
                )
                .bind(LEASE)
                .bind(holder)
                .bind(until)
                .bind(now.timestamp_millis())
                .execute(self.pool())
                .await?
                .rows_affected();
                Ok(taken == 1)
            }

            async fn webhook_backlog(&self) -> StoreResult<Vec<Backlog>> {
                let found: Vec<(String, i64, Option<i64>, i64)> =
                    sqlx::query_as(BACKLOG).fetch_all(self.pool()).await?;
                let backlog = found.into_iter().map(|(endpoint_id, pending, oldest_ms, unqueued)| {
                    Backlog { endpoint_id, pending, oldest_ms, unqueued }
                });
                Ok(backlog.collect())
            }

            async fn release_webhook_lease(&self, holder: &str) -> StoreResult<()> {
                sqlx::query("UPDATE webhook_lease SET expires_at = 0 WHERE name = $1 AND holder = $2")
                    .bind(LEASE)
                    .bind(holder)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }
        }

        impl $store {
            /// Takes endpoint `endpoint_id`'s lock for the rest of `tx`
            /// (every transaction that changes its queues does, first).
            async fn lock(tx: &mut sqlx::Transaction<'static, $db>, endpoint_id: &str) -> StoreResult<()> {
                sqlx::query($lock_queues).bind(endpoint_id).execute(&mut **tx).await?;
                Ok(())
            }

            /// Makes the oldest pending delivery of each of `calls` (all when
            /// `None`) for endpoint `endpoint_id` its call's head, due `now`,
            /// unless the call has a head already.
            async fn promote(
                tx: &mut sqlx::Transaction<'static, $db>,
                endpoint_id: &str,
                calls: Option<&[&str]>,
                now: DateTime<Utc>,
            ) -> StoreResult<()> {
                if calls.is_some_and(|c| c.is_empty()) {
                    return Ok(());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE webhook_deliveries SET next_attempt_at = ",
                );
                q.push_bind(now.timestamp_millis())
                    .push(" WHERE endpoint_id = ")
                    .push_bind(endpoint_id)
                    .push(" AND event_id IN (SELECT MIN(event_id) FROM webhook_deliveries")
                    .push(" WHERE state = 'pending' AND endpoint_id = ")
                    .push_bind(endpoint_id);
                if let Some(calls) = calls {
                    q.push(" AND call_cid IN (");
                    let mut list = q.separated(", ");
                    for cid in calls.iter().collect::<std::collections::BTreeSet<_>>() {
                        list.push_bind(*cid);
                    }
                    q.push(")");
                }
                // COUNT(next_attempt_at) counts heads: none yet.
                q.push(" GROUP BY call_cid HAVING COUNT(next_attempt_at) = 0)");
                q.build().execute(&mut **tx).await?;
                Ok(())
            }

            /// The heads of `calls`' queues for endpoint `endpoint_id`.
            async fn heads_of(
                tx: &mut sqlx::Transaction<'static, $db>,
                endpoint_id: &str,
                calls: &[&str],
            ) -> StoreResult<Vec<Delivery>> {
                if calls.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(HEADS_OF);
                q.push_bind(endpoint_id).push(" AND d.call_cid IN (");
                let mut list = q.separated(", ");
                for cid in calls.iter().collect::<std::collections::BTreeSet<_>>() {
                    list.push_bind(*cid);
                }
                q.push(")");
                let found: Vec<HeadRow> = q.build_query_as().fetch_all(&mut **tx).await?;
                rows(found)
            }

            /// Records failed attempt `f` at endpoint `endpoint_id`.
            async fn attempt_failed(
                tx: &mut sqlx::Transaction<'static, $db>,
                endpoint_id: &str,
                f: &FailedAttempt,
            ) -> StoreResult<()> {
                let state = if f.retry_at.is_some() { "pending" } else { "parked" };
                sqlx::query(
                    "UPDATE webhook_deliveries SET attempts = $3, first_attempt_at = $4,
                       last_attempt_at = $5, last_error = $6, state = $7, next_attempt_at = $8
                     WHERE endpoint_id = $1 AND event_id = $2 AND state = 'pending'",
                )
                .bind(endpoint_id)
                .bind(f.event_id)
                .bind(i64::from(f.attempts))
                .bind(f.first_attempt_at.timestamp_millis())
                .bind(f.at.timestamp_millis())
                .bind(&f.error)
                .bind(state)
                .bind(f.retry_at.map(|at| at.timestamp_millis()))
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }
    };
}

// SQLite runs one writer at a time: nothing more to lock (the statement
// reads no table, so the transaction still starts with its first write).
impl_webhook_store!(SqliteStore, sqlx::Sqlite, "SELECT $1");
// One advisory lock per endpoint, held to the end of the transaction.
impl_webhook_store!(
    PgStore,
    sqlx::Postgres,
    "SELECT pg_advisory_xact_lock(7008, hashtext($1))"
);
