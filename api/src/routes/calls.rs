//! `/v1/calls/{type}/{id}`: get-or-create, read, update, delete, go live,
//! back to backstage, end. The transitions themselves are in
//! [`crate::domain::lifecycle`]; this file checks capabilities, persists,
//! and announces changes on the bus.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onair_auth::capability::{capabilities_in_call, ROLE_ADMIN, ROLE_CALL_MEMBER, ROLE_HOST};
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::hls::hls_view;
use super::users::custom_object;
use crate::context::{self, CallContext};
use crate::domain::lifecycle::{self, CallState};
use crate::domain::settings::RecordingMode;
use crate::domain::EgressKind;
use crate::domain::{ids, Call, CallCid, Member};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, Json, OptionalJson};
use crate::state::AppState;
use crate::views::{CallView, EgressStatus, EgressSummary, IngressView, MemberView, RtmpView};

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
}

/// `GET {c}` / `PATCH {c}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetCallResponse {
    /// The call.
    pub call: CallView,
    /// Its members.
    pub members: Vec<MemberView>,
    /// What the caller may do in it.
    #[schema(value_type = Vec<String>)]
    pub own_capabilities: Vec<Capability>,
}

/// Answer of state changes (`go_live`, `stop_live`, `end`, `DELETE`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallResponse {
    /// The call after the change.
    pub call: CallView,
}

/// `PATCH {c}` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCallRequest {
    /// Replaces the call's custom data.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Value>,
    /// New scheduled start.
    pub starts_at: Option<DateTime<Utc>>,
    /// Merged into the call's settings override (needs `update-call-settings`).
    #[schema(value_type = Option<Object>)]
    pub settings_override: Option<Value>,
}

/// The call as answered to clients.
pub async fn call_view(state: &AppState, ctx: &CallContext) -> ApiResult<CallView> {
    let cid = ctx.call.cid.to_string();
    let session = match &ctx.call.current_session_id {
        Some(id) => state.store.get_session(id).await?,
        None => None,
    };
    let count = state.store.count_members(&cid).await?;
    let recording = crate::egress::running(state, &cid, EgressKind::Recording, None)
        .await?
        .map(|e| EgressStatus {
            id: e.id,
            state: e.state,
        });
    let hls = match crate::egress::running(state, &cid, EgressKind::Hls, None).await? {
        Some(e) => Some(hls_view(state, e).await),
        None => None,
    };
    let rtmps = crate::egress::running_all(state, &cid, EgressKind::Rtmp)
        .await?
        .into_iter()
        .map(RtmpView::from)
        .collect();
    Ok(CallView::new(
        ctx.call.clone(),
        ctx.settings.clone(),
        session,
        count,
        EgressSummary {
            recording,
            hls,
            rtmps,
        },
        IngressView::new(
            state.config.rtmp_url.as_deref(),
            state.config.whip_url.as_deref(),
            &cid,
        ),
    ))
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

/// The members the caller may see: all of them, or none on a private call
/// they are not a member of.
pub async fn roster(
    state: &AppState,
    ctx: &CallContext,
    caller: &Caller,
) -> ApiResult<Vec<MemberView>> {
    if !ctx.sees_roster(caller) {
        return Ok(Vec::new());
    }
    member_views(state, &ctx.call.cid).await
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
    let created = state.store.insert_call(&call).await?;
    if created {
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        state.store.ensure_users(&ids, now).await?;
        state.store.upsert_members(&members).await?;
        tracing::info!(call_cid = %cid, members = members.len(), "call created");
        context::publish(state, cid, EventKind::CallCreated).await;
    }
    // Lost a creation race: answer with the winner's call.
    Ok((context::load(state, caller, cid).await?, created))
}

/// Get a call, creating it if it does not exist.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    request_body = GetOrCreateRequest,
    responses((status = 201, body = GetOrCreateResponse, description = "created"),
        (status = 200, body = GetOrCreateResponse, description = "already existed"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "unknown call type"), (status = 422, body = ErrorBody)))]
pub async fn get_or_create(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<GetOrCreateRequest>,
) -> ApiResult<(StatusCode, axum::Json<GetOrCreateResponse>)> {
    let (ctx, created) =
        get_or_create_call(&state, &caller, &cid, req.data.unwrap_or_default()).await?;
    if !created {
        ctx.require(Capability::ReadCall)?;
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
        }),
    ))
}

/// Read a call.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = GetCallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<GetCallResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::ReadCall)?;
    Ok(axum::Json(GetCallResponse {
        call: call_view(&state, &ctx).await?,
        members: roster(&state, &ctx, &caller).await?,
        own_capabilities: ctx.caps,
    }))
}

/// Update a call's custom data, schedule or settings.
#[utoipa::path(patch, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    request_body = UpdateCallRequest,
    responses((status = 200, body = GetCallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<UpdateCallRequest>,
) -> ApiResult<axum::Json<GetCallResponse>> {
    let mut ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCall)?;
    if let Some(custom) = req.custom {
        ctx.call.custom = custom_object(Some(custom))?;
    }
    if let Some(starts_at) = req.starts_at {
        ctx.call.starts_at = Some(starts_at);
    }
    if let Some(patch) = req.settings_override {
        ctx.require(Capability::UpdateCallSettings)?;
        let patch = custom_object(Some(patch))?;
        let mut merged = ctx.call.settings_override.clone();
        crate::domain::settings::merge(&mut merged, &patch);
        ctx.settings = ctx
            .call_type
            .settings
            .merged(&merged)
            .map_err(|e| ApiError::invalid("invalid_settings", e.to_string()))?;
        ctx.call.settings_override = merged;
    }
    ctx.call.updated_at = Utc::now();
    state.store.update_call(&ctx.call).await?;
    context::publish(&state, &cid, EventKind::CallUpdated).await;
    get(State(state), caller, CallPath(cid)).await
}

