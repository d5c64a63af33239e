//! `POST /v1/calls/{type}/{id}`: get a call, creating it when absent (also
//! what `join {create: true}` does).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onair_auth::capability::{capabilities_in_call, ROLE_HOST};
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::view::{call_view, roster};
use crate::context::{self, CallContext};
use crate::domain::event::NewEvent;
use crate::domain::ring::Ring;
use crate::domain::{Call, CallCid, Member};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, OptionalJson, Query};
use crate::routes::members::{members_from, MemberRequest};
use crate::routes::ring::RingView;
use crate::routes::users::custom_object;
use crate::state::AppState;
use crate::store::Write;
use crate::views::{CallView, MemberView};

/// Data of a call being created.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    /// Initial members.
    #[serde(default)]
    pub members: Vec<MemberRequest>,
    /// Scheduled start (RFC 3339).
    pub starts_at: Option<DateTime<Utc>>,
    /// App-defined data.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Value>,
    /// Partial settings on top of the call type's.
    #[schema(value_type = Option<Object>)]
    pub settings_override: Option<Value>,
}

/// `POST {c}` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOrCreateRequest {
    /// Used only when the call is created.
    pub data: Option<CallData>,
    /// Ring the members named in `data.members` (all other members when
    /// none are named): their apps hear `call.ring`, their phones ring.
    #[serde(default)]
    pub ring: bool,
    /// Tell those members of the call without ringing (`call.notification`).
    #[serde(default)]
    pub notify: bool,
    /// A video call, for the ring (default true).
    pub video: Option<bool>,
}

/// `POST {c}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetOrCreateResponse {
    /// The call.
    pub call: CallView,
    /// Its members.
    pub members: Vec<MemberView>,
    /// Whether this request created it.
    pub created: bool,
    /// What the caller may do in it.
    #[schema(value_type = Vec<String>)]
    pub own_capabilities: Vec<Capability>,
    /// The ring this request started (`ring: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring: Option<RingView>,
}

/// Returns call `cid`, creating it from `data` when absent (needs
/// `create-call`). The flag says whether this request created it.
pub async fn get_or_create_call(
    state: &AppState,
    caller: &Caller,
    cid: &CallCid,
    data: CallData,
) -> ApiResult<(CallContext, bool)> {
    context::check_scope(caller, cid)?;
    if let Some(call) = state.store.get_call(&cid.to_string()).await? {
        return Ok((context::with_call(state, caller, call).await?, false));
    }
    let call_type = context::call_type(state, &cid.call_type).await?;
    let settings_override = custom_object(data.settings_override)?;
    let settings = call_type
        .settings
        .merged(&settings_override)
        .map_err(|e| ApiError::invalid("invalid_settings", e.to_string()))?;
    let caps = context::capabilities(state, caller, &call_type, &settings, None).await?;
    if !caps.contains(&Capability::CreateCall) {
        return Err(ApiError::missing(Capability::CreateCall));
    }
    let now = Utc::now();
    let mut members = members_from(cid, data.members, now)?;
    let creator = caller.user().map(|u| u.sub.clone());
    if let Some(me) = &creator {
        // The creator hosts their own call unless the request names them,
        // and the roles they hand out may carry no more than a host's.
        let host = Member {
            call_cid: cid.to_string(),
            user_id: me.clone(),
            role: ROLE_HOST.to_owned(),
            custom: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        };
        let as_host =
            context::capabilities(state, caller, &call_type, &settings, Some(&host)).await?;
        for m in &members {
            let role_caps =
                capabilities_in_call(&call_type.grants, &m.role, None, &settings.gate());
            if let Some(c) = role_caps.iter().find(|c| !as_host.contains(c)) {
                return Err(ApiError::forbidden(
                    "role_exceeds_own_capabilities",
                    format!("role `{}` carries `{c}`, which you do not hold", m.role),
                ));
            }
        }
        if !members.iter().any(|m| &m.user_id == me) {
            members.push(host);
        }
    }
    let call = Call {
        cid: cid.clone(),
        created_by: creator,
        created_at: now,
        updated_at: now,
        starts_at: data.starts_at,
        ended_at: None,
        backstage: settings.backstage.enabled,
        custom: custom_object(data.custom)?,
        settings_override,
        current_session_id: None,
    };
    let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    state.store.ensure_users(&ids, now).await?;
    let created_event = NewEvent::new(
        &cid.to_string(),
        "call.created",
        json!({"created_by": call.created_by, "custom": call.custom, "members": members_json(&members)}),
    );
    let writes = vec![Write::InsertCall(call), Write::UpsertMembers(members)];
    let announce = Announce::bus([EventKind::CallCreated]).and(created_event);
    let created = events::commit(state, cid, writes, announce).await?;
    if created {
        tracing::info!(call_cid = %cid, members = ids.len(), "call created");
    }
    // Lost a creation race: answer with the winner's call.
    Ok((context::load(state, caller, cid).await?, created))
}

