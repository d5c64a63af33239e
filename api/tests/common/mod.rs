//! Shared set-up of the API tests: a store on SQLite or on a real Postgres,
//! an app around it, and helpers to call it and mint tokens.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use onair_api::store::{PgStore, SqliteStore, Store};
use onair_api::{ApiConfig, AppState, EgressPolicy, IceServer};
use onair_auth::token::mint;
use onair_auth::{ApiKey, KeySet, ServerClaims, UserClaims};
use onair_bus::{Bus, LocalBus};
use serde_json::Value;
use tower::ServiceExt;

pub const KEY: &str = "APItest";
pub const SECRET: &str = "test-secret-test-secret";

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store plus whatever keeps it alive.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn store(backend: Backend) -> TestStore {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("onair.db"))
                .await
                .unwrap();
            TestStore {
                store: Arc::new(store),
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let url = onair_testkit::postgres::database_url();
            let store = PgStore::connect(&url).await.unwrap();
            TestStore {
                store: Arc::new(store),
                _dir: None,
            }
        }
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn key() -> ApiKey {
    ApiKey::new(KEY, SECRET)
}

pub fn server_token() -> String {
    mint(
        &key(),
        &ServerClaims {
            iss: KEY.into(),
            exp: now() + 600,
            iat: Some(now()),
            server: true,
        },
    )
}

pub fn user_claims(user: &str) -> UserClaims {
    UserClaims {
        iss: KEY.into(),
        sub: user.into(),
        exp: now() + 600,
        iat: Some(now()),
        name: None,
        image: None,
        role: None,
        call_cids: None,
    }
}

pub fn user_token(user: &str) -> String {
    mint(&key(), &user_claims(user))
}

/// The API around a fresh store, with the built-in call types.
/// Download links pointing nowhere: the API tests check routes, not files.
struct TestLinks;

#[async_trait::async_trait]
impl onair_api::FileLinks for TestLinks {
    async fn url(&self, key: &str) -> String {
        format!("http://files.invalid/{key}")
    }

    async fn dir_url(&self, key: &str) -> String {
        format!("http://files.invalid/dir/{key}")
    }
}

pub struct App {
    pub state: AppState,
    pub bus: LocalBus,
    _store: TestStore,
}

impl App {
    /// The API with egress allowed to push to local test servers.
    pub async fn new(backend: Backend) -> App {
        let policy = EgressPolicy {
            allow_private_targets: true,
            ..EgressPolicy::default()
        };
        App::with_policy(backend, policy).await
    }

    /// The API with this egress policy.
    pub async fn with_policy(backend: Backend, policy: EgressPolicy) -> App {
        let store = store(backend).await;
        onair_api::seed_call_types(store.store.as_ref())
            .await
            .unwrap();
        let bus = LocalBus::new();
        let state = AppState {
            store: store.store.clone(),
            bus: Arc::new(bus.clone()) as Arc<dyn Bus>,
            keys: Arc::new(KeySet::new([key()])),
            config: Arc::new(ApiConfig {
                signal_url: "ws://127.0.0.1:7880".into(),
                signal_proxy: false,
                ice_servers: vec![IceServer {
                    urls: vec!["stun:127.0.0.1:3478".into()],
                    username: None,
                    password: None,
                }],
                join_token_ttl: Duration::from_secs(3600),
                rtmp_url: Some("rtmp://127.0.0.1:1935/live".into()),
                whip_url: Some("http://127.0.0.1:7880/whip".into()),
                egress: policy,
                cors_origins: vec!["https://app.example".into()],
                webhooks: Default::default(),
                turn: Some(onair_api::TurnOffer {
                    urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
                    secret: b"turn-secret".to_vec(),
                }),
            }),
            files: Arc::new(TestLinks),
            draining: Arc::default(),
            events: Arc::default(),
            ring_timers: Arc::default(),
            pusher: None,
        };
        onair_api::events::reader::spawn(state.clone());
        onair_api::ringing::spawn(state.clone());
        App {
            state,
            bus,
            _store: store,
        }
    }

    /// Sends a request; returns the status and the JSON body (Null if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.raw(req).await
    }

    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = onair_api::router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, json)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
}

/// Runs each listed async test fn `name(Backend)` on SQLite and on Postgres.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
    };
}
