//! What apps and backends hear of who is in a call's media: each join and
//! leave (with why they left and how long they stayed), and the head count
//! after it, overall and by role. Joins and leaves come from the SFU over
//! the bus; every API node may receive them, and each is stored once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use onair_bus::{Event, EventKind};
use serde_json::json;

use crate::domain::event::NewEvent;
use crate::domain::Participant;
use crate::state::AppState;
use crate::store::{StoreResult, Write};

/// The write and events a join or leave reported by the SFU makes.
pub async fn of(state: &AppState, event: &Event) -> StoreResult<Option<(Write, Vec<NewEvent>)>> {
    let at = Some(event.created_at_ms)
        .filter(|ms| *ms > 0)
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    Ok(match &event.kind {
        EventKind::ParticipantJoined {
            user_id,
            participant_sid,
        } => {
            let p = Participant {
                participant_sid: participant_sid.clone(),
                call_cid: event.call_cid.clone(),
                session_id: None,
                user_id: user_id.clone(),
                joined_at: at,
                left_at: None,
            };
            let mut told: Vec<NewEvent> = super::public::of(event).into_iter().collect();
            let fields = json!({ "participant_sid": participant_sid });
            told.extend(ingress(event, "call.ingress_started", user_id, fields, at));
            Some((Write::ParticipantJoined(p), told))
        }
        EventKind::ParticipantLeft {
            user_id,
            participant_sid,
            reason,
        } => {
            let joined = state.store.get_participant(participant_sid).await?;
            let stayed = joined.map(|p| (at - p.joined_at).num_milliseconds().max(0) as f64 / 1e3);
            let fields = json!({"user_id": user_id, "participant_sid": participant_sid,
                "reason": reason.as_deref().unwrap_or("left"), "duration_seconds": stayed});
            let stopped = fields.clone();
            let mut left = NewEvent::new(&event.call_cid, "call.session_participant_left", fields);
            left.origin_id.clone_from(&event.id);
            left.created_at = at;
            let told = std::iter::once(left)
                .chain(ingress(event, "call.ingress_stopped", user_id, stopped, at))
                .collect();
            let write = Write::ParticipantLeft {
                participant_sid: participant_sid.clone(),
                at,
            };
            Some((write, told))
        }
        _ => None,
    })
}

/// `call.ingress_started` / `_stopped` when `identity` is an ingest (RTMP
/// or WHIP joins as `{user}:ingest`): `fields` with `user_id` the user
/// whose stream it is. Its origin is the join's or leave's own, so it too is stored
/// once however many nodes hear it.
fn ingress(
    event: &Event,
    kind: &str,
    identity: &str,
    mut fields: serde_json::Value,
    at: DateTime<Utc>,
) -> Option<NewEvent> {
    if !identity.ends_with(":ingest") {
        return None;
    }
    fields["user_id"] = json!(crate::domain::ids::owner_of(identity));
    let mut told = NewEvent::new(&event.call_cid, kind, fields);
    told.origin_id = format!("{}/{kind}", event.id);
    told.created_at = at;
    Some(told)
}

/// Who is connected to call `cid` now: how many, and how many per role
/// (a member's role in the call, else `user`).
pub async fn counts(state: &AppState, cid: &str) -> StoreResult<(usize, BTreeMap<String, usize>)> {
    let connected = state.store.connected_participants(cid).await?;
    let members = state.store.list_members(cid).await?;
    let mut by_role = BTreeMap::new();
    for p in &connected {
        let user = crate::domain::ids::owner_of(&p.user_id);
        let role = members
            .iter()
            .find(|m| m.user_id == user)
            .map_or("user", |m| m.role.as_str());
        *by_role.entry(role.to_owned()).or_insert(0) += 1;
    }
    Ok((connected.len(), by_role))
}

/// Stores `call.session_participant_count_updated` for call `cid`.
pub async fn count_changed(state: &AppState, cid: &str) -> StoreResult<()> {
    let (count, by_role) = counts(state, cid).await?;
    let fields = json!({"participants_count": count, "participants_count_by_role": by_role});
    let event = NewEvent::new(cid, "call.session_participant_count_updated", fields);
    super::store(state, Vec::new(), vec![event]).await.map(drop)
}
