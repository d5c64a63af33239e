//! The SQL behind [`Store`](super::Store), written once and expanded for each
//! backend: SQLite and Postgres both take `$N` placeholders, `ON CONFLICT`
//! upserts and the column types of our migrations, so the statements are
//! identical and only the pool type differs.

/// Implements `Store` for `$store` (which has a `pool: sqlx::Pool<$db>` field).
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn upsert_users(&self, users: &[User]) -> StoreResult<()> {
                self.in_one_transaction(users, |u| {
                    sqlx::query(
                        "INSERT INTO users (id, name, image, role, custom, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, image = excluded.image,
                           role = excluded.role, custom = excluded.custom, updated_at = excluded.updated_at",
                    )
                    .bind(&u.id)
                    .bind(&u.name)
                    .bind(&u.image)
                    .bind(&u.role)
                    .bind(u.custom.to_string())
                    .bind(ms(u.created_at))
                    .bind(ms(u.updated_at))
                })
                .await
            }

            async fn ensure_users(&self, ids: &[String], now: DateTime<Utc>) -> StoreResult<()> {
                self.in_one_transaction(ids, |id| {
                    let u = User::bare(id, now);
                    sqlx::query(
                        "INSERT INTO users (id, name, image, role, custom, created_at, updated_at)
                         VALUES ($1, NULL, NULL, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(u.id)
                    .bind(u.role)
                    .bind(u.custom.to_string())
                    .bind(ms(now))
                })
                .await
            }

            async fn get_users(&self, ids: &[String]) -> StoreResult<Vec<User>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM users WHERE id IN (");
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                q.push(") ORDER BY id");
                convert(q.build_query_as::<UserRow>().fetch_all(&self.pool).await?)
            }

            async fn list_call_types(&self) -> StoreResult<Vec<CallType>> {
                self.all::<CallTypeRow, _>("SELECT * FROM call_types ORDER BY name", &[]).await
            }

            async fn get_call_type(&self, name: &str) -> StoreResult<Option<CallType>> {
                self.one::<CallTypeRow, _>("SELECT * FROM call_types WHERE name = $1", &[name]).await
            }

            async fn put_call_type(&self, t: &CallType) -> StoreResult<()> {
                self.write_call_type(t, "ON CONFLICT (name) DO UPDATE SET grants = excluded.grants,
                    settings = excluded.settings, updated_at = excluded.updated_at").await
            }

            async fn insert_call_type_if_absent(&self, t: &CallType) -> StoreResult<()> {
                self.write_call_type(t, "ON CONFLICT (name) DO NOTHING").await
            }

            async fn insert_call(&self, c: &Call) -> StoreResult<bool> {
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
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_call(&self, cid: &str) -> StoreResult<Option<Call>> {
                self.one::<CallRow, _>("SELECT * FROM calls WHERE cid = $1", &[cid]).await
            }

            async fn update_call(&self, c: &Call) -> StoreResult<()> {
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
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_call(&self, cid: &str) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                for table in ["members", "sessions", "participants", "egress"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE call_cid = $1"))
                        .bind(cid)
                        .execute(&mut *tx)
                        .await?;
                }
                let done = sqlx::query("DELETE FROM calls WHERE cid = $1").bind(cid).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn upsert_members(&self, members: &[Member]) -> StoreResult<()> {
                self.in_one_transaction(members, |m| {
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
                })
                .await
            }

            async fn remove_members(&self, cid: &str, user_ids: &[String]) -> StoreResult<()> {
                self.delete_users_of_call("members", cid, user_ids).await
            }

            async fn list_members(&self, cid: &str) -> StoreResult<Vec<Member>> {
                let sql = "SELECT * FROM members WHERE call_cid = $1 ORDER BY created_at, user_id";
                self.all::<MemberRow, _>(sql, &[cid]).await
            }

            async fn get_member(&self, cid: &str, user_id: &str) -> StoreResult<Option<Member>> {
                let sql = "SELECT * FROM members WHERE call_cid = $1 AND user_id = $2";
                self.one::<MemberRow, _>(sql, &[cid, user_id]).await
            }

            async fn count_members(&self, cid: &str) -> StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM members WHERE call_cid = $1")
                    .bind(cid)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            async fn block_users(&self, cid: &str, user_ids: &[String], now: DateTime<Utc>) -> StoreResult<()> {
                self.in_one_transaction(user_ids, |id| {
                    sqlx::query(
                        "INSERT INTO blocked_users (call_cid, user_id, created_at) VALUES ($1, $2, $3)
                         ON CONFLICT (call_cid, user_id) DO NOTHING",
                    )
                    .bind(cid)
                    .bind(id)
                    .bind(ms(now))
                })
                .await
            }

            async fn unblock_users(&self, cid: &str, user_ids: &[String]) -> StoreResult<()> {
                self.delete_users_of_call("blocked_users", cid, user_ids).await
            }

            async fn blocked_users(&self, cid: &str) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT user_id FROM blocked_users WHERE call_cid = $1 ORDER BY created_at, user_id",
                )
                .bind(cid)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn is_blocked(&self, cid: &str, user_id: &str) -> StoreResult<bool> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT user_id FROM blocked_users WHERE call_cid = $1 AND user_id = $2",
                )
                .bind(cid)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn record_kick(&self, cid: &str, user_id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO kicked_users (call_cid, user_id, kicked_at) VALUES ($1, $2, $3)
                     ON CONFLICT (call_cid, user_id) DO UPDATE SET kicked_at = excluded.kicked_at",
                )
                .bind(cid)
                .bind(user_id)
                .bind(ms(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_user_permissions(
                &self,
                cid: &str,
                user_id: &str,
                permissions: &$crate::domain::UserPermissions,
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
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
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn user_permissions(&self, cid: &str, user_id: &str) -> StoreResult<$crate::domain::UserPermissions> {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT granted, revoked FROM user_permissions WHERE call_cid = $1 AND user_id = $2",
                )
                .bind(cid)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((granted, revoked)) = row else {
                    return Ok($crate::domain::UserPermissions::default());
                };
                let parse = |text: &str| {
                    serde_json::from_str(text)
                        .map_err(|e| StoreError::Corrupt(format!("user permissions: {e}")))
                };
                Ok($crate::domain::UserPermissions {
                    granted: parse(&granted)?,
                    revoked: parse(&revoked)?,
                })
            }

            async fn kicked_at(&self, cid: &str, user_id: &str) -> StoreResult<Option<DateTime<Utc>>> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT kicked_at FROM kicked_users WHERE call_cid = $1 AND user_id = $2",
                )
                .bind(cid)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(at,)| DateTime::from_timestamp_millis(at)))
            }

            async fn open_session(&self, s: &Session, previous: Option<&str>) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
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
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !swapped {
                    return Ok(false); // dropping `tx` rolls back
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
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
                self.one::<SessionRow, _>("SELECT * FROM sessions WHERE id = $1", &[id]).await
            }

            async fn update_session(&self, s: &Session) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $2, live_started_at = $3, live_ended_at = $4 WHERE id = $1",
                )
                .bind(&s.id)
                .bind(opt_ms(s.ended_at))
                .bind(opt_ms(s.live_started_at))
                .bind(opt_ms(s.live_ended_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn put_egress_target(&self, egress_id: &str, target: &str) -> StoreResult<()> {
                sqlx::query("INSERT INTO egress_targets (egress_id, target) VALUES ($1, $2)")
                    .bind(egress_id)
                    .bind(target)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn egress_target(&self, egress_id: &str) -> StoreResult<Option<String>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT target FROM egress_targets WHERE egress_id = $1")
                        .bind(egress_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(t,)| t))
            }

            async fn open_sessions(&self) -> StoreResult<Vec<Session>> {
                let sql = "SELECT * FROM sessions WHERE ended_at IS NULL ORDER BY started_at, id";
                self.all::<SessionRow, _>(sql, &[]).await
            }

            async fn list_sessions(&self, cid: &str) -> StoreResult<Vec<Session>> {
                let sql = "SELECT * FROM sessions WHERE call_cid = $1 ORDER BY started_at, id";
                self.all::<SessionRow, _>(sql, &[cid]).await
            }

            async fn participant_joined(&self, p: &Participant) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO participants (participant_sid, call_cid, session_id, user_id, joined_at, left_at)
                     SELECT $1, cid, current_session_id, $3, $4, NULL FROM calls WHERE cid = $2
                     ON CONFLICT (participant_sid) DO NOTHING",
                )
                .bind(&p.participant_sid)
                .bind(&p.call_cid)
                .bind(&p.user_id)
                .bind(ms(p.joined_at))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn participant_left(&self, participant_sid: &str, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE participants SET left_at = $2 WHERE participant_sid = $1 AND left_at IS NULL")
                    .bind(participant_sid)
                    .bind(ms(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn connected_participants(&self, cid: &str) -> StoreResult<Vec<Participant>> {
                let sql = "SELECT * FROM participants WHERE call_cid = $1 AND left_at IS NULL
                     ORDER BY joined_at, participant_sid";
                self.all::<ParticipantRow, _>(sql, &[cid]).await
            }

            async fn insert_egress(&self, e: &Egress) -> StoreResult<bool> {
                // The partial unique index refuses a second running recording or HLS job.
                let done = sqlx::query(
                    "INSERT INTO egress (id, call_cid, session_id, kind, preset, state, error, file,
                       size, duration_ms, created_at, started_at, ended_at, updated_at, name)
                     SELECT $1, cid, current_session_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
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
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_egress(&self, id: &str) -> StoreResult<Option<Egress>> {
                self.one::<EgressRow, _>("SELECT * FROM egress WHERE id = $1", &[id]).await
            }

            async fn update_egress(&self, e: &Egress, previous: EgressState) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE egress SET state = $2, error = $3, file = $4, size = $5, duration_ms = $6,
                       started_at = $7, ended_at = $8, updated_at = $10
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
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn silent_egress(&self, before: DateTime<Utc>) -> StoreResult<Vec<Egress>> {
                let rows: Vec<EgressRow> = sqlx::query_as(
                    "SELECT * FROM egress WHERE state IN ('starting', 'active', 'ending')
                       AND updated_at < $1 ORDER BY updated_at, id",
                )
                .bind(ms(before))
                .fetch_all(&self.pool)
                .await?;
                convert(rows)
            }

            async fn list_egress(&self, cid: &str, kind: EgressKind) -> StoreResult<Vec<Egress>> {
                let sql = "SELECT * FROM egress WHERE call_cid = $1 AND kind = $2 ORDER BY created_at, id";
                self.all::<EgressRow, _>(sql, &[cid, kind.as_str()]).await
            }
        }

        impl $store {
            /// Runs the statement `query` makes of each of `items`, all in one
            /// transaction: all of them are written, or none.
            async fn in_one_transaction<'a, T: Sync>(
                &self,
                items: &'a [T],
                query: impl Fn(&'a T) -> sqlx::query::Query<'a, $db, <$db as sqlx::Database>::Arguments<'a>>
                    + Send,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for item in items {
                    query(item).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Deletes the rows of `table` that tie each of `user_ids` to call
            /// `cid`, in one transaction.
            async fn delete_users_of_call(&self, table: &str, cid: &str, user_ids: &[String]) -> StoreResult<()> {
                let sql = format!("DELETE FROM {table} WHERE call_cid = $1 AND user_id = $2");
                self.in_one_transaction(user_ids, |id| sqlx::query(&sql).bind(cid).bind(id)).await
            }

            /// The row `sql` selects with `keys` bound to `$1`, `$2`…, as a `T`.
            async fn one<R, T>(&self, sql: &str, keys: &[&str]) -> StoreResult<Option<T>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = StoreError>,
            {
                let mut query = sqlx::query_as::<$db, R>(sql);
                for key in keys {
                    query = query.bind(*key);
                }
                query.fetch_optional(&self.pool).await?.map(T::try_from).transpose()
            }

            /// The rows `sql` selects with `keys` bound to `$1`, `$2`…, as `T`s.
            async fn all<R, T>(&self, sql: &str, keys: &[&str]) -> StoreResult<Vec<T>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = StoreError>,
            {
                let mut query = sqlx::query_as::<$db, R>(sql);
                for key in keys {
                    query = query.bind(*key);
                }
                convert(query.fetch_all(&self.pool).await?)
            }

            async fn write_call_type(&self, t: &CallType, on_conflict: &str) -> StoreResult<()> {
                let grants = serde_json::to_string(&t.grants).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let settings =
                    serde_json::to_string(&t.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(&format!(
                    "INSERT INTO call_types (name, grants, settings, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5) {on_conflict}"
                ))
                .bind(&t.name)
                .bind(grants)
                .bind(settings)
                .bind(ms(t.created_at))
                .bind(ms(t.updated_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// The underlying pool (for tests and maintenance).
            pub fn pool(&self) -> &sqlx::Pool<$db> {
                &self.pool
            }
        }
    };
}

pub(super) use impl_store;
