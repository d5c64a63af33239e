//! Liveness and readiness, for load balancers and orchestrators: `/healthz`
//! says the process is up, `/readyz` that it can serve (its database
//! answers and it is not draining).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Health answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Health>> {
    state.refuse_if_draining()?;
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
    })?;
    Ok(axum::Json(Health { status: "ok" }))
}
