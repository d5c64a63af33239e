//! The production store: PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;

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

/// A [`Store`](super::Store) on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: sqlx::PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

// One advisory lock per transaction that stores events: ids commit in
// the order they were taken, so a reader paging by id skips none.
impl_store!(
    PgStore,
    sqlx::Postgres,
    "SELECT pg_advisory_xact_lock(7007)"
);
impl_rings!(PgStore, sqlx::Postgres);
