//! The sockets a node listens on, bound before anything starts (a port in
//! use fails the start, not a request later), and the addresses they make.
//!
//! With `[tls]`, the HTTP listener speaks HTTPS and WSS only; this node's
//! own roles (an egress recorder joining the SFU here, ingest checking a
//! stream key with the API here) then reach it through a plain listener on
//! loopback, so they need neither the certificate's name nor its CA.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// What a node listens on.
pub struct Listeners {
    /// The API, the SFU's signal, files, `/metrics`: HTTP, or HTTPS with `[tls]`.
    pub http: TcpListener,
    /// With `[tls]`: plain HTTP on loopback for this node's own roles.
    pub internal: Option<TcpListener>,
    /// RTMP ingest (OBS), on nodes that run ingest.
    pub rtmp: Option<TcpListener>,
    /// RTMPS ingest, with `[tls] rtmps_listen` on nodes that run ingest.
    pub rtmps: Option<TcpListener>,
    /// The TLS of `http` and `rtmps`.
    pub tls: Option<TlsAcceptor>,
    /// The certificate, for other TLS listeners (TURN).
    pub certificate: Option<crate::tls::Tls>,
}

impl Listeners {
    /// Binds what `config` asks (RTMP and RTMPS only when `ingest`).
    pub async fn bind(config: &Config, ingest: bool) -> anyhow::Result<Self> {
        let certificate = config.tls.as_ref().map(crate::tls::Tls::load).transpose()?;
        let tls = certificate.as_ref().map(|c| c.acceptor()).transpose()?;
        let http = bind(config.listen, "listen").await?;
        let internal = match tls {
            Some(_) => Some(bind(([127, 0, 0, 1], 0).into(), "the internal listener").await?),
            None => None,
        };
        let rtmp = match ingest {
            true => Some(bind(config.rtmp_listen, "rtmp_listen").await?),
            false => None,
        };
        let rtmps = match (ingest, config.tls.as_ref().and_then(|t| t.rtmps_listen)) {
            (true, Some(addr)) => Some(bind(addr, "[tls] rtmps_listen").await?),
            _ => None,
        };
        Ok(Listeners {
            http,
            internal,
            rtmp,
            rtmps,
            tls,
            certificate,
        })
    }

    /// The HTTP listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
    }

    /// `https`/`wss` with TLS, else `http`/`ws`.
    pub fn schemes(&self) -> (&'static str, &'static str) {
        match self.tls {
            Some(_) => ("https", "wss"),
            None => ("http", "ws"),
        }
    }

    /// Where this node's own roles reach its HTTP (`http://…`).
    pub fn internal_url(&self) -> String {
        let addr = match &self.internal {
            Some(internal) => internal.local_addr().unwrap_or_else(|_| self.addr()),
            None => self.addr(),
        };
        format!("http://{addr}")
    }

    /// The ingest address OBS is told: RTMPS when it listens, else RTMP.
    pub fn rtmp_url(&self) -> Option<String> {
        let (scheme, listener) = match (&self.rtmps, &self.rtmp) {
            (Some(rtmps), _) => ("rtmps", rtmps),
            (None, Some(rtmp)) => ("rtmp", rtmp),
            (None, None) => return None,
        };
        let addr = listener.local_addr().ok()?;
        Some(format!("{scheme}://{addr}/live"))
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} ({what})"))
}