/// Delete a call with its members and sessions (server token or global role `admin`).
#[utoipa::path(delete, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<CallResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    if !caller.is_server() && context::global_role(&state, &caller).await? != ROLE_ADMIN {
        return Err(ApiError::forbidden(
            "admin_required",
            "deleting a call needs a server token or the global role `admin`",
        ));
    }
    let view = call_view(&state, &ctx).await?;
    state.store.delete_call(&cid.to_string()).await?;
    tracing::info!(call_cid = %cid, "call deleted");
    context::publish(&state, &cid, EventKind::CallDeleted).await;
    Ok(axum::Json(CallResponse { call: view }))
}

/// Leave backstage: everyone who may join now gets the hosts' media.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/go_live", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body(content = GoLiveRequest, description = "optional"),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the call ended")))]
pub async fn go_live(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<GoLiveRequest>,
) -> ApiResult<axum::Json<CallResponse>> {
    set_live(state, caller, cid, true, req).await
}

/// `POST {c}/go_live` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoLiveRequest {
    /// Start recording too (needs `start-record-call`).
    #[serde(default)]
    pub start_recording: bool,
    /// Start HLS too (needs `start-broadcast-call`).
    #[serde(default)]
    pub start_hls: bool,
}

/// Go back to backstage: only `join-backstage` holders publish and are seen.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/stop_live", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the call ended")))]
pub async fn stop_live(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<CallResponse>> {
    set_live(state, caller, cid, false, GoLiveRequest::default()).await
}

async fn set_live(
    state: AppState,
    caller: Caller,
    cid: CallCid,
    live: bool,
    also: GoLiveRequest,
) -> ApiResult<axum::Json<CallResponse>> {
    let mut ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::UpdateCall)?;
    if also.start_recording {
        ctx.require(Capability::StartRecordCall)?;
    }
    if also.start_hls {
        ctx.require(Capability::StartBroadcastCall)?;
    }
    if lifecycle::state(&ctx.call, &ctx.settings) == CallState::Ended {
        return Err(ApiError::conflict(
            "call_ended",
            format!("call `{cid}` has ended"),
        ));
    }
    let now = Utc::now();
    ctx.call.backstage = !live;
    ctx.call.updated_at = now;
    state.store.update_call(&ctx.call).await?;
    if let Some(mut session) = current_open_session(&state, &ctx.call).await? {
        if live {
            session.live_started_at = Some(now);
        } else {
            session.live_ended_at = Some(now);
        }
        state.store.update_session(&session).await?;
    }
    tracing::info!(call_cid = %cid, live, "call live state changed");
    let kind = if live {
        EventKind::LiveStarted
    } else {
        EventKind::LiveStopped
    };
    context::publish(&state, &cid, kind).await;
    let auto = ctx.settings.recording.mode == RecordingMode::AutoOn;
    if live && (also.start_recording || auto) {
        crate::egress::start_by_itself(&state, &ctx, EgressKind::Recording).await?;
    }
    if live && also.start_hls {
        crate::egress::start_by_itself(&state, &ctx, EgressKind::Hls).await?;
    }
    Ok(axum::Json(CallResponse {
        call: call_view(&state, &ctx).await?,
    }))
}

/// End the call: everyone is disconnected; later joins need `join-ended-call`.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/end", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = CallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already ended")))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<CallResponse>> {
    let mut ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::EndCall)?;
    if ctx.call.ended_at.is_some() {
        return Err(ApiError::conflict(
            "call_ended",
            format!("call `{cid}` has ended already"),
        ));
    }
    end_call(&state, &mut ctx.call, None).await?;
    Ok(axum::Json(CallResponse {
        call: call_view(&state, &ctx).await?,
    }))
}

/// Ends `call` and its open session, and tells everyone on the bus
/// (`reason` when it ended by itself).
pub async fn end_call(state: &AppState, call: &mut Call, reason: Option<&str>) -> ApiResult<()> {
    let now = Utc::now();
    call.ended_at = Some(now);
    call.updated_at = now;
    state.store.update_call(call).await?;
    let ended_session = current_open_session(state, call).await?;
    if let Some(mut session) = ended_session.clone() {
        session.ended_at = Some(now);
        state.store.update_session(&session).await?;
    }
    let cid = &call.cid;
    tracing::info!(call_cid = %cid, ?reason, "call ended");
    let reason = reason.map(str::to_owned);
    context::publish(state, cid, EventKind::CallEnded { reason }).await;
    if let Some(session) = ended_session {
        let kind = EventKind::SessionEnded {
            session_id: session.id,
        };
        context::publish(state, cid, kind).await;
    }
    Ok(())
}

/// The call's current session if it has not ended.
pub async fn current_open_session(
    state: &AppState,
    call: &Call,
) -> ApiResult<Option<crate::domain::Session>> {
    let Some(id) = &call.current_session_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_session(id)
        .await?
        .filter(|s| s.ended_at.is_none()))
}
