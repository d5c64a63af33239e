//! [`S3Storage`]: any S3-compatible store (AWS, MinIO, Ceph, R2…). A job
//! writes its file locally (a fragmented MP4 only grows), each
//! [`Storage::flush`] uploads the complete 8 MiB parts of it as a
//! multipart upload, and [`Storage::finish`] sends the rest and completes
//! the upload — so a long recording is mostly uploaded when it ends.
//! Links are presigned GETs.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
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

/// Files in an S3 bucket, written locally under `staging` first.
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    staging: PathBuf,
    link_ttl: Duration,
    uploads: Mutex<HashMap<String, Upload>>,
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
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            staging: staging.into(),
            link_ttl,
            uploads: Mutex::new(HashMap::new()),
        }
    }

    /// Uploads the complete parts of `key` (with `last`, everything left).
    async fn upload(&self, key: &str, last: bool) -> Result<(), StorageError> {
        let path = resolve(&self.staging, key)?;
        let len = file_size(&path).await?;
        let mut uploads = self.uploads.lock().await;
        if !uploads.contains_key(key) {
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
            let upload = Upload {
                id: id.to_owned(),
                parts: Vec::new(),
                sent: 0,
            };
            uploads.insert(key.to_owned(), upload);
        }
        let Some(upload) = uploads.get_mut(key) else {
            return Ok(());
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
        staged(&self.staging, key)
    }

    async fn flush(&self, key: &str) -> Result<(), StorageError> {
        self.upload(key, false).await
    }

    async fn finish(&self, key: &str) -> Result<u64, StorageError> {
        let uploaded = self.upload(key, true).await;
        let Some(upload) = self.uploads.lock().await.remove(key) else {
            return uploaded.map(|_| 0);
        };
        let completed = match uploaded {
            Ok(()) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload.id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(upload.parts))
                        .build(),
                )
                .send()
                .await
                .map_err(remote),
            Err(e) => Err(e),
        };
        if let Err(e) = completed {
            // Leave no half upload behind (the local file stays).
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload.id)
                .send()
                .await;
            return Err(e);
        }
        let path = resolve(&self.staging, key)?;
        let _ = tokio::fs::remove_file(&path).await;
        tracing::info!(key, size = upload.sent, bucket = %self.bucket, "uploaded");
        Ok(upload.sent)
    }

    async fn url(&self, key: &str) -> String {
        let presigned = match PresigningConfig::expires_in(self.link_ttl) {
            Ok(config) => {
                self.client
                    .get_object()
                    .bucket(&self.bucket)
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
