//! TLS for the HTTP listener (HTTPS, WSS), RTMPS and TURN, from the PEM files of
//! `[tls]`. The certificate is read again whenever its files change, so a
//! renewal (certbot, cert-manager) needs no restart: new handshakes get
//! the new certificate, open connections keep theirs. A renewal that does
//! not parse is logged and the old certificate stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the files are looked at for a renewal.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// A client must finish its TLS handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: the certificate chain and its key, PEM.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Where RTMPS (OBS's `rtmps://`) listens, with the same certificate.
    pub rtmps_listen: Option<std::net::SocketAddr>,
}

/// The certificate handed to each new handshake.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The certificate of `[tls]`, kept current, for each listener that serves it.
pub struct Tls {
    provider: Arc<CryptoProvider>,
    resolver: Arc<Reloading>,
}

impl Tls {
    /// Loads `config`'s certificate (failing if it does not parse) and
    /// keeps it current.
    pub fn load(config: &TlsConfig) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = load(config, &provider)?;
        let resolver = Arc::new(Reloading {
            current: RwLock::new(Arc::new(key)),
        });
        tokio::spawn(watch(config.clone(), provider.clone(), resolver.clone()));
        Ok(Tls { provider, resolver })
    }

    /// A server config with this certificate, offering `alpn` (none: any client).
    pub fn server_config(&self, alpn: &[&[u8]]) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut server = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(server))
    }

    /// The acceptor of the HTTP listener (HTTP/1.1: WebSockets upgrade over
    /// it) and of RTMPS.
    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        Ok(TlsAcceptor::from(self.server_config(&[b"http/1.1"])?))
    }
}

/// The certificate and key of `config`, ready to sign handshakes.
fn load(config: &TlsConfig, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .with_context(|| format!("reading {}", config.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", config.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", config.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .with_context(|| format!("reading the key {}", config.key.display()))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("the key {} is not usable", config.key.display()))?;
    let key = CertifiedKey::new(certs, signer);
    key.keys_match()
        .context("the key does not belong to the certificate")?;
    Ok(key)
}

/// When `path` last changed.
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the certificate whenever one of its files changes.
async fn watch(config: TlsConfig, provider: Arc<CryptoProvider>, resolver: Arc<Reloading>) {
    let stamp = |c: &TlsConfig| (modified(&c.cert), modified(&c.key));
    let mut seen = stamp(&config);
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let now = stamp(&config);
        if now == seen {
            continue;
        }
        seen = now;
        match load(&config, &provider) {
            Ok(key) => {
                *resolver.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
                tracing::info!(cert = %config.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the renewed TLS certificate was not taken; keeping the old one")
            }
        }
    }
}
