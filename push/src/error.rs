//! Why a [`crate::Pusher`] could not be built. Sending never errors: it
//! returns an [`crate::Outcome`] instead, since the caller acts on that.
//! Messages name files, never key material.

use std::path::PathBuf;

/// A configuration or key problem found at startup.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A key or service-account file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key is not one the provider accepts, or cannot sign.
    #[error("bad key in {path}: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The service-account JSON is malformed or lacks a field.
    #[error("bad service account {path}: {reason}")]
    BadServiceAccount {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A setting is missing or malformed.
    #[error("push config: {0}")]
    Config(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Reads a key file, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, PushError> {
    std::fs::read(path).map_err(|source| PushError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A request error as one line, without the URL (an APNs URL holds the whole
/// device token) but with its causes ("connection refused"…).
pub(crate) fn describe_http(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
