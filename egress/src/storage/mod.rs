//! Where egress output goes. A job writes its file to
//! [`Storage::local_path`] while it runs, hands over what is complete with
//! [`Storage::flush`] as it goes, and the rest with [`Storage::finish`];
//! links to finished files come from [`Storage::url`].
//!
//! - [`LocalDir`]: the embedded default — files stay in the data directory
//!   and are served by its signed `/files` route.
//! - [`S3Storage`]: any S3-compatible store — multipart upload while the
//!   file grows, presigned links.
//! - [`Routed`]: live output (HLS) stays local where its route serves it;
//!   finished files go to the file store.

mod local;
mod routed;
mod s3;

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

pub use local::LocalDir;
pub use routed::Routed;
pub use s3::{S3Config, S3Storage};

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
    /// The object store said no.
    #[error("object store: {0}")]
    Remote(String),
}

/// Where egress output goes.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The local file a job writes `key` to while it runs (its directory exists).
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError>;
    /// Hands over what is written of `key` so far (a remote store uploads
    /// complete parts); the default keeps everything local.
    async fn flush(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
    /// The file of `key` is complete: keep it; returns its size in bytes.
    async fn finish(&self, key: &str) -> Result<u64, StorageError>;
    /// A link to download `key`.
    async fn url(&self, key: &str) -> String;
    /// A link to `key` that also reaches the files next to it by relative
    /// URL (an HLS playlist and its segments).
    async fn dir_url(&self, key: &str) -> String;
}

/// `root/key`, if `key` is a plain relative path (no `..`, no root).
pub(crate) fn resolve(root: &Path, key: &str) -> Result<PathBuf, StorageError> {
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

/// `path`'s size, or a storage error naming it.
pub(crate) async fn file_size(path: &Path) -> Result<u64, StorageError> {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .map_err(|source| StorageError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// Where a job writes `key` under `root`: `root/key`, its directory made.
pub(crate) fn staged(root: &Path, key: &str) -> Result<PathBuf, StorageError> {
    let path = resolve(root, key)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
