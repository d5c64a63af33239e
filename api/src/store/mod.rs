//! Persistence: the [`Store`] trait and its two implementations,
//! [`SqliteStore`] (the embedded default) and [`PgStore`].
//!
//! Both run the same SQL (written once in `sql.rs`, expanded for each
//! backend) against their own migrations in `migrations/sqlite` and
//! `migrations/postgres`. One test suite (`api/tests/store.rs`) runs on both.
//! Webhook delivery state has its own trait, [`WebhookStore`] (part of
//! every `Store`), in `webhooks.rs` (tested in `api/tests/webhook_store.rs`).

mod postgres;
mod rings;
mod rows;
mod sql;
mod sqlite;
mod webhook_rows;
mod webhooks;
mod write;

pub use postgres::PgStore;
pub use rings::{Device, RingStore};
pub use sqlite::SqliteStore;
pub use webhooks::WebhookStore;
pub use write::Write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::event::{NewEvent, StoredEvent};
use crate::domain::{
    Call, CallType, Egress, EgressKind, EgressState, Member, Participant, Session, User,
    UserPermissions,
};

/// A store failure. Not the caller's fault: the API answers 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that does not decode (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Which events a reader sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event (a server).
    All,
    /// The events of one call.
    Call(String),
    /// The events of the calls this user is a member of, and of these calls.
    MemberOf(String, Vec<String>),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the API persists.
