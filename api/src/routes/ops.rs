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

/// How long `/readyz` waits for the database or the bus.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The process can serve: not draining, its database and bus answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Health>> {
    state.refuse_if_draining()?;
    let store = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    if !matches!(store, Ok(Ok(()))) {
        tracing::warn!(answer = ?store.ok(), "not ready: the database");
        return Err(not_ready("the database does not answer"));
    }
    bus_ready(state.bus.as_ref()).await?;
    Ok(axum::Json(Health { status: "ok" }))
}

/// `/readyz` of a node without the API: not draining, its bus answers.
pub async fn node_readyz(
    draining: &std::sync::atomic::AtomicBool,
    bus: &dyn onair_bus::Bus,
) -> ApiResult<axum::Json<Health>> {
    if draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(not_ready("this node is draining"));
    }
    bus_ready(bus).await?;
    Ok(axum::Json(Health { status: "ok" }))
}

async fn bus_ready(bus: &dyn onair_bus::Bus) -> ApiResult<()> {
    let answer = tokio::time::timeout(PING_TIMEOUT, bus.ping()).await;
    if !matches!(answer, Ok(Ok(()))) {
        tracing::warn!(answer = ?answer.ok(), "not ready: the bus");
        return Err(not_ready("the bus (Redis) does not answer"));
    }
    Ok(())
}

fn not_ready(why: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why)
}
