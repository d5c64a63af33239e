//! `/v1/call-types`: read and change call types and their grants.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::Utc;
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::context;
use crate::domain::{ids, CallSettings, CallType};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Json, Segment};
use crate::state::AppState;
use crate::views::CallTypeView;

/// All call types.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListCallTypesResponse {
    /// By name.
    pub call_types: Vec<CallTypeView>,
}

/// `PUT /v1/call-types/{name}` body. Given grants replace those roles'
/// grants; given settings are merged on top of the current ones (or the
/// defaults, for a new type).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCallTypeRequest {
    /// Role → capabilities.
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    pub grants: Option<BTreeMap<String, Vec<Capability>>>,
    /// Partial settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// List call types (any valid token).
#[utoipa::path(get, path = "/v1/call-types", tag = "call types", security(("token" = [])),
    responses((status = 200, body = ListCallTypesResponse), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<axum::Json<ListCallTypesResponse>> {
    let types = state.store.list_call_types().await?;
    Ok(axum::Json(ListCallTypesResponse {
        call_types: types.into_iter().map(CallTypeView::from).collect(),
    }))
}

/// Read one call type (any valid token).
#[utoipa::path(get, path = "/v1/call-types/{name}", tag = "call types", security(("token" = [])),
    params(("name" = String, Path, description = "call type name")),
    responses((status = 200, body = CallTypeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Segment(name): Segment,
) -> ApiResult<axum::Json<CallTypeView>> {
    ids::validate("call type", &name)?;
    Ok(axum::Json(context::call_type(&state, &name).await?.into()))
}

/// Create or change a call type (server token).
#[utoipa::path(put, path = "/v1/call-types/{name}", tag = "call types", security(("token" = [])),
    params(("name" = String, Path, description = "call type name")),
    request_body = PutCallTypeRequest,
    responses((status = 200, body = CallTypeView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Segment(name): Segment,
    Json(req): Json<PutCallTypeRequest>,
) -> ApiResult<axum::Json<CallTypeView>> {
    caller.require_server()?;
    ids::validate("call type", &name)?;
    let now = Utc::now();
    let mut call_type = state
        .store
        .get_call_type(&name)
        .await?
        .unwrap_or_else(|| CallType {
            name: name.clone(),
            grants: Default::default(),
            settings: CallSettings::default(),
            created_at: now,
            updated_at: now,
        });
    if let Some(grants) = req.grants {
        for (role, caps) in grants {
            ids::validate("role", &role)?;
            call_type.grants.insert(role, caps.into_iter().collect());
        }
    }
    if let Some(patch) = req.settings {
        call_type.settings = call_type
            .settings
            .merged(&patch)
            .map_err(|e| ApiError::invalid("invalid_settings", e.to_string()))?;
    }
    call_type.updated_at = now;
    state.store.put_call_type(&call_type).await?;
    Ok(axum::Json(context::call_type(&state, &name).await?.into()))
}
