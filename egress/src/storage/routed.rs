//! [`Routed`]: live output (HLS playlists and segments, under `hls/`) stays
//! in the local directory whose route serves it while it is being written;
//! everything else (finished recordings) goes to the file store.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{LocalDir, Storage, StorageError};

/// Keys under this prefix are live output.
const LIVE: &str = "hls/";

/// Live output local, files in `files`.
pub struct Routed {
    live: Arc<LocalDir>,
    files: Arc<dyn Storage>,
}

impl Routed {
    /// Live output in `live`, everything else in `files`.
    pub fn new(live: Arc<LocalDir>, files: Arc<dyn Storage>) -> Self {
        Self { live, files }
    }

    fn pick(&self, key: &str) -> &dyn Storage {
        if key.starts_with(LIVE) {
            self.live.as_ref()
        } else {
            self.files.as_ref()
        }
    }
}

#[async_trait]
impl Storage for Routed {
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        self.pick(key).local_path(key)
    }

    async fn flush(&self, key: &str) -> Result<(), StorageError> {
        self.pick(key).flush(key).await
    }

    async fn finish(&self, key: &str) -> Result<u64, StorageError> {
        self.pick(key).finish(key).await
    }

    async fn url(&self, key: &str) -> String {
        self.pick(key).url(key).await
    }

    async fn dir_url(&self, key: &str) -> String {
        self.pick(key).dir_url(key).await
    }
}
