//! A user's phones (`/v1/devices`): where pushes for rings, cancelled
//! rings and missed calls go. Only the user's own devices, with a user
//! token.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Json, Query};
use crate::routes::live::Done;
use crate::state::AppState;
use crate::store::Device;

/// Devices one user may register.
pub const MAX_DEVICES: usize = 20;
/// Longest device token.
const MAX_TOKEN: usize = 512;

/// `POST /v1/devices` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// The provider's token for the app on this device.
    pub id: String,
    /// `apn` or `firebase`.
    pub push_provider: String,
    /// Which configured provider, for apps with several.
    pub push_provider_name: Option<String>,
    /// An APNs VoIP (PushKit) token: rings arrive as VoIP pushes.
    #[serde(default)]
    pub voip_token: bool,
}

/// A device as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Its token.
    pub id: String,
    /// `apn` or `firebase`.
    pub push_provider: String,
    /// Which configured provider.
    pub push_provider_name: Option<String>,
    /// A VoIP token.
    pub voip: bool,
    /// When it was registered.
    pub created_at: chrono::DateTime<Utc>,
}

/// `GET /v1/devices` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicesResponse {
    /// The user's devices, oldest first.
    pub devices: Vec<DeviceView>,
}

/// `DELETE /v1/devices?id=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteDeviceQuery {
    /// The device's token.
    pub id: String,
}

fn user(caller: &Caller) -> ApiResult<String> {
    caller
        .user()
        .map(|u| u.sub.clone())
        .ok_or_else(|| ApiError::forbidden("user_token_required", "devices belong to users"))
}

/// Register one of the user's devices (again: it moves to this user).
#[utoipa::path(post, path = "/v1/devices", tag = "devices", security(("token" = [])),
    request_body = DeviceRequest,
    responses((status = 201, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<DeviceRequest>,
) -> ApiResult<(StatusCode, axum::Json<Done>)> {
    let user_id = user(&caller)?;
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if req.id.is_empty() || req.id.len() > MAX_TOKEN || !printable(&req.id) {
        return Err(ApiError::invalid(
            "invalid_id",
            "id is 1 to 512 printable characters",
        ));
    }
    if !["apn", "firebase"].contains(&req.push_provider.as_str()) {
        return Err(ApiError::invalid(
            "invalid_push_provider",
            "push_provider is apn or firebase",
        ));
    }
    if req.voip_token && req.push_provider != "apn" {
        return Err(ApiError::invalid(
            "invalid_voip_token",
            "VoIP tokens are APNs tokens",
        ));
    }
    if req
        .push_provider_name
        .as_ref()
        .is_some_and(|n| n.len() > 64)
    {
        return Err(ApiError::invalid(
            "invalid_push_provider_name",
            "at most 64 bytes",
        ));
    }
    let mine = state.store.devices(&user_id).await?;
    if mine.len() >= MAX_DEVICES && !mine.iter().any(|d| d.id == req.id) {
        return Err(ApiError::invalid(
            "too_many_devices",
            "at most 20 devices per user",
        ));
    }
    let device = Device {
        id: req.id,
        user_id,
        push_provider: req.push_provider,
        push_provider_name: req.push_provider_name,
        voip: req.voip_token,
        created_at: Utc::now(),
    };
    state.store.put_device(&device).await?;
    Ok((StatusCode::CREATED, axum::Json(Done { ok: true })))
}

/// The user's devices.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("token" = [])),
    responses((status = 200, body = DevicesResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<DevicesResponse>> {
    let user_id = user(&caller)?;
    let devices = state.store.devices(&user_id).await?;
    Ok(axum::Json(DevicesResponse {
        devices: devices
            .into_iter()
            .map(|d| DeviceView {
                id: d.id,
                push_provider: d.push_provider,
                push_provider_name: d.push_provider_name,
                voip: d.voip,
                created_at: d.created_at,
            })
            .collect(),
    }))
}

/// Forget one of the user's devices.
#[utoipa::path(delete, path = "/v1/devices", tag = "devices", security(("token" = [])),
    params(DeleteDeviceQuery),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<DeleteDeviceQuery>,
) -> ApiResult<axum::Json<Done>> {
    let user_id = user(&caller)?;
    if !state.store.delete_device(&user_id, &q.id).await? {
        return Err(ApiError::not_found("device"));
    }
    Ok(axum::Json(Done { ok: true }))
}
