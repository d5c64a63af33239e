//! Stream's webhook signature: `X-Signature` is the lowercase hex
//! HMAC-SHA256 of the raw request body, keyed with the API secret. A
//! receiver recomputes it over the bytes it got and compares.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature of `body` with `secret`, as `X-Signature` carries it.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
