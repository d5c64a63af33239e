//! Benchmark: what a TLS handshake costs `onair serve` with `[tls]`. Clients
//! in this process open a new connection for every request (no keep-alive,
//! no session resumption: a full handshake each time) and GET `/healthz`;
//! the server's CPU time over the run gives handshakes per CPU-second (one
//! core). The reference, in the same run: the same requests over plain HTTP
//! (a new TCP connection each), so the ratio is what TLS adds.
//!
//! `cargo bench --bench tls_handshake`. Tune with `BENCH_SECONDS` (default
//! 5) and `BENCH_CONCURRENCY` (default 8).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cpu_seconds, env_or, Server};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A client that makes a new connection (and a full handshake) per request.
fn fresh_connections(cert_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(0);
    if let Some(pem) = cert_pem {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.resumption = rustls::client::Resumption::disabled();
        builder = builder.use_preconfigured_tls(tls);
    }
    builder.build().unwrap()
}

/// Requests (each on a new connection) per second and per server
/// CPU-second against `server`.
async fn measure(label: &str, server: &Server, client: reqwest::Client) -> f64 {
    server.ready(&client).await;
    let seconds = env_or("BENCH_SECONDS", 5);
    let concurrency = env_or("BENCH_CONCURRENCY", 8);
    let done = Arc::new(AtomicU64::new(0));
    let cpu = cpu_seconds(server.pid());
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, done) = (
            client.clone(),
            format!("{}/healthz", server.url),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid()) - cpu;
    let n = done.load(Ordering::Relaxed) as f64;
    let per_core = n / cpu.max(1e-9);
    println!(
        "{label:>5}: {:>7.0} connections/s, server CPU {:.2} s for {n:.0}: {per_core:>7.0} per CPU-second",
        n / elapsed,
        cpu
    );
    per_core
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    println!("GET /healthz on a new connection each time, ECDSA P-256 certificate, TLS 1.3, release build, loopback");
    let tls = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert_path.display(),
        key_path.display()
    );
    let secure = Server::start(dir.path(), &sqlite, &tls);
    let handshakes = measure("TLS", &secure, fresh_connections(Some(&ca_cert.pem()))).await;
    drop(secure);
    let plain = Server::start(dir.path(), &sqlite, "");
    let connections = measure("plain", &plain, fresh_connections(None)).await;
    println!(
        "tls_handshake: handshakes_per_core={handshakes:.0} plain_ratio={:.2}",
        handshakes / connections
    );
}
