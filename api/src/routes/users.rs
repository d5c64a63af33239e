//! `PUT /v1/users`: app backends upsert their users.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{ids, User};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Json};
use crate::state::AppState;
use crate::views::UserView;

/// Most users per request.
pub const MAX_USERS: usize = 100;

/// One user to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// User id: 1-128 of letters, digits, `-`, `_`, `@`, `.`.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// Global role (default `user`).
    pub role: Option<String>,
    /// App-defined data (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Value>,
}

/// `PUT /v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertUsersRequest {
    /// Up to 100 users.
    pub users: Vec<UserRequest>,
}

/// `PUT /v1/users` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpsertUsersResponse {
    /// The stored users by id.
    pub users: BTreeMap<String, UserView>,
}

/// Checks that `custom` is absent or a JSON object; returns it (default `{}`).
pub fn custom_object(custom: Option<Value>) -> ApiResult<Value> {
    match custom {
        None => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::invalid(
            "invalid_custom",
            "`custom` must be a JSON object",
        )),
    }
}

/// Create or replace users (server token).
#[utoipa::path(put, path = "/v1/users", tag = "users", request_body = UpsertUsersRequest,
    security(("token" = [])),
    responses((status = 200, body = UpsertUsersResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<UpsertUsersRequest>,
) -> ApiResult<axum::Json<UpsertUsersResponse>> {
    caller.require_server()?;
    if req.users.is_empty() || req.users.len() > MAX_USERS {
        return Err(ApiError::invalid(
            "invalid_users",
            format!("send 1 to {MAX_USERS} users"),
        ));
    }
    let now = chrono::Utc::now();
    let mut users = Vec::with_capacity(req.users.len());
    for u in req.users {
        ids::validate_user_id(&u.id)?;
        let role = u
            .role
            .unwrap_or_else(|| onair_auth::capability::ROLE_USER.to_owned());
        ids::validate("role", &role)?;
        users.push(User {
            custom: custom_object(u.custom)?,
            id: u.id,
            name: u.name,
            image: u.image,
            role,
            created_at: now,
            updated_at: now,
        });
    }
    state.store.upsert_users(&users).await?;
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let stored = state.store.get_users(&ids).await?;
    Ok(axum::Json(UpsertUsersResponse {
        users: stored
            .into_iter()
            .map(|u| (u.id.clone(), UserView::from(u)))
            .collect(),
    }))
}
