//! `/v1/calls/{type}/{id}`: read, update and delete a call. Creating one
//! is in [`create`], its state changes (go live, back to backstage, end)
//! in [`lifecycle`], and the call as answered to clients in [`view`].

pub mod create;
pub mod lifecycle;
pub mod view;

use axum::extract::State;
use chrono::{DateTime, Utc};
use onair_auth::capability::ROLE_ADMIN;
use onair_auth::Capability;
use onair_bus::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use self::view::{call_view, roster};
use super::users::custom_object;
use crate::context;
use crate::domain::event::NewEvent;
use crate::domain::CallCid;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{self, Announce};
use crate::extract::{CallPath, Caller, Json, Query};
use crate::state::AppState;
use crate::store::Write;
use crate::views::{CallView, MemberView};

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

/// Read a call.
#[utoipa::path(get, path = "/v1/calls/{type}/{id}", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path), WatchQuery),
    responses((status = 200, body = GetCallResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Query(watch): Query<WatchQuery>,
) -> ApiResult<axum::Json<GetCallResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::ReadCall)?;
    watch.apply(&state, &cid)?;
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
    let c = &ctx.call;
    let fields = json!({"custom": c.custom, "starts_at": c.starts_at, "settings_override": c.settings_override});
    let updated = NewEvent::new(&cid.to_string(), "call.updated", fields);
    let announce = Announce::bus([EventKind::CallUpdated]).and(updated);
    events::commit(
        &state,
        &cid,
        vec![Write::UpdateCall(ctx.call.clone())],
        announce,
    )
    .await?;
    get(
        State(state),
        caller,
        CallPath(cid),
        Query(WatchQuery::default()),
    )
    .await
}

/// `?connection_id=`: the events socket with that id (on this node) hears
/// the call from now on, as if its user were a member.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// An open events socket's `connection_id`.
    pub connection_id: Option<String>,
}

impl WatchQuery {
    /// Makes the connection watch call `cid`; 404 when it is not open here,
    /// 422 when it watches too many calls.
    pub fn apply(&self, state: &AppState, cid: &CallCid) -> ApiResult<()> {
        let Some(id) = &self.connection_id else {
            return Ok(());
        };
        if !state.events.watches.watch(id, &cid.to_string()) {
            return Err(ApiError::not_found(&format!(
                "open connection `{}` (or it watches too many calls)",
                id.chars().take(64).collect::<String>()
            )));
        }
        Ok(())
    }
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
    let delete = vec![Write::DeleteCall(cid.to_string())];
    events::commit(
        &state,
        &cid,
        delete,
        Announce::bus([EventKind::CallDeleted]),
    )
    .await?;
    tracing::info!(call_cid = %cid, "call deleted");
    Ok(axum::Json(CallResponse { call: view }))
}
