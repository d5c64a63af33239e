//! `{c}/members` and `{c}/sessions`, and the members of a call as requests
//! give them (also when a call is created) and as answers show them.

use axum::extract::State;
use chrono::{DateTime, Utc};
use onair_auth::capability::ROLE_CALL_MEMBER;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::users::custom_object;
use crate::context;
use crate::domain::event::NewEvent;
use crate::domain::{ids, CallCid, Member};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json};
use crate::state::AppState;
use crate::store::Write;
use crate::views::{MemberView, SessionView};

/// Most members set in one request.
pub const MAX_MEMBERS: usize = 100;

/// A member to add or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// The user.
    pub user_id: String,
    /// Role in the call (default `call_member`).
    pub role: Option<String>,
    /// App-defined data.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Value>,
}

/// `POST {c}/members` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMembersRequest {
    /// Members to add or change.
    #[serde(default)]
    pub update_members: Vec<MemberRequest>,
    /// User ids to remove.
    #[serde(default)]
    pub remove_members: Vec<String>,
}

/// The call's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersResponse {
    /// Oldest first.
    pub members: Vec<MemberView>,
}

/// The call's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsResponse {
    /// Oldest first.
    pub sessions: Vec<SessionView>,
}

/// The call's members with their users.
pub async fn member_views(state: &AppState, cid: &CallCid) -> ApiResult<Vec<MemberView>> {
    let members = state.store.list_members(&cid.to_string()).await?;
    let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    let mut users = state.store.get_users(&ids).await?;
    Ok(members
        .into_iter()
        .map(|m| {
            let user = users
                .iter()
                .position(|u| u.id == m.user_id)
                .map(|i| users.swap_remove(i));
            MemberView::new(m, user)
        })
        .collect())
}

/// Validated members of `cid` from requests.
pub fn members_from(
    cid: &CallCid,
    reqs: Vec<MemberRequest>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Member>> {
    if reqs.len() > MAX_MEMBERS {
        return Err(ApiError::invalid(
            "too_many_members",
            format!("at most {MAX_MEMBERS} members per request"),
        ));
    }
    reqs.into_iter()
        .map(|m| {
            ids::validate_user_id(&m.user_id)?;
            let role = m.role.unwrap_or_else(|| ROLE_CALL_MEMBER.to_owned());
            ids::validate("role", &role)?;
            Ok(Member {
                call_cid: cid.to_string(),
                user_id: m.user_id,
                role,
                custom: custom_object(m.custom)?,
                created_at: now,
                updated_at: now,
            })
        })
        .collect()
}

/// Add, change or remove members.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/members", tag = "members", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    request_body = UpdateMembersRequest,
    responses((status = 200, body = MembersResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<UpdateMembersRequest>,
) -> ApiResult<axum::Json<MembersResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCallMember)?;
    let now = Utc::now();
    let cid_s = cid.to_string();
    let mut members = members_from(&cid, req.update_members, now)?;
    if req.remove_members.len() > MAX_MEMBERS {
        return Err(ApiError::invalid(
            "too_many_members",
            "too many members to remove",
        ));
    }
    for id in &req.remove_members {
        ids::validate_user_id(id)?;
    }
    let me = caller.user().map(|u| u.sub.as_str());
    let mut added = Vec::new();
    // Keep the first-added time of existing members; nobody hands out, or
    // takes away, a role beyond their own capabilities.
    for m in &mut members {
        let old = state.store.get_member(&cid_s, &m.user_id).await?;
        if !caller.is_server() {
            ctx.require_grantable(&m.role)?;
            if let Some(old) = &old {
                ctx.require_grantable(&old.role)?;
            }
            if me == Some(m.user_id.as_str()) {
                ctx.require(Capability::UpdateCallPermissions)?;
            }
        }
        match old {
            Some(old) => m.created_at = old.created_at,
            None => added.push(m.user_id.clone()),
        }
    }
    if !caller.is_server() {
        for id in &req.remove_members {
            if let Some(old) = state.store.get_member(&cid_s, id).await? {
                ctx.require_grantable(&old.role)?;
            }
        }
    }
    let user_ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    state.store.ensure_users(&user_ids, now).await?;
    let mut announce = Announce::default();
    for m in &members {
        if added.contains(&m.user_id) {
            let fields = json!({"user_id": m.user_id, "role": m.role, "custom": m.custom});
            announce = announce.and(NewEvent::new(&cid_s, "call.member_added", fields));
        }
        announce.bus.push(EventKind::MemberUpdated {
            user_id: m.user_id.clone(),
            role: m.role.clone(),
        });
    }
    for user_id in &req.remove_members {
        announce.bus.push(EventKind::MemberRemoved {
            user_id: user_id.clone(),
        });
    }
    let writes = vec![
        Write::UpsertMembers(members),
        Write::RemoveMembers {
            cid: cid_s.clone(),
            user_ids: req.remove_members.clone(),
        },
    ];
    events::commit(&state, &cid, writes, announce).await?;
    for user_id in user_ids.iter().chain(&req.remove_members) {
        crate::permissions::announce(&state, &ctx, user_id).await?;
    }
    Ok(axum::Json(MembersResponse {
        members: member_views(&state, &cid).await?,
    }))
}

/// List members.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}/members", tag = "members", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MembersResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<MembersResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require_roster(&caller)?;
    Ok(axum::Json(MembersResponse {
        members: member_views(&state, &cid).await?,
    }))
}

/// Session history.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}/sessions", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = SessionsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<SessionsResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require_roster(&caller)?;
    let sessions = state.store.list_sessions(&cid.to_string()).await?;
    Ok(axum::Json(SessionsResponse {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}
