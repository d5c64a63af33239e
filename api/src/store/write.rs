//! Writes that change a call, as values: [`Store::commit`](super::Store::commit)
//! applies a list of them and the events they cause in one transaction, so
//! a change is never stored without its events, nor an event without its
//! change. Some writes are conditional (a compare-and-swap, an insert that
//! must be new): when one does not apply, nothing of the commit is stored.

use chrono::{DateTime, Utc};

use crate::domain::ring::Ring;
use crate::domain::{Call, Egress, EgressState, Member, Participant, Session, UserPermissions};

/// One write.
#[derive(Clone, Debug)]
pub enum Write {
    /// A new call; conditional: no call with its cid exists.
    InsertCall(Call),
    /// A call's mutable fields (all but identity, creation and
    /// `current_session_id`, which only `OpenSession` changes).
    UpdateCall(Call),
    /// A call with its members, sessions, participants and jobs;
    /// conditional: it exists.
    DeleteCall(String),
    /// Members inserted or replaced.
    UpsertMembers(Vec<Member>),
    /// Members of call `cid` removed.
    RemoveMembers {
        /// The call.
        cid: String,
        /// Who.
        user_ids: Vec<String>,
    },
    /// Users blocked from call `cid` (already blocked ones stay).
    BlockUsers {
        /// The call.
        cid: String,
        /// Who.
        user_ids: Vec<String>,
        /// Since when.
        at: DateTime<Utc>,
    },
    /// Blocks lifted.
    UnblockUsers {
        /// The call.
        cid: String,
        /// Who.
        user_ids: Vec<String>,
    },
    /// `user_id` was kicked from call `cid` at `at`.
    RecordKick {
        /// The call.
        cid: String,
        /// Who.
        user_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The capabilities granted to and revoked from a user in a call.
    SetUserPermissions {
        /// The call.
        cid: String,
        /// Who.
        user_id: String,
        /// What.
        permissions: UserPermissions,
        /// When.
        at: DateTime<Utc>,
    },
    /// A session made the call's current one; conditional: the current
    /// session is still `previous`.
    OpenSession {
        /// The new session.
        session: Session,
        /// The session it replaces.
        previous: Option<String>,
    },
    /// A session's end and live times.
    UpdateSession(Session),
    /// A media connection recorded; conditional: the call exists and the
    /// connection is new.
    ParticipantJoined(Participant),
    /// The end of a media connection; conditional: it was connected.
    ParticipantLeft {
        /// The connection.
        participant_sid: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new job; conditional: the call exists and runs no other job of
    /// that kind (recording, HLS).
    InsertEgress(Egress),
    /// A job's state; conditional: it is still in state `previous`.
    UpdateEgress {
        /// The job as it is now.
        egress: Egress,
        /// The state it was read in.
        previous: EgressState,
    },
    /// A new ring with its callees; conditional: its call exists.
    InsertRing(Ring),
    /// A ring and its callees as they are now; conditional: the stored
    /// ring is still at `ring.version` (it is stored at the next one).
    SaveRing(Ring),
}

/// Implements `write_one` (the SQL of each [`Write`]) and `insert_event`
/// for `$store` on database `$db`; both run inside the commit's transaction.
macro_rules! impl_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Applies `w`; `false` when a conditional write did not apply.
            async fn write_one(tx: &mut sqlx::Transaction<'static, $db>, w: &Write) -> StoreResult<bool> {
                match w {
                    Write::InsertCall(c) => Self::insert_call_in(tx, c).await,
                    Write::UpdateCall(c) => Self::update_call_in(tx, c).await,
                    Write::DeleteCall(cid) => Self::delete_call_in(tx, cid).await,
                    Write::UpsertMembers(members) => Self::upsert_members_in(tx, members).await,
                    Write::RemoveMembers { cid, user_ids } => {
                        Self::delete_users_of_call(tx, "members", cid, user_ids).await
                    }
                    Write::BlockUsers { cid, user_ids, at } => {
                        Self::block_users_in(tx, cid, user_ids, *at).await
                    }
                    Write::UnblockUsers { cid, user_ids } => {
                        Self::delete_users_of_call(tx, "blocked_users", cid, user_ids).await
                    }
                    Write::RecordKick { cid, user_id, at } => Self::record_kick_in(tx, cid, user_id, *at).await,
                    Write::SetUserPermissions { cid, user_id, permissions, at } => {
                        Self::set_user_permissions_in(tx, cid, user_id, permissions, *at).await
                    }
                    Write::OpenSession { session, previous } => {
                        Self::open_session_in(tx, session, previous.as_deref()).await
                    }
                    Write::UpdateSession(s) => Self::update_session_in(tx, s).await,
                    Write::ParticipantJoined(p) => Self::participant_joined_in(tx, p).await,
                    Write::ParticipantLeft { participant_sid, at } => {
                        Self::participant_left_in(tx, participant_sid, *at).await
                    }
                    Write::InsertEgress(e) => Self::insert_egress_in(tx, e).await,
                    Write::UpdateEgress { egress, previous } => Self::update_egress_in(tx, egress, *previous).await,
                    Write::InsertRing(ring) => Self::insert_ring_in(tx, ring).await,
                    Write::SaveRing(ring) => Self::save_ring_in(tx, ring).await,
                }
            }

            async fn insert_call_in(tx: &mut sqlx::Transaction<'static, $db>, c: &Call) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO calls (cid, call_type, id, created_by, created_at, updated_at, starts_at,
                       ended_at, backstage, custom, settings_override, current_session_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (cid) DO NOTHING",
                )
                .bind(c.cid.to_string())
                .bind(&c.cid.call_type)
                .bind(&c.cid.id)
                .bind(&c.created_by)
                .bind(ms(c.created_at))
                .bind(ms(c.updated_at))
                .bind(opt_ms(c.starts_at))
                .bind(opt_ms(c.ended_at))
                .bind(c.backstage)
                .bind(c.custom.to_string())
                .bind(c.settings_override.to_string())
                .bind(&c.current_session_id)
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_call_in(tx: &mut sqlx::Transaction<'static, $db>, c: &Call) -> StoreResult<bool> {
                sqlx::query(
                    "UPDATE calls SET updated_at = $2, starts_at = $3, ended_at = $4, backstage = $5,
                       custom = $6, settings_override = $7 WHERE cid = $1",
                )
                .bind(c.cid.to_string())
                .bind(ms(c.updated_at))
                .bind(opt_ms(c.starts_at))
                .bind(opt_ms(c.ended_at))
                .bind(c.backstage)
                .bind(c.custom.to_string())
                .bind(c.settings_override.to_string())
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            async fn delete_call_in(tx: &mut sqlx::Transaction<'static, $db>, cid: &str) -> StoreResult<bool> {
                for table in ["members", "sessions", "participants", "egress"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE call_cid = $1"))
                        .bind(cid)
                        .execute(&mut **tx)
                        .await?;
                }
                let done = sqlx::query("DELETE FROM calls WHERE cid = $1").bind(cid).execute(&mut **tx).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn upsert_members_in(tx: &mut sqlx::Transaction<'static, $db>, members: &[Member]) -> StoreResult<bool> {
                for m in members {
                    sqlx::query(
                        "INSERT INTO members (call_cid, user_id, role, custom, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (call_cid, user_id) DO UPDATE SET role = excluded.role,
                           custom = excluded.custom, updated_at = excluded.updated_at",
                    )
                    .bind(&m.call_cid)
                    .bind(&m.user_id)
                    .bind(&m.role)
                    .bind(m.custom.to_string())
                    .bind(ms(m.created_at))
                    .bind(ms(m.updated_at))
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(true)
            }

            async fn block_users_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                cid: &str,
                user_ids: &[String],
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                for id in user_ids {
                    sqlx::query(
                        "INSERT INTO blocked_users (call_cid, user_id, created_at) VALUES ($1, $2, $3)
                         ON CONFLICT (call_cid, user_id) DO NOTHING",
                    )
                    .bind(cid)
                    .bind(id)
                    .bind(ms(at))
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(true)
            }

            async fn record_kick_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                cid: &str,
                user_id: &str,
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                sqlx::query(
                    "INSERT INTO kicked_users (call_cid, user_id, kicked_at) VALUES ($1, $2, $3)
                     ON CONFLICT (call_cid, user_id) DO UPDATE SET kicked_at = excluded.kicked_at",
                )
                .bind(cid)
                .bind(user_id)
                .bind(ms(at))
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            async fn set_user_permissions_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                cid: &str,
                user_id: &str,
                permissions: &UserPermissions,
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let names = |caps: &[onair_auth::Capability]| {
                    serde_json::to_string(caps).unwrap_or_else(|_| "[]".into())
                };
                sqlx::query(
                    "INSERT INTO user_permissions (call_cid, user_id, granted, revoked, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (call_cid, user_id) DO UPDATE SET granted = excluded.granted,
                       revoked = excluded.revoked, updated_at = excluded.updated_at",
                )
                .bind(cid)
                .bind(user_id)
                .bind(names(&permissions.granted))
                .bind(names(&permissions.revoked))
                .bind(ms(at))
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            async fn update_session_in(tx: &mut sqlx::Transaction<'static, $db>, s: &Session) -> StoreResult<bool> {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $2, live_started_at = $3, live_ended_at = $4
                     WHERE id = $1",
                )
                .bind(&s.id)
                .bind(opt_ms(s.ended_at))
                .bind(opt_ms(s.live_started_at))
                .bind(opt_ms(s.live_ended_at))
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            async fn participant_joined_in(tx: &mut sqlx::Transaction<'static, $db>, p: &Participant) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO participants (participant_sid, call_cid, session_id, user_id, joined_at, left_at)
                     SELECT $1, cid, current_session_id, $3, $4, NULL FROM calls WHERE cid = $2
                     ON CONFLICT (participant_sid) DO NOTHING",
                )
                .bind(&p.participant_sid)
                .bind(&p.call_cid)
                .bind(&p.user_id)
                .bind(ms(p.joined_at))
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn participant_left_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                participant_sid: &str,
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE participants SET left_at = $2 WHERE participant_sid = $1 AND left_at IS NULL",
                )
                .bind(participant_sid)
                .bind(ms(at))
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Stores `e` unless an event with its origin id is stored: its
            /// id, or `None`.
            async fn insert_event(
                tx: &mut sqlx::Transaction<'static, $db>,
                e: &NewEvent,
            ) -> StoreResult<Option<i64>> {
                let seq: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO events (origin_id, type, call_cid, created_at, payload)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (origin_id) DO NOTHING RETURNING seq",
                )
                .bind(&e.origin_id)
                .bind(&e.event_type)
                .bind(&e.call_cid)
                .bind(ms(e.created_at))
                .bind(e.payload.to_string())
                .fetch_optional(&mut **tx)
                .await?;
                Ok(seq.map(|(seq,)| seq))
            }

            /// Deletes the rows of `table` that tie each of `user_ids` to call `cid`.
            async fn delete_users_of_call(
                tx: &mut sqlx::Transaction<'static, $db>,
                table: &str,
                cid: &str,
                user_ids: &[String],
            ) -> StoreResult<bool> {
                let sql = format!("DELETE FROM {table} WHERE call_cid = $1 AND user_id = $2");
                for id in user_ids {
                    sqlx::query(&sql).bind(cid).bind(id).execute(&mut **tx).await?;
                }
                Ok(true)
            }

            async fn open_session_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                s: &Session,
                previous: Option<&str>,
            ) -> StoreResult<bool> {
                let swapped = match previous {
                    Some(prev) => sqlx::query(
                        "UPDATE calls SET current_session_id = $1 WHERE cid = $2 AND current_session_id = $3",
                    )
                    .bind(&s.id)
                    .bind(&s.call_cid)
                    .bind(prev),
                    None => sqlx::query(
                        "UPDATE calls SET current_session_id = $1 WHERE cid = $2 AND current_session_id IS NULL",
                    )
                    .bind(&s.id)
                    .bind(&s.call_cid),
                }
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                if !swapped {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO sessions (id, call_cid, started_at, ended_at, live_started_at, live_ended_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.id)
                .bind(&s.call_cid)
                .bind(ms(s.started_at))
                .bind(opt_ms(s.ended_at))
                .bind(opt_ms(s.live_started_at))
                .bind(opt_ms(s.live_ended_at))
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            async fn insert_egress_in(tx: &mut sqlx::Transaction<'static, $db>, e: &Egress) -> StoreResult<bool> {
                // The partial unique index refuses a second running recording or HLS job.
                let done = sqlx::query(
                    "INSERT INTO egress (id, call_cid, session_id, kind, preset, state, error, file,
                       size, duration_ms, created_at, started_at, ended_at, updated_at, name, parts)
                     SELECT $1, cid, current_session_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
                     FROM calls WHERE cid = $2
                     ON CONFLICT DO NOTHING",
                )
                .bind(&e.id)
                .bind(&e.call_cid)
                .bind(e.kind.as_str())
                .bind(&e.preset)
                .bind(e.state.as_str())
                .bind(&e.error)
                .bind(&e.file)
                .bind(e.size)
                .bind(e.duration_ms)
                .bind(ms(e.created_at))
                .bind(opt_ms(e.started_at))
                .bind(opt_ms(e.ended_at))
                .bind(ms(e.updated_at))
                .bind(&e.name)
                .bind(parts_json(&e.parts))
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_egress_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                e: &Egress,
                previous: EgressState,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE egress SET state = $2, error = $3, file = $4, size = $5, duration_ms = $6,
                       started_at = $7, ended_at = $8, updated_at = $10, parts = $11
                     WHERE id = $1 AND state = $9",
                )
                .bind(&e.id)
                .bind(e.state.as_str())
                .bind(&e.error)
                .bind(&e.file)
                .bind(e.size)
                .bind(e.duration_ms)
                .bind(opt_ms(e.started_at))
                .bind(opt_ms(e.ended_at))
                .bind(previous.as_str())
                .bind(ms(e.updated_at))
                .bind(parts_json(&e.parts))
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(super) use impl_writes;
