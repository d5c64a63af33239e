//! Request extractors that answer bad input with [`ApiError`] JSON:
//! a JSON body, the caller's token, and the call path.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use onair_auth::token::verify_api;
use onair_auth::{AuthError, UserClaims, Verified};
use serde::de::DeserializeOwned;

use crate::domain::CallCid;
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; syntax errors are 400, schema errors 422, wrong type 415, too big 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::invalid("invalid_body", text),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", text),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", text)
        }
        _ => ApiError::bad_request("unreadable_body", text),
    }
}

/// A query string; anything it cannot be read as is 422.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(ApiError::invalid("invalid_query", rejection.body_text())),
        }
    }
}

/// Verifies an API token (server or user) as of now; the reason of a
/// refusal is logged, never the token.
pub fn verify(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let verified = verify_api(token, &state.keys, now).inspect_err(|e| {
        tracing::info!(reason = e.code(), "token refused");
    })?;
    Ok(Caller(verified))
}

/// Who is calling: a verified server or user token.
#[derive(Clone, Debug)]
pub struct Caller(pub Verified);

impl Caller {
    /// The user, or `None` for a server token.
    pub fn user(&self) -> Option<&UserClaims> {
        match &self.0 {
            Verified::User(u) => Some(u),
            Verified::Server(_) => None,
        }
    }

    /// True for a server token.
    pub fn is_server(&self) -> bool {
        matches!(self.0, Verified::Server(_))
    }

    /// Refuses anything but a server token.
    pub fn require_server(&self) -> Result<(), ApiError> {
        if self.is_server() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "server_token_required",
                "this needs a server token",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        verify(state, token)
    }
}

/// The token from `Authorization: Bearer …` (or a bare `Authorization` value,
/// as Stream's SDKs send it). Never from the query: tokens in URLs end up in
/// proxy and access logs.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value);
    Some(token.trim()).filter(|t| !t.is_empty())
}

/// The `{type}/{id}` of a call route, validated.
pub struct CallPath(pub CallCid);

impl<S: Send + Sync> FromRequestParts<S> for CallPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let param = |k: &str| params.get(k).map_or("", String::as_str);
        Ok(CallPath(CallCid::new(param("type"), param("id"))?))
    }
}

/// The `{name}` of a route under a call (an RTMP target), unvalidated.
pub struct NamePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        Ok(NamePath(params.get("name").cloned().unwrap_or_default()))
    }
}

async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let Path(params) =
        Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(path_rejection)?;
    Ok(params)
}

/// The `{identity}` of a participant route, unvalidated.
pub struct IdentityPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdentityPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        Ok(IdentityPath(
            params.get("identity").cloned().unwrap_or_default(),
        ))
    }
}

/// A single path segment (call type name, recording id…), unvalidated.
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(s) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(path_rejection)?;
        Ok(Segment(s))
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::invalid("invalid_path", rejection.body_text())
}

/// A JSON body that may be left out entirely (an empty body, with or
/// without a content type, or `null`): then `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        rejection.body_text(),
                    )
                } else {
                    ApiError::bad_request("unreadable_body", rejection.body_text())
                }
            })?;
        let text = bytes.trim_ascii();
        if text.is_empty() || text == b"null" {
            return Ok(OptionalJson(T::default()));
        }
        let mut req = Request::new(axum::body::Body::from(bytes));
        *req.headers_mut() = headers;
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(OptionalJson(v))
    }
}
