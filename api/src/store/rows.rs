//! Flat rows as the database holds them, and their conversion to domain types.

use chrono::{DateTime, Utc};
use onair_auth::Grants;
use serde_json::Value;

use super::StoreError;
use crate::domain::egress::EgressPart;
use crate::domain::{
    Call, CallCid, CallSettings, CallType, Egress, EgressKind, EgressState, Member, Participant,
    Session, User,
};

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

pub(super) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

pub(super) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

pub(super) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A job's parts as stored.
pub(super) fn parts_json(parts: &[EgressPart]) -> String {
    serde_json::to_string(parts).unwrap_or_else(|_| "[]".into())
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    name: Option<String>,
    image: Option<String>,
    role: String,
    custom: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            custom: json::<Value>(&r.custom, "users.custom")?,
            id: r.id,
            name: r.name,
            image: r.image,
            role: r.role,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CallTypeRow {
    name: String,
    grants: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<CallTypeRow> for CallType {
    type Error = StoreError;
    fn try_from(r: CallTypeRow) -> Result<Self, StoreError> {
        Ok(CallType {
            grants: json::<Grants>(&r.grants, "call_types.grants")?,
            settings: json::<CallSettings>(&r.settings, "call_types.settings")?,
            name: r.name,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CallRow {
    call_type: String,
    id: String,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
    starts_at: Option<i64>,
    ended_at: Option<i64>,
    backstage: bool,
    custom: String,
    settings_override: String,
    current_session_id: Option<String>,
}

impl TryFrom<CallRow> for Call {
    type Error = StoreError;
    fn try_from(r: CallRow) -> Result<Self, StoreError> {
        Ok(Call {
            cid: CallCid::new(&r.call_type, &r.id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_by: r.created_by,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
            starts_at: opt_time(r.starts_at)?,
            ended_at: opt_time(r.ended_at)?,
            backstage: r.backstage,
            custom: json(&r.custom, "calls.custom")?,
            settings_override: json(&r.settings_override, "calls.settings_override")?,
            current_session_id: r.current_session_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    call_cid: String,
    user_id: String,
    role: String,
    custom: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> Result<Self, StoreError> {
        Ok(Member {
            custom: json(&r.custom, "members.custom")?,
            call_cid: r.call_cid,
            user_id: r.user_id,
            role: r.role,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    id: String,
    call_cid: String,
    started_at: i64,
    ended_at: Option<i64>,
    live_started_at: Option<i64>,
    live_ended_at: Option<i64>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: r.id,
            call_cid: r.call_cid,
            started_at: time(r.started_at)?,
            ended_at: opt_time(r.ended_at)?,
            live_started_at: opt_time(r.live_started_at)?,
            live_ended_at: opt_time(r.live_ended_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ParticipantRow {
    participant_sid: String,
    call_cid: String,
    session_id: Option<String>,
    user_id: String,
    joined_at: i64,
    left_at: Option<i64>,
}

impl TryFrom<ParticipantRow> for Participant {
    type Error = StoreError;
    fn try_from(r: ParticipantRow) -> Result<Self, StoreError> {
        Ok(Participant {
            participant_sid: r.participant_sid,
            call_cid: r.call_cid,
            session_id: r.session_id,
            user_id: r.user_id,
            joined_at: time(r.joined_at)?,
            left_at: opt_time(r.left_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EgressRow {
    id: String,
    call_cid: String,
    session_id: Option<String>,
    kind: String,
    name: Option<String>,
    preset: String,
    state: String,
    error: Option<String>,
    file: Option<String>,
    size: i64,
    duration_ms: i64,
    parts: String,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<EgressRow> for Egress {
    type Error = StoreError;
    fn try_from(r: EgressRow) -> Result<Self, StoreError> {
        Ok(Egress {
            kind: EgressKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("egress kind {}", r.kind)))?,
            state: EgressState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("egress state {}", r.state)))?,
            id: r.id,
            call_cid: r.call_cid,
            session_id: r.session_id,
            name: r.name,
            preset: r.preset,
            error: r.error,
            file: r.file,
            size: r.size,
            duration_ms: r.duration_ms,
            parts: json(&r.parts, "egress parts")?,
            created_at: time(r.created_at)?,
            started_at: opt_time(r.started_at)?,
            ended_at: opt_time(r.ended_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

/// Converts rows, failing on the first corrupt one.
pub(super) fn convert<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    #[allow(dead_code)] // read by `SELECT *`; only the storing side uses it
    origin_id: String,
    #[sqlx(rename = "type")]
    event_type: String,
    call_cid: String,
    created_at: i64,
    payload: String,
}

impl TryFrom<EventRow> for crate::domain::event::StoredEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.seq,
            payload: json::<Value>(&r.payload, "events.payload")?,
            event_type: r.event_type,
            call_cid: r.call_cid,
            created_at: time(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RingRow {
    pub(super) id: String,
    call_cid: String,
    caller_id: String,
    video: bool,
    state: String,
    ended_reason: Option<String>,
    started_at: i64,
    auto_cancel_at: i64,
    missed_at: i64,
    missed_done: bool,
    accepted_at: Option<i64>,
    ended_at: Option<i64>,
    version: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct CalleeRow {
    user_id: String,
    state: String,
    reason: Option<String>,
    timeout_at: i64,
    answered_at: Option<i64>,
}

impl RingRow {
    pub(super) fn into_ring(
        self,
        callees: Vec<CalleeRow>,
    ) -> Result<crate::domain::ring::Ring, StoreError> {
        use crate::domain::ring::{Callee, CalleeState, Ring, RingState};
        let state = match self.state.as_str() {
            "ringing" => RingState::Ringing,
            "accepted" => RingState::Accepted,
            "ended" => RingState::Ended,
            other => return Err(StoreError::Corrupt(format!("ring state {other}"))),
        };
        let callees = callees
            .into_iter()
            .map(|c| {
                let state = match c.state.as_str() {
                    "ringing" => CalleeState::Ringing,
                    "accepted" => CalleeState::Accepted,
                    "rejected" => CalleeState::Rejected,
                    other => return Err(StoreError::Corrupt(format!("callee state {other}"))),
                };
                Ok(Callee {
                    user_id: c.user_id,
                    state,
                    reason: c.reason,
                    timeout_at: time(c.timeout_at)?,
                    answered_at: opt_time(c.answered_at)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Ring {
            id: self.id,
            call_cid: self.call_cid,
            caller_id: self.caller_id,
            video: self.video,
            state,
            ended_reason: self.ended_reason,
            started_at: time(self.started_at)?,
            auto_cancel_at: time(self.auto_cancel_at)?,
            missed_at: time(self.missed_at)?,
            missed_done: self.missed_done,
            accepted_at: opt_time(self.accepted_at)?,
            ended_at: opt_time(self.ended_at)?,
            version: self.version,
            callees,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeviceRow {
    id: String,
    user_id: String,
    push_provider: String,
    push_provider_name: Option<String>,
    voip: bool,
    created_at: i64,
}

impl DeviceRow {
    pub(super) fn into_device(self) -> Result<super::rings::Device, StoreError> {
        Ok(super::rings::Device {
            id: self.id,
            user_id: self.user_id,
            push_provider: self.push_provider,
            push_provider_name: self.push_provider_name,
            voip: self.voip,
            created_at: time(self.created_at)?,
        })
    }
}
