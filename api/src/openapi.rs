//! The OpenAPI document, generated from the handlers' annotations so that it
//! cannot drift from them; the router serves it at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    blocks, call_types, calls, connect, custom, devices, events, hls, jobs, join, live, members,
    ops, participants, permissions, recordings, ring, rtmp, users, webhooks,
};

/// OnAir's REST API.
#[derive(OpenApi)]
#[openapi(
    info(title = "OnAir API", description = "Calls, livestreams, members and tokens. \
        Authenticate with `Authorization: Bearer <server or user token>`."),
    paths(
        users::upsert,
        call_types::list, call_types::get, call_types::put,
        calls::create::get_or_create, calls::get, calls::update, calls::delete,
        calls::lifecycle::go_live, calls::lifecycle::stop_live, calls::lifecycle::end,
        join::join,
        members::update, members::list, members::sessions,
        live::participants, participants::update, live::kick_user,
        permissions::request, permissions::update, live::mute_users, blocks::block, blocks::unblock,
        recordings::start_recording, recordings::stop_recording, recordings::list_recordings,
        hls::start_hls, hls::stop_hls, rtmp::add, rtmp::remove, jobs::state_of, jobs::target_of,
        events::list, connect::connect,
        ring::ring, ring::accept, ring::reject, custom::event, custom::reaction,
        devices::add, devices::list, devices::delete,
        webhooks::list, webhooks::put, webhooks::failed, webhooks::redeliver,
        ops::healthz, ops::readyz,
    ),
    components(schemas(crate::error::ErrorBody, crate::domain::CallSettings)),
    modifiers(&BearerToken),
    tags(
        (name = "calls", description = "Call lifecycle: create, go live, join, end"),
        (name = "members", description = "Call members and their roles"),
        (name = "recordings", description = "Recordings of calls and their files"),
        (name = "broadcasts", description = "HLS broadcasts and RTMP pushes of calls"),
        (name = "call types", description = "Call types: settings and role grants"),
        (name = "users", description = "Users"),
        (name = "ringing", description = "Ringing members: ring, accept, reject"),
        (name = "devices", description = "A user's phones, for pushes"),
        (name = "events", description = "What happened: the event log, the app's socket, webhooks"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
