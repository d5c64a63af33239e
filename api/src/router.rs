//! The router: mounts every handler of [`crate::routes`] under `/v1`, the
//! operations routes, and the OpenAPI document with its UI. It sits above
//! the routes and [`crate::openapi`], which never refer back to it.

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::routes::{
    blocks, call_types, calls, connect, custom, devices, events, hls, jobs, join, live, members,
    ops, participants, permissions, recordings, ring, rtmp, users, webhooks,
};
use crate::state::AppState;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The whole `/v1` API plus operations routes, with JSON errors for unknown
/// routes and methods.
pub fn router(state: AppState) -> Router {
    const CALL: &str = "/v1/calls/{type}/{id}";
    let cors = cors(&state.config.cors_origins);
    Router::new()
        .route("/v1/users", put(users::upsert))
        .route("/v1/call-types", get(call_types::list))
        .route("/v1/call-types/{name}", get(call_types::get).put(call_types::put))
        .route(
            CALL,
            post(calls::create::get_or_create)
                .get(calls::get)
                .patch(calls::update)
                .delete(calls::delete),
        )
        .route(&format!("{CALL}/go_live"), post(calls::lifecycle::go_live))
        .route(&format!("{CALL}/stop_live"), post(calls::lifecycle::stop_live))
        .route(&format!("{CALL}/end"), post(calls::lifecycle::end))
        .route(&format!("{CALL}/join"), post(join::join))
        .route(&format!("{CALL}/members"), post(members::update).get(members::list))
        .route(&format!("{CALL}/sessions"), get(members::sessions))
        .route(&format!("{CALL}/participants"), get(live::participants))
        .route(
            &format!("{CALL}/participants/{{identity}}"),
            patch(participants::update),
        )
        .route(&format!("{CALL}/request_permission"), post(permissions::request))
        .route(&format!("{CALL}/user_permissions"), post(permissions::update))
        .route(&format!("{CALL}/event"), post(custom::event))
        .route(&format!("{CALL}/reaction"), post(custom::reaction))
        .route(&format!("{CALL}/ring"), post(ring::ring))
        .route(&format!("{CALL}/accept"), post(ring::accept))
        .route(&format!("{CALL}/reject"), post(ring::reject))
        .route(&format!("{CALL}/kick_user"), post(live::kick_user))
        .route(&format!("{CALL}/mute_users"), post(live::mute_users))
        .route(&format!("{CALL}/block_users"), post(blocks::block))
        .route(&format!("{CALL}/unblock_users"), post(blocks::unblock))
        .route(&format!("{CALL}/recordings/start"), post(recordings::start_recording))
        .route(&format!("{CALL}/recordings/stop"), post(recordings::stop_recording))
        .route(&format!("{CALL}/recordings"), get(recordings::list_recordings))
        .route(&format!("{CALL}/hls/start"), post(hls::start_hls))
        .route(&format!("{CALL}/hls/stop"), post(hls::stop_hls))
        .route(&format!("{CALL}/rtmp_broadcasts"), post(rtmp::add))
        .route(&format!("{CALL}/rtmp_broadcasts/{{name}}"), delete(rtmp::remove))
        .route("/v1/events", get(events::list))
        .route("/v1/devices", post(devices::add).get(devices::list).delete(devices::delete))
        .route("/v1/connect", get(connect::connect))
        .route("/v1/webhooks", get(webhooks::list).put(webhooks::put))
        .route("/v1/webhooks/failed", get(webhooks::failed))
        .route("/v1/webhooks/failed/redeliver", post(webhooks::redeliver))
        .route("/v1/egress/{id}", get(jobs::state_of))
        .route("/v1/egress/{id}/target", get(jobs::target_of))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        // Log the path only: a query may carry a token.
        // 5xx answers are logged as warnings: a draining node's 503s are expected.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::extract::Request| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .with_state(state)
}

/// Which other origins' pages may call the API: the listed ones (`*`:
/// any), with the methods and headers the API uses; tokens travel in
/// `Authorization`, never cookies, so no credentials.
fn cors(origins: &[String]) -> CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    layer.allow_origin(AllowOrigin::list(list))
}
