//! Where egress output goes. A job writes its file to
//! [`Storage::local_path`] while it runs and hands it over with
//! [`Storage::finish`]; links to finished files come from [`Storage::url`].
//!
//! [`LocalDir`] is the embedded default: files stay in a directory and are
//! served by [`LocalDir::router`] at `/files/{token}/{key}`, where the token
//! is a short-lived JWT naming the one file, or one directory (signed with
//! the API key, so links work without a session and reach nothing else).
//! The token sits in the path so that relative URLs inside an HLS playlist
//! carry it to the segments.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use onair_auth::token::{mint, verify_file};
use onair_auth::{ApiKey, FileClaims, KeySet};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A key that is not a plain relative path.
    #[error("invalid storage key `{0}`")]
    BadKey(String),
    /// The filesystem said no.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Where egress output goes.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The local file a job writes `key` to while it runs (its directory exists).
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError>;
    /// The file of `key` is complete: keep it; returns its size in bytes.
    async fn finish(&self, key: &str) -> Result<u64, StorageError>;
    /// A link to download `key`.
    fn url(&self, key: &str) -> String;
    /// A link to `key` that also reaches the files next to it by relative
    /// URL (an HLS playlist and its segments).
    fn dir_url(&self, key: &str) -> String;
}

/// Files in a local directory, served by [`LocalDir::router`].
pub struct LocalDir {
    root: PathBuf,
    base_url: String,
    key: ApiKey,
    link_ttl: Duration,
}

impl LocalDir {
    /// Files under `root`; links start with `base_url` (the HTTP server's
    /// public address) and are signed with `key`, valid for `link_ttl`.
    pub fn new(root: impl Into<PathBuf>, base_url: &str, key: ApiKey, link_ttl: Duration) -> Self {
        Self {
            root: root.into(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            link_ttl,
        }
    }

    /// `GET /files/{token}/{key}`: the file, if the token grants it.
    pub fn router(root: impl Into<PathBuf>, keys: Arc<KeySet>) -> Router {
        let files = Arc::new(FileRoute {
            root: root.into(),
            keys,
        });
        Router::new()
            .route("/files/{token}/{*key}", get(serve))
            .with_state(files)
    }
}

/// `root/key`, if `key` is a plain relative path (no `..`, no root).
fn resolve(root: &Path, key: &str) -> Result<PathBuf, StorageError> {
    let relative = Path::new(key);
    let plain = !key.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(StorageError::BadKey(key.to_owned()));
    }
    Ok(root.join(relative))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[async_trait]
impl Storage for LocalDir {
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let path = resolve(&self.root, key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(path)
    }

    async fn finish(&self, key: &str) -> Result<u64, StorageError> {
        let path = resolve(&self.root, key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|source| StorageError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(meta.len())
    }

    fn url(&self, key: &str) -> String {
        self.link(key, key)
    }

    fn dir_url(&self, key: &str) -> String {
        let dir = key.rsplit_once('/').map_or("", |(dir, _)| dir);
        self.link(&format!("{dir}/"), key)
    }
}

impl LocalDir {
    /// A link to `key` with a token granting `grant`.
    fn link(&self, grant: &str, key: &str) -> String {
        let claims = FileClaims {
            iss: self.key.key.clone(),
            exp: unix_now() + self.link_ttl.as_secs(),
            file: grant.to_owned(),
        };
        let token = mint(&self.key, &claims);
        format!("{}/files/{token}/{key}", self.base_url)
    }
}

/// Does a token for `grant` (a key, or a directory ending in `/`) reach `key`?
fn grants(grant: &str, key: &str) -> bool {
    grant == key || (grant.ends_with('/') && key.starts_with(grant))
}

struct FileRoute {
    root: PathBuf,
    keys: Arc<KeySet>,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = axum::Json(serde_json::json!({"code": code, "message": message}));
    (status, body).into_response()
}

async fn serve(
    State(files): State<Arc<FileRoute>>,
    UrlPath((token, key)): UrlPath<(String, String)>,
    request: Request,
) -> Response {
    match verify_file(&token, &files.keys, unix_now()) {
        Ok(claims) if grants(&claims.file, &key) => {}
        Ok(_) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "wrong_file",
                "the token is for another file",
            )
        }
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.code(), &e.to_string()),
    }
    let Ok(path) = resolve(&files.root, &key) else {
        return refuse(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    if !path.is_file() {
        return refuse(StatusCode::NOT_FOUND, "not_found", "no such file");
    }
    let mut response = match ServeFile::new(path).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    // The token is the access control: players on any origin may fetch.
    response.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_a_file_or_a_directory() {
        assert!(grants("recordings/a/x.mp4", "recordings/a/x.mp4"));
        assert!(!grants("recordings/a/x.mp4", "recordings/a/y.mp4"));
        assert!(grants("hls/a/EG_1/", "hls/a/EG_1/segment00001.ts"));
        assert!(!grants("hls/a/EG_1/", "hls/a/EG_2/index.m3u8"));
        assert!(!grants("hls/a/EG_1", "hls/a/EG_1x/index.m3u8"));
    }

    #[test]
    fn keys_stay_inside_the_root() {
        let root = Path::new("/data");
        assert_eq!(
            resolve(root, "recordings/a/b.mp4").unwrap(),
            Path::new("/data/recordings/a/b.mp4")
        );
        for bad in ["", "../etc/passwd", "/etc/passwd", "a/../../b", "./a"] {
            assert!(resolve(root, bad).is_err(), "{bad}");
        }
    }
}
