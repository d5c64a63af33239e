//! The probes of issue 10, run against the real binary: join tokens that
//! outlive kicks, blocks and ends; a room state taken from a token; full
//! calls; clients that flood, hoard or stop reading; tokens in logs;
//! private files; the dev token route under DNS rebinding; weak secrets.
//! The REST side (token kinds, self-promotion, who reads what, push
//! targets) is in `api/tests/access.rs`.

#[path = "../support/mod.rs"]
mod support;

mod clients;
mod secrets;
mod shutdown;
mod store;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use onair_auth::token::verify_join;
use onair_auth::{ApiKey, KeySet};
use onair_client::{api, Client};
use reqwest::Method;
use serde_json::json;
use support::call::{camera, Call};
use support::signal::{self, is_leave, Opened};

const WAIT: Duration = Duration::from_secs(20);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn api(
    call: &Call,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (status, body) = call.api(method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

/// The dev key pair `onair dev` keeps in its data dir.
fn dev_key(data: &Path) -> ApiKey {
    let text = std::fs::read_to_string(data.join("keys.toml")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.split('"').nth(1))
            .unwrap()
            .to_owned()
    };
    ApiKey::new(field("key"), field("secret"))
}
