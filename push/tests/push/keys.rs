//! Throwaway keys made with the `openssl` CLI for each test, so no private
//! key is ever committed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An APNs-style signing key: the .p8 the client reads, the public PEM the
/// stand-in verifies with.
pub struct EcKey {
    pub p8_path: PathBuf,
    pub public_pem: Vec<u8>,
}

/// A service-account RSA key.
pub struct RsaKey {
    pub private_pem: String,
    pub public_pem: Vec<u8>,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is needed to make test keys");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A P-256 key in PKCS#8 (Apple's .p8 format) under `dir`.
pub fn ec_key(dir: &Path, name: &str) -> EcKey {
    let raw = dir.join(format!("{name}.ec.pem"));
    let p8_path = dir.join(format!("{name}.p8"));
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        path_str(&raw),
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&raw),
        "-out",
        path_str(&p8_path),
    ]);
    let public_pem = openssl(&["pkey", "-in", path_str(&p8_path), "-pubout"]);
    EcKey {
        p8_path,
        public_pem,
    }
}

/// A 2048-bit RSA key in PKCS#8, as in Google's service-account JSON.
pub fn rsa_key(dir: &Path, name: &str) -> RsaKey {
    let path = dir.join(format!("{name}.rsa.pem"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        path_str(&path),
    ]);
    let public_pem = openssl(&["pkey", "-in", path_str(&path), "-pubout"]);
    let private_pem = std::fs::read_to_string(&path).expect("read the RSA key");
    RsaKey {
        private_pem,
        public_pem,
    }
}

/// Writes a service-account JSON like the one Google's console hands out.
pub fn service_account(
    dir: &Path,
    key: &RsaKey,
    project: &str,
    email: &str,
    token_uri: &str,
) -> PathBuf {
    let path = dir.join("service-account.json");
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": "test-key-1",
        "private_key": key.private_pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    std::fs::write(&path, json.to_string()).expect("write the service account");
    path
}
