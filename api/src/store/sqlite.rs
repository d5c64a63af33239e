//! The embedded default store: one SQLite file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::rings::{impl_rings, Device, RingStore};
use super::rows::{
    convert, ms, opt_ms, parts_json, CallRow, CallTypeRow, CalleeRow, DeviceRow, EgressRow,
    EventRow, MemberRow, ParticipantRow, RingRow, SessionRow, UserRow,
};
use super::sql::impl_store;
use super::write::{impl_writes, Write};
use super::{EventFilter, StoreError, StoreResult};
use crate::domain::event::{NewEvent, StoredEvent};
use crate::domain::ring::Ring;
use crate::domain::{
    Call, CallType, Egress, EgressKind, EgressState, Member, Participant, Session, User,
    UserPermissions,
};

/// A [`Store`](super::Store) on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::with_options(options).await
    }

    /// Opens a `sqlite:` URL and migrates it.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

// SQLite runs one writer at a time: event ids commit in order by themselves.
impl_store!(SqliteStore, sqlx::Sqlite, "SELECT 1");
impl_rings!(SqliteStore, sqlx::Sqlite);
