//! A throwaway certificate authority for TLS tests: a CA and the server
//! certificates it issues, written as PEM files.

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PublicKeyData};
use sha2::Digest;

/// A CA whose certificates a test trusts.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

/// A server certificate on disk.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate, DER (what a client sees).
    pub der: Vec<u8>,
    /// base64(SHA-256(its public key)): what Chromium's
    /// `--ignore-certificate-errors-spki-list` trusts.
    pub spki: String,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1, written to
    /// `dir/cert.pem` and `dir/key.pem` (replacing what was there).
    pub fn issue(&self, dir: &Path) -> Issued {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let issued = Issued {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            der: cert.der().to_vec(),
            spki: base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(key.subject_public_key_info())),
        };
        // Key first: a reload between the two writes sees a mismatch and keeps the old pair.
        std::fs::write(&issued.key, key.serialize_pem()).unwrap();
        std::fs::write(&issued.cert, cert.pem()).unwrap();
        issued
    }
}
