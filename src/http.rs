//! The HTTP listener. axum's own `serve` sets no deadlines; this is hyper
//! with a deadline for reading a request's headers (half a request left
//! open is dropped), a deadline for answering one, and a graceful shutdown
//! that gives open connections a bounded time; over TLS when `[tls]` is
//! set.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::tls::HANDSHAKE_TIMEOUT;

/// A client must send a request's headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request must be answered within this (a WebSocket upgrade or a file
/// download answers at once; their streams are not limited by it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers 408 `{code, message}` for requests not answered in time.
pub async fn deadline(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?REQUEST_TIMEOUT, "request not answered in time");
            metrics::counter!("onair_limit_hits_total", "limit" => "http_request_timeout")
                .increment(1);
            let body = serde_json::json!({
                "code": "request_timeout",
                "message": format!("the request was not answered within {REQUEST_TIMEOUT:?}"),
            });
            (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response()
        }
    }
}

/// Serves `app` on `listener` (through `tls` when given) until `stop`;
/// then closes the listener and gives open connections `grace` to finish
/// before dropping them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()>,
    grace: Duration,
    tls: Option<TlsAcceptor>,
) {
    // HTTP/1 only: its deadlines are the ones set here (cleartext HTTP/2
    // would bring its own, unbounded, connections).
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Small writes (TLS handshake flights, signal messages) go out
                // at once, not after the peer's delayed ACK.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set");
                }
                let (builder, app, watcher) = (builder.clone(), app.clone(), graceful.watcher());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let Some(tls) = tls else {
                        return connection(&builder, watcher, stream, app).await;
                    };
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => connection(&builder, watcher, stream, app).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake not finished in time"),
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "connections still open after the shutdown deadline: closing them");
        }
    }
}

/// Serves one connection (plain or TLS) until it closes or the server's
/// grace period ends.
async fn connection<I>(builder: &Builder<TokioExecutor>, watcher: Watcher, io: I, app: Router)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}
