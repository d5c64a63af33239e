//! [`LocalDir`]: files in a local directory, served at
//! `/files/{token}/{key}`. The token is a short-lived JWT naming the one
//! file, or one directory (signed with the API key, so links work without a
//! session and reach nothing else). It sits in the path so that relative
//! URLs inside an HLS playlist carry it to the segments. A live broadcast
//! outlives its token: a directory's link stays valid while its playlist
//! is still being written, and `link_ttl` after it last was.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use onair_auth::token::{mint, verify_file};
use onair_auth::{ApiKey, AuthError, FileClaims, KeySet};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::{file_size, resolve, staged, Storage, StorageError};

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

    /// `GET /files/{token}/{key}`: the file, if the token grants it
    /// (links of live HLS directories: while live, and `link_ttl` after).
    pub fn router(root: impl Into<PathBuf>, keys: Arc<KeySet>, link_ttl: Duration) -> Router {
        let files = Arc::new(FileRoute {
            root: root.into(),
            keys,
            link_ttl,
        });
        Router::new()
            .route("/files/{token}/{*key}", get(serve))
            .with_state(files)
    }
}

#[async_trait]
impl Storage for LocalDir {
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        staged(&self.root, key)
    }

    async fn finish(&self, key: &str) -> Result<u64, StorageError> {
        file_size(&resolve(&self.root, key)?).await
    }

    async fn url(&self, key: &str) -> String {
        self.link(key, key)
    }

    async fn dir_url(&self, key: &str) -> String {
        let dir = key.rsplit_once('/').map_or("", |(dir, _)| dir);
        self.link(&format!("{dir}/"), key)
    }
}

impl LocalDir {
    /// A link to `key` with a token granting `grant`.
    fn link(&self, grant: &str, key: &str) -> String {
        let claims = FileClaims {
            iss: self.key.key.clone(),
            exp: onair_auth::clock::unix_secs() + self.link_ttl.as_secs(),
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
    link_ttl: Duration,
}

impl FileRoute {
    /// The claims of `token` if it grants access now: unexpired, or a
    /// directory whose playlist was written within `link_ttl`.
    fn claims(&self, token: &str) -> Result<FileClaims, AuthError> {
        let now = onair_auth::clock::unix_secs();
        match verify_file(token, &self.keys, now) {
            Err(AuthError::Expired) => {
                // Signature and shape still checked; only the time is not.
                let claims = verify_file(token, &self.keys, 0)?;
                let written = playlist_written(&self.root, &claims.file);
                let live = written.is_some_and(|t| t + self.link_ttl.as_secs() > now);
                if live && claims.file.ends_with('/') {
                    Ok(claims)
                } else {
                    Err(AuthError::Expired)
                }
            }
            other => other,
        }
    }
}

/// When a playlist in directory `dir` (a key ending in `/`) was last
/// written, in seconds since the epoch.
fn playlist_written(root: &std::path::Path, dir: &str) -> Option<u64> {
    let dir = resolve(root, dir.trim_end_matches('/')).ok()?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "m3u8"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .max()
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
    match files.claims(&token) {
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
    if !plain_file(&files.root, &key) {
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

/// Whether `root/key` is a regular file reached without a symbolic link:
/// a link planted in the data dir must not expose what it points to.
fn plain_file(root: &std::path::Path, key: &str) -> bool {
    let mut path = root.to_path_buf();
    let mut last = None;
    for part in std::path::Path::new(key).components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.file_type().is_symlink() => last = Some(meta),
            _ => return false,
        }
    }
    last.is_some_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("recordings")).unwrap();
        std::fs::write(root.join("recordings/a.mp4"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("recordings/b.mp4"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        assert!(plain_file(&root, "recordings/a.mp4"));
        assert!(!plain_file(&root, "recordings/b.mp4"));
        assert!(!plain_file(&root, "up/secret"));
        assert!(!plain_file(&root, "recordings"));
        assert!(!plain_file(&root, "recordings/none.mp4"));
    }

    #[test]
    fn tokens_grant_a_file_or_a_directory() {
        assert!(grants("recordings/a/x.mp4", "recordings/a/x.mp4"));
        assert!(!grants("recordings/a/x.mp4", "recordings/a/y.mp4"));
        assert!(grants("hls/a/EG_1/", "hls/a/EG_1/segment00001.ts"));
        assert!(!grants("hls/a/EG_1/", "hls/a/EG_2/index.m3u8"));
        assert!(!grants("hls/a/EG_1", "hls/a/EG_1x/index.m3u8"));
    }
}