/// Get a call, creating it if it does not exist.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path), super::WatchQuery),
    request_body = GetOrCreateRequest,
    responses((status = 201, body = GetOrCreateResponse, description = "created"),
        (status = 200, body = GetOrCreateResponse, description = "already existed"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "unknown call type"), (status = 422, body = ErrorBody)))]
pub async fn get_or_create(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Query(watch): Query<super::WatchQuery>,
    OptionalJson(req): OptionalJson<GetOrCreateRequest>,
) -> ApiResult<(StatusCode, axum::Json<GetOrCreateResponse>)> {
    let data = req.data.unwrap_or_default();
    let named: Vec<String> = data.members.iter().map(|m| m.user_id.clone()).collect();
    let (ctx, created) = get_or_create_call(&state, &caller, &cid, data).await?;
    if !created {
        ctx.require(Capability::ReadCall)?;
    }
    watch.apply(&state, &cid)?;
    let mut ring = None;
    if req.ring || req.notify {
        ring = alert_members(
            &state,
            &caller,
            &ctx,
            &named,
            req.ring,
            req.video.unwrap_or(true),
        )
        .await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(GetOrCreateResponse {
            call: call_view(&state, &ctx).await?,
            members: roster(&state, &ctx, &caller).await?,
            created,
            own_capabilities: ctx.caps,
            ring: ring.as_ref().map(RingView::from),
        }),
    ))
}

/// Members as events list them.
pub(crate) fn members_json(members: &[Member]) -> serde_json::Value {
    members
        .iter()
        .map(|m| json!({"user_id": m.user_id, "role": m.role, "custom": m.custom}))
        .collect()
}

/// Rings (`ring`) or notifies the members `named` (all others when none
/// are) on behalf of the calling user; the ring, if it rang.
async fn alert_members(
    state: &AppState,
    caller: &Caller,
    ctx: &CallContext,
    named: &[String],
    ring: bool,
    video: bool,
) -> ApiResult<Option<Ring>> {
    let Some(me) = caller.user().map(|u| u.sub.as_str()) else {
        let message = "rings and notifications come from a user";
        return Err(ApiError::forbidden("user_token_required", message));
    };
    ctx.require(Capability::RingCall)?;
    if ring {
        let ring = crate::routes::ring::ring_members(state, ctx, me, named, video).await?;
        return Ok(Some(ring));
    }
    let members: Vec<String> = match named {
        [] => state
            .store
            .list_members(&ctx.call.cid.to_string())
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect(),
        named => named.to_vec(),
    };
    let members: Vec<&String> = members.iter().filter(|u| *u != me).collect();
    let fields = json!({"user_id": me, "members": members});
    let event = NewEvent::new(&ctx.call.cid.to_string(), "call.notification", fields);
    events::record(state, &ctx.call.cid, Announce::default().and(event)).await?;
    Ok(None)
}
