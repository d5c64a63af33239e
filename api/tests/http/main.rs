//! The REST API end to end (router, auth, store, bus), on SQLite and Postgres.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod errors;
mod livestream;
mod participants;
mod placement;
mod recordings;
mod users;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{server_token, user_claims, user_token, App, Backend, KEY, SECRET};
use onair_auth::token::{mint, verify_join};
use onair_auth::{ApiKey, KeySet};
use onair_bus::{Bus, EventKind};
use serde_json::{json, Value};
use tower::ServiceExt;

const LIVE: &str = "/v1/calls/livestream/show";

fn caps(body: &Value) -> Vec<String> {
    body["own_capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn join_grant(body: &Value) -> onair_auth::VideoGrant {
    let keys = KeySet::new([ApiKey::new(KEY, SECRET)]);
    let token = body["credentials"]["token"].as_str().unwrap();
    verify_join(token, &keys, common::now()).unwrap().video
}

async fn create_livestream(app: &App, extra: Value) -> Value {
    let mut data = json!({"members": [{"user_id": "alice", "role": "host"}]});
    onair_api::domain::settings::merge(&mut data, &extra);
    let (status, body) = app.post(LIVE, &server_token(), json!({"data": data})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The next `ParticipantUpdated` on `events`: (identity, attributes, grant).
async fn next_participant_update(
    events: &mut onair_bus::Subscription,
) -> (String, Option<Value>, Option<onair_auth::VideoGrant>) {
    loop {
        if let EventKind::ParticipantUpdated {
            identity,
            attributes,
            grant,
            ..
        } = events.recv().await.unwrap().kind
        {
            return (identity, attributes.map(|a| json!(a)), grant);
        }
    }
}
