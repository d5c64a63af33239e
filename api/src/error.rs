//! API errors: every failure is JSON `{code, message, details?}` with a
//! fitting status. Nothing a client sends produces a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use onair_auth::{AuthError, Capability};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::lifecycle::LifecycleError;
use crate::domain::InvalidId;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable reason, e.g. `expired`, `missing_capability`, `call_ended`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Extra context (e.g. the missing capability).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// An error answer: status plus [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
#[error("{status} {}: {}", .body.code, .body.message)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                details: None,
            },
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.body.details = Some(details);
        self
    }

    /// 400: the request cannot be read.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 403: the caller lacks a capability.
    pub fn missing(cap: Capability) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "missing_capability",
            format!("this needs the `{cap}` capability"),
        )
        .with_details(serde_json::json!({ "capability": cap.as_str() }))
    }

    /// 403 for anything else the caller may not do.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409: the request conflicts with the call's state.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: the request is well-formed but invalid.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    }
}

impl From<InvalidId> for ApiError {
    fn from(e: InvalidId) -> Self {
        Self::invalid("invalid_id", e.to_string())
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        Self::conflict("call_ended", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The cause goes to the log, not to the client.
        tracing::error!(error = %e, "store failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unavailable; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