#[async_trait]
pub trait Store: RingStore + WebhookStore + Send + Sync + 'static {
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Connections the pool holds, and how many of them are idle.
    fn pool_usage(&self) -> (u32, usize);

    /// Applies `writes` and stores `events` in one transaction. Returns
    /// the events stored (an event whose origin id is stored already is
    /// not stored again), or `None` when a conditional write did not apply:
    /// then nothing is stored.
    async fn commit(
        &self,
        writes: &[Write],
        events: &[NewEvent],
    ) -> StoreResult<Option<Vec<StoredEvent>>>;
    /// Up to `limit` events with ids above `after` that `filter` lets
    /// through, oldest first.
    async fn events_after(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The id of the latest event (0 when there is none).
    async fn last_event_id(&self) -> StoreResult<i64>;

    /// Inserts or replaces users (keeping their `created_at`).
    async fn upsert_users(&self, users: &[User]) -> StoreResult<()>;
    /// Inserts bare users for ids not known yet.
    async fn ensure_users(&self, ids: &[String], now: DateTime<Utc>) -> StoreResult<()>;
    /// The users with these ids (unknown ids are skipped).
    async fn get_users(&self, ids: &[String]) -> StoreResult<Vec<User>>;

    /// All call types, by name.
    async fn list_call_types(&self) -> StoreResult<Vec<CallType>>;
    /// One call type.
    async fn get_call_type(&self, name: &str) -> StoreResult<Option<CallType>>;
    /// Inserts or replaces a call type (keeping its `created_at`).
    async fn put_call_type(&self, call_type: &CallType) -> StoreResult<()>;
    /// Inserts a call type unless one with that name exists.
    async fn insert_call_type_if_absent(&self, call_type: &CallType) -> StoreResult<()>;

    /// Inserts a call; `false` if one with that cid exists already.
    async fn insert_call(&self, call: &Call) -> StoreResult<bool>;
    /// One call by cid.
    async fn get_call(&self, cid: &str) -> StoreResult<Option<Call>>;
    /// Writes a call's mutable fields (all but identity, creation and
    /// `current_session_id`, which only [`Store::open_session`] changes).
    async fn update_call(&self, call: &Call) -> StoreResult<()>;
    /// Deletes a call with its members and sessions; `false` if absent.
    async fn delete_call(&self, cid: &str) -> StoreResult<bool>;

    /// Inserts or replaces members.
    async fn upsert_members(&self, members: &[Member]) -> StoreResult<()>;
    /// Removes members of a call.
    async fn remove_members(&self, cid: &str, user_ids: &[String]) -> StoreResult<()>;
    /// All members of a call, oldest first.
    async fn list_members(&self, cid: &str) -> StoreResult<Vec<Member>>;
    /// One member.
    async fn get_member(&self, cid: &str, user_id: &str) -> StoreResult<Option<Member>>;
    /// How many members a call has.
    async fn count_members(&self, cid: &str) -> StoreResult<i64>;

    /// Blocks `user_ids` from call `cid` (already blocked ones stay).
    async fn block_users(
        &self,
        cid: &str,
        user_ids: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Lifts the block of `user_ids` on call `cid`.
    async fn unblock_users(&self, cid: &str, user_ids: &[String]) -> StoreResult<()>;
    /// Who is blocked from call `cid`, first blocked first.
    async fn blocked_users(&self, cid: &str) -> StoreResult<Vec<String>>;
    /// Whether `user_id` is blocked from call `cid`.
    async fn is_blocked(&self, cid: &str, user_id: &str) -> StoreResult<bool>;
    /// Stores the capabilities granted to and revoked from `user_id` in
    /// call `cid`, over what its roles give (replacing earlier ones).
    async fn set_user_permissions(
        &self,
        cid: &str,
        user_id: &str,
        permissions: &UserPermissions,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The capabilities granted to and revoked from `user_id` in call `cid`.
    async fn user_permissions(&self, cid: &str, user_id: &str) -> StoreResult<UserPermissions>;
    /// Notes that `user_id` was kicked from call `cid` at `at`.
    async fn record_kick(&self, cid: &str, user_id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// When `user_id` was last kicked from call `cid`.
    async fn kicked_at(&self, cid: &str, user_id: &str) -> StoreResult<Option<DateTime<Utc>>>;

    /// Makes `session` the call's current session if the current one is
    /// still `previous`; returns `false` (and stores nothing) if another
    /// request opened a session first.
    async fn open_session(&self, session: &Session, previous: Option<&str>) -> StoreResult<bool>;
    /// One session.
    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>>;
    /// Writes a session's end and live times.
    async fn update_session(&self, session: &Session) -> StoreResult<()>;
    /// A call's sessions, oldest first.
    async fn list_sessions(&self, cid: &str) -> StoreResult<Vec<Session>>;
    /// Keeps where RTMP push `egress_id` goes (a secret: its stream key).
    async fn put_egress_target(&self, egress_id: &str, target: &str) -> StoreResult<()>;
    /// Where RTMP push `egress_id` goes.
    async fn egress_target(&self, egress_id: &str) -> StoreResult<Option<String>>;
    /// Every session that has not ended, oldest first.
    async fn open_sessions(&self) -> StoreResult<Vec<Session>>;

    /// Records a media connection (`false` if the call does not exist).
    async fn participant_joined(&self, participant: &Participant) -> StoreResult<bool>;
    /// Records the end of a media connection.
    async fn participant_left(&self, participant_sid: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// One media connection.
    async fn get_participant(&self, participant_sid: &str) -> StoreResult<Option<Participant>>;
    /// Who is connected to a call now, in joining order.
    async fn connected_participants(&self, cid: &str) -> StoreResult<Vec<Participant>>;

    /// Stores a new job; `false` if the call already runs one of that kind
    /// (recording, HLS) or does not exist.
    async fn insert_egress(&self, egress: &Egress) -> StoreResult<bool>;
    /// One job.
    async fn get_egress(&self, id: &str) -> StoreResult<Option<Egress>>;
    /// Writes `egress` if the stored job is still in state `previous`;
    /// `false` if another writer moved it first.
    async fn update_egress(&self, egress: &Egress, previous: EgressState) -> StoreResult<bool>;
    /// Running jobs not updated since `before` (their worker went silent).
    async fn silent_egress(&self, before: DateTime<Utc>) -> StoreResult<Vec<Egress>>;
    /// A call's jobs of one kind, oldest first.
    async fn list_egress(&self, cid: &str, kind: EgressKind) -> StoreResult<Vec<Egress>>;
}
