//! Rings, their callees, and the devices pushes go to: the writes that
//! go into a commit (`insert_ring_in`, `save_ring_in`) and the reads and
//! plain writes of [`RingStore`], for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::ring::Ring;

/// A phone registered for pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The provider's token for the device.
    pub id: String,
    /// Whose it is.
    pub user_id: String,
    /// `apn` or `firebase`.
    pub push_provider: String,
    /// Which configured provider (apps with several).
    pub push_provider_name: Option<String>,
    /// An APNs VoIP token (rings go to it as VoIP pushes).
    pub voip: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// What the store keeps of rings and devices.
#[async_trait]
pub trait RingStore {
    /// One ring with its callees.
    async fn get_ring(&self, id: &str) -> StoreResult<Option<Ring>>;
    /// The call's latest ring, if it ever rang.
    async fn latest_ring(&self, cid: &str) -> StoreResult<Option<Ring>>;
    /// Rings with a timer due at `now`.
    async fn due_rings(&self, now: DateTime<Utc>) -> StoreResult<Vec<String>>;
    /// Whether `user_id` is ringing in, or connected to, a call other than `cid`.
    async fn busy_elsewhere(&self, user_id: &str, cid: &str) -> StoreResult<bool>;
    /// Registers a device (a token already known moves to this user).
    async fn put_device(&self, device: &Device) -> StoreResult<()>;
    /// A user's devices, oldest first.
    async fn devices(&self, user_id: &str) -> StoreResult<Vec<Device>>;
    /// Forgets a device of `user_id`; `false` if it had none with that id.
    async fn delete_device(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Forgets a device whoever has it (the provider says it is gone).
    async fn forget_device(&self, id: &str) -> StoreResult<()>;
    /// How far the push sender has read the event log (0 at first).
    async fn push_cursor(&self) -> StoreResult<i64>;
    /// Notes how far the push sender has read the event log.
    async fn set_push_cursor(&self, last_event_id: i64) -> StoreResult<()>;
}

/// Implements [`RingStore`] and the ring writes for `$store` on `$db`.
macro_rules! impl_rings {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_ring_in(tx: &mut sqlx::Transaction<'static, $db>, r: &Ring) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO rings (id, call_cid, caller_id, video, state, ended_reason, started_at,
                       auto_cancel_at, missed_at, missed_done, accepted_at, ended_at, version)
                     SELECT $1, cid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM calls WHERE cid = $2",
                )
                .bind(&r.id)
                .bind(&r.call_cid)
                .bind(&r.caller_id)
                .bind(r.video)
                .bind(r.state.as_str())
                .bind(&r.ended_reason)
                .bind(ms(r.started_at))
                .bind(ms(r.auto_cancel_at))
                .bind(ms(r.missed_at))
                .bind(r.missed_done)
                .bind(opt_ms(r.accepted_at))
                .bind(opt_ms(r.ended_at))
                .bind(r.version)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::write_callees(tx, r).await?;
                Ok(true)
            }

            async fn save_ring_in(tx: &mut sqlx::Transaction<'static, $db>, r: &Ring) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE rings SET state = $2, ended_reason = $3, missed_done = $4, accepted_at = $5,
                       ended_at = $6, version = version + 1 WHERE id = $1 AND version = $7",
                )
                .bind(&r.id)
                .bind(r.state.as_str())
                .bind(&r.ended_reason)
                .bind(r.missed_done)
                .bind(opt_ms(r.accepted_at))
                .bind(opt_ms(r.ended_at))
                .bind(r.version)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::write_callees(tx, r).await?;
                Ok(true)
            }

            async fn write_callees(tx: &mut sqlx::Transaction<'static, $db>, r: &Ring) -> StoreResult<()> {
                for c in &r.callees {
                    sqlx::query(
                        "INSERT INTO ring_callees (ring_id, call_cid, user_id, state, reason, timeout_at, answered_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (ring_id, user_id) DO UPDATE SET state = excluded.state,
                           reason = excluded.reason, answered_at = excluded.answered_at",
                    )
                    .bind(&r.id)
                    .bind(&r.call_cid)
                    .bind(&c.user_id)
                    .bind(c.state.as_str())
                    .bind(&c.reason)
                    .bind(ms(c.timeout_at))
                    .bind(opt_ms(c.answered_at))
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn ring_by(&self, sql: &str, key: &str) -> StoreResult<Option<Ring>> {
                let row: Option<RingRow> = sqlx::query_as(sql).bind(key).fetch_optional(&self.pool).await?;
                let Some(row) = row else { return Ok(None) };
                let callees: Vec<CalleeRow> = sqlx::query_as(
                    "SELECT * FROM ring_callees WHERE ring_id = $1 ORDER BY user_id",
                )
                .bind(&row.id)
                .fetch_all(&self.pool)
                .await?;
                row.into_ring(callees).map(Some)
            }
        }

        #[async_trait::async_trait]
        impl RingStore for $store {
            async fn get_ring(&self, id: &str) -> StoreResult<Option<Ring>> {
                self.ring_by("SELECT * FROM rings WHERE id = $1", id).await
            }

            async fn latest_ring(&self, cid: &str) -> StoreResult<Option<Ring>> {
                let sql = "SELECT * FROM rings WHERE call_cid = $1 ORDER BY started_at DESC, id DESC LIMIT 1";
                self.ring_by(sql, cid).await
            }

            async fn due_rings(&self, now: DateTime<Utc>) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM rings WHERE (state = 'ringing' AND auto_cancel_at <= $1)
                       OR (NOT missed_done AND missed_at <= $1)
                     UNION
                     SELECT ring_id FROM ring_callees WHERE state = 'ringing' AND timeout_at <= $1
                     LIMIT 500",
                )
                .bind(ms(now))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn busy_elsewhere(&self, user_id: &str, cid: &str) -> StoreResult<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT 1 FROM ring_callees c JOIN rings r ON r.id = c.ring_id
                       WHERE c.user_id = $1 AND c.call_cid <> $2 AND c.state = 'ringing'
                         AND r.state <> 'ended'
                     UNION
                     SELECT 1 FROM participants WHERE user_id = $1 AND call_cid <> $2 AND left_at IS NULL
                     LIMIT 1",
                )
                .bind(user_id)
                .bind(cid)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn put_device(&self, d: &Device) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO devices (id, user_id, push_provider, push_provider_name, voip, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id,
                       push_provider = excluded.push_provider,
                       push_provider_name = excluded.push_provider_name, voip = excluded.voip",
                )
                .bind(&d.id)
                .bind(&d.user_id)
                .bind(&d.push_provider)
                .bind(&d.push_provider_name)
                .bind(d.voip)
                .bind(ms(d.created_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn devices(&self, user_id: &str) -> StoreResult<Vec<Device>> {
                let rows: Vec<DeviceRow> = sqlx::query_as(
                    "SELECT * FROM devices WHERE user_id = $1 ORDER BY created_at, id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(DeviceRow::into_device).collect()
            }

            async fn delete_device(&self, user_id: &str, id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM devices WHERE user_id = $1 AND id = $2")
                    .bind(user_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn forget_device(&self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM devices WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn push_cursor(&self) -> StoreResult<i64> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT last_event_id FROM push_cursor WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map_or(0, |(id,)| id))
            }

            async fn set_push_cursor(&self, last_event_id: i64) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO push_cursor (id, last_event_id) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id",
                )
                .bind(last_event_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_rings;
