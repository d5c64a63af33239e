//! HLS broadcasts: start and stop (`{c}/hls/…`); the live playlist's URL
//! is the call's `egress.hls.playlist_url`.

use axum::extract::State;
use axum::http::StatusCode;
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context;
use crate::domain::{Egress, EgressKind};
use crate::egress;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::state::AppState;
use crate::views::HlsView;

/// `POST {c}/hls/start` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartHlsRequest {
    /// `360p`, `720p` or `1080p` (default: the call's recording quality).
    pub preset: Option<String>,
}

/// The view of job `e`, with a signed link to its playlist once it has one.
pub async fn hls_view(state: &AppState, e: Egress) -> HlsView {
    let playlist_url = match e.file.as_deref() {
        Some(f) => Some(state.files.dir_url(f).await),
        None => None,
    };
    HlsView::new(e, playlist_url)
}

/// `{hls}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HlsResponse {
    /// The broadcast.
    pub hls: HlsView,
}

/// Start broadcasting the call over HLS.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/hls/start", tag = "broadcasts", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = StartHlsRequest,
    responses((status = 201, body = HlsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_hls(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<StartHlsRequest>,
) -> ApiResult<(StatusCode, axum::Json<HlsResponse>)> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StartBroadcastCall)?;
    let job = egress::start(&state, &ctx, EgressKind::Hls, req.preset, None).await?;
    let hls = hls_view(&state, job).await;
    Ok((StatusCode::CREATED, axum::Json(HlsResponse { hls })))
}

/// Stop the HLS broadcast; its playlist is closed (`#EXT-X-ENDLIST`).
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/hls/stop", tag = "broadcasts", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = HlsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_hls(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
) -> ApiResult<axum::Json<HlsResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StopBroadcastCall)?;
    let job = egress::stop(&state, &ctx, EgressKind::Hls, None)
        .await?
        .ok_or_else(|| ApiError::not_found("running HLS broadcast"))?;
    Ok(axum::Json(HlsResponse {
        hls: hls_view(&state, job).await,
    }))
}
