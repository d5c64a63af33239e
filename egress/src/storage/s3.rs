//! [`S3Storage`]: any S3-compatible store (AWS, MinIO, Ceph, R2…). A job
//! writes its file locally (a fragmented MP4 only grows), each
//! [`Storage::flush`] starts uploading the complete 8 MiB parts of it as a
//! multipart upload, and [`Storage::finish`] sends the rest and completes
//! the upload — so a long recording is mostly uploaded when it ends.
//! Links are presigned GETs.
//!
//! Uploads never hold up a recording: a flush hands the parts to a task of
//! their own (one in flight per file; a flush while one runs is skipped,
//! the next sends what accumulated), and each file has its own lock, so a
//! slow store stalls no other file. A final upload that fails is retried
//! with pauses; if it still fails, the local file is kept and the error
//! says where.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;

use super::{file_size, resolve, staged, Storage, StorageError};

/// Upload part size (S3 wants at least 5 MiB for all parts but the last).
const PART: u64 = 8 * 1024 * 1024;
/// Pauses before retrying a failed final upload.
const FINISH_RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// Where and how to reach the store.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The service URL for S3-compatible stores (`http://127.0.0.1:9000`);
    /// none for AWS itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (`us-east-1` if the store does not care).
    pub region: String,
    /// The bucket recordings go to.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Address buckets in the path (`host/bucket/key`) rather than the host
    /// name; most self-hosted stores want this.
    #[serde(default)]
    pub path_style: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// An upload in progress.
struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
    /// Bytes of the local file already uploaded.
    sent: u64,
}

/// One file's upload (none before its first part), behind its own lock.
type Slot = Arc<Mutex<Option<Upload>>>;

/// Files in an S3 bucket, written locally under `staging` first.
pub struct S3Storage {
    inner: Arc<Inner>,
}

/// What the store and its upload tasks share.
struct Inner {
    client: aws_sdk_s3::Client,
    bucket: String,
    staging: PathBuf,
    link_ttl: Duration,
    uploads: std::sync::Mutex<HashMap<String, Slot>>,
}

fn remote(e: impl std::error::Error) -> StorageError {
    StorageError::Remote(DisplayErrorContext(e).to_string())
}

impl S3Storage {
    /// A store per `config`, staging files under `staging`; links are valid `link_ttl`.
    pub fn new(config: &S3Config, staging: impl Into<PathBuf>, link_ttl: Duration) -> Self {
        let credentials = Credentials::new(
            &config.access_key,
            &config.secret_key,
            None,
            None,
            "onair-config",
        );
        // A store that stops answering must not hold an upload (and the
        // recording's file lock) for ever.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(120))
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let inner = Inner {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            staging: staging.into(),
            link_ttl,
            uploads: std::sync::Mutex::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl Inner {
    /// The upload slot of `key`, made on first use.
    fn slot(&self, key: &str) -> Slot {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        uploads.entry(key.to_owned()).or_default().clone()
    }

    fn forget(&self, key: &str) {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        uploads.remove(key);
    }

    /// Uploads the complete parts of `key` (with `last`, everything left).
    async fn upload(
        &self,
        key: &str,
        state: &mut Option<Upload>,
        last: bool,
    ) -> Result<(), StorageError> {
        let path = resolve(&self.staging, key)?;
        let len = file_size(&path).await?;
        let upload = match state {
            Some(upload) => upload,
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type(content_type(key))
                    .send()
                    .await
                    .map_err(remote)?;
                let id = created
                    .upload_id()
                    .ok_or_else(|| StorageError::Remote("no upload id".into()))?;
                state.insert(Upload {
                    id: id.to_owned(),
                    parts: Vec::new(),
                    sent: 0,
                })
            }
        };
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| StorageError::Io {
                path: path.display().to_string(),
                source,
            })?;
        // An empty file still needs one (empty) part.
        while len - upload.sent >= PART || (last && (len > upload.sent || upload.parts.is_empty()))
        {
            let size = (len - upload.sent).min(PART);
            let mut chunk = vec![0u8; size as usize];
            let read = async {
                file.seek(SeekFrom::Start(upload.sent)).await?;
                file.read_exact(&mut chunk).await
            };
            read.await.map_err(|source| StorageError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let number = upload.parts.len() as i32 + 1;
            let sent = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload.id)
                .part_number(number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(remote)?;
            upload.parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_owned))
                    .build(),
            );
            upload.sent += size;
            tracing::debug!(key, part = number, size, "part uploaded");
        }
        Ok(())
    }

    /// Sends the rest of `key` and completes its upload; its size.
    async fn complete(&self, key: &str, state: &mut Option<Upload>) -> Result<u64, StorageError> {
        self.upload(key, state, true).await?;
        let Some(upload) = state.as_ref() else {
            return Ok(0);
        };
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&upload.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(upload.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(remote)?;
        Ok(upload.sent)
    }

    /// Leaves no half upload behind.
    async fn abort(&self, key: &str, upload: &Upload) {
        let _ = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&upload.id)
            .send()
            .await;
    }
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        _ => "application/octet-stream",
    }
}

#[async_trait]
impl Storage for S3Storage {
    fn local_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        staged(&self.inner.staging, key)
    }

    async fn flush(&self, key: &str) -> Result<(), StorageError> {
        // One upload in flight per file; a flush meanwhile is skipped.
        let Ok(mut state) = self.inner.slot(key).try_lock_owned() else {
            return Ok(());
        };
        let (inner, key) = (self.inner.clone(), key.to_owned());
        tokio::spawn(async move {
            if let Err(e) = inner.upload(&key, &mut state, false).await {
                tracing::warn!(key, error = %e, "upload of a part failed; the next flush retries");
            }
        });
        Ok(())
    }

    async fn finish(&self, key: &str) -> Result<u64, StorageError> {
        let inner = &self.inner;
        let slot = inner.slot(key);
        // Waits for a part still in flight.
        let mut state = slot.lock().await;
        let mut pauses = FINISH_RETRIES.iter();
        let failure = loop {
            match inner.complete(key, &mut state).await {
                Ok(size) => {
                    let path = resolve(&inner.staging, key)?;
                    let _ = tokio::fs::remove_file(&path).await;
                    inner.forget(key);
                    tracing::info!(key, size, bucket = %inner.bucket, "uploaded");
                    return Ok(size);
                }
                Err(e) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(key, error = %e, ?pause, "final upload failed; retrying");
                        tokio::time::sleep(*pause).await;
                    }
                    None => break e,
                },
            }
        };
        if let Some(upload) = state.take() {
            inner.abort(key, &upload).await;
        }
        inner.forget(key);
        let kept = resolve(&inner.staging, key)?;
        let failure = match failure {
            StorageError::Remote(why) => why,
            other => other.to_string(),
        };
        Err(StorageError::Remote(format!(
            "{failure}; the file is kept at {}",
            kept.display()
        )))
    }

    async fn url(&self, key: &str) -> String {
        let presigned = match PresigningConfig::expires_in(self.inner.link_ttl) {
            Ok(config) => {
                self.inner
                    .client
                    .get_object()
                    .bucket(&self.inner.bucket)
                    .key(key)
                    .presigned(config)
                    .await
            }
            Err(e) => {
                tracing::warn!(error = %e, "bad link lifetime");
                return String::new();
            }
        };
        match presigned {
            Ok(request) => request.uri().to_owned(),
            Err(e) => {
                tracing::warn!(key, error = %DisplayErrorContext(e), "presigning failed");
                String::new()
            }
        }
    }

    async fn dir_url(&self, key: &str) -> String {
        // Objects have no directories to share a link with.
        self.url(key).await
    }
}
