//! The SQL behind [`Store`](super::Store), written once and expanded for each
//! backend: SQLite and Postgres both take `$N` placeholders, `ON CONFLICT`
//! upserts and the column types of our migrations, so the statements are
//! identical and only the pool type differs.

/// Implements `Store` for `$store` (which has a `pool: sqlx::Pool<$db>` field);
/// `$lock_events` is the statement that serializes writers of events.
macro_rules! impl_store {
    ($store:ty, $db:ty, $lock_events:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn pool_usage(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
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
                self.commit(&[Write::InsertCall(c.clone())], &[]).await.map(|done| done.is_some())
            }

            async fn get_call(&self, cid: &str) -> StoreResult<Option<Call>> {
                self.one::<CallRow, _>("SELECT * FROM calls WHERE cid = $1", &[cid]).await
            }

            async fn update_call(&self, c: &Call) -> StoreResult<()> {
                self.commit(&[Write::UpdateCall(c.clone())], &[]).await.map(drop)
            }

            async fn delete_call(&self, cid: &str) -> StoreResult<bool> {
                self.commit(&[Write::DeleteCall(cid.to_owned())], &[]).await.map(|done| done.is_some())
            }

            async fn upsert_members(&self, members: &[Member]) -> StoreResult<()> {
                self.commit(&[Write::UpsertMembers(members.to_vec())], &[]).await.map(drop)
            }

            async fn remove_members(&self, cid: &str, user_ids: &[String]) -> StoreResult<()> {
                self.commit(&[Write::RemoveMembers { cid: cid.to_owned(), user_ids: user_ids.to_vec() }], &[]).await.map(drop)
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
                self.commit(&[Write::BlockUsers { cid: cid.to_owned(), user_ids: user_ids.to_vec(), at: now }], &[]).await.map(drop)
            }

            async fn unblock_users(&self, cid: &str, user_ids: &[String]) -> StoreResult<()> {
                self.commit(&[Write::UnblockUsers { cid: cid.to_owned(), user_ids: user_ids.to_vec() }], &[]).await.map(drop)
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
                self.commit(&[Write::RecordKick { cid: cid.to_owned(), user_id: user_id.to_owned(), at }], &[]).await.map(drop)
            }

            async fn set_user_permissions(
                &self,
                cid: &str,
                user_id: &str,
                permissions: &$crate::domain::UserPermissions,
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                self.commit(&[Write::SetUserPermissions { cid: cid.to_owned(), user_id: user_id.to_owned(), permissions: permissions.clone(), at }], &[]).await.map(drop)
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
                self.commit(&[Write::OpenSession { session: s.clone(), previous: previous.map(str::to_owned) }], &[]).await.map(|done| done.is_some())
            }

            async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
                self.one::<SessionRow, _>("SELECT * FROM sessions WHERE id = $1", &[id]).await
            }

            async fn update_session(&self, s: &Session) -> StoreResult<()> {
                self.commit(&[Write::UpdateSession(s.clone())], &[]).await.map(drop)
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
                self.commit(&[Write::ParticipantJoined(p.clone())], &[]).await.map(|done| done.is_some())
            }

            async fn participant_left(&self, participant_sid: &str, at: DateTime<Utc>) -> StoreResult<()> {
                self.commit(&[Write::ParticipantLeft { participant_sid: participant_sid.to_owned(), at }], &[]).await.map(drop)
            }

            async fn commit(&self, writes: &[Write], events: &[NewEvent]) -> StoreResult<Option<Vec<StoredEvent>>> {
                let mut tx = self.pool.begin().await?;
                if !events.is_empty() {
                    sqlx::query($lock_events).execute(&mut *tx).await?;
                }
                for w in writes {
                    if !Self::write_one(&mut tx, w).await? {
                        return Ok(None); // dropping `tx` rolls back
                    }
                }
                let mut stored = Vec::with_capacity(events.len());
                for e in events {
                    if let Some(id) = Self::insert_event(&mut tx, e).await? {
                        stored.push(StoredEvent {
                            id,
                            event_type: e.event_type.clone(),
                            call_cid: e.call_cid.clone(),
                            created_at: e.created_at,
                            payload: e.payload.clone(),
                        });
                    }
                }
                tx.commit().await?;
                Ok(Some(stored))
            }

            async fn events_after(&self, after: i64, filter: &EventFilter, limit: i64) -> StoreResult<Vec<StoredEvent>> {
                let (clause, key, also) = match filter {
                    EventFilter::All => ("$2 = ''".to_owned(), "", &[][..]),
                    EventFilter::Call(cid) => ("call_cid = $2".to_owned(), cid.as_str(), &[][..]),
                    EventFilter::MemberOf(user, calls) => {
                        // Watched calls: one parameter each, from $4 on.
                        let listed: Vec<String> = (0..calls.len()).map(|i| format!("${}", i + 4)).collect();
                        let mut clause = "(call_cid IN (SELECT call_cid FROM members WHERE user_id = $2)".to_owned();
                        if !listed.is_empty() {
                            clause.push_str(&format!(" OR call_cid IN ({})", listed.join(", ")));
                        }
                        clause.push(')');
                        (clause, user.as_str(), calls.as_slice())
                    }
                };
                let sql = format!("SELECT * FROM events WHERE seq > $1 AND {clause} ORDER BY seq LIMIT $3");
                let mut query = sqlx::query_as::<_, EventRow>(&sql).bind(after).bind(key).bind(limit);
                for cid in also {
                    query = query.bind(cid.as_str());
                }
                convert(query.fetch_all(&self.pool).await?)
            }

            async fn last_event_id(&self) -> StoreResult<i64> {
                let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(seq.unwrap_or(0))
            }

            async fn get_participant(&self, sid: &str) -> StoreResult<Option<Participant>> {
                self.one::<ParticipantRow, _>("SELECT * FROM participants WHERE participant_sid = $1", &[sid]).await
            }

            async fn connected_participants(&self, cid: &str) -> StoreResult<Vec<Participant>> {
                let sql = "SELECT * FROM participants WHERE call_cid = $1 AND left_at IS NULL
                     ORDER BY joined_at, participant_sid";
                self.all::<ParticipantRow, _>(sql, &[cid]).await
            }

            async fn insert_egress(&self, e: &Egress) -> StoreResult<bool> {
                self.commit(&[Write::InsertEgress(e.clone())], &[]).await.map(|done| done.is_some())
            }

            async fn get_egress(&self, id: &str) -> StoreResult<Option<Egress>> {
                self.one::<EgressRow, _>("SELECT * FROM egress WHERE id = $1", &[id]).await
            }

            async fn update_egress(&self, e: &Egress, previous: EgressState) -> StoreResult<bool> {
                self.commit(&[Write::UpdateEgress { egress: e.clone(), previous }], &[]).await.map(|done| done.is_some())
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

        impl_writes!($store, $db);

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
