//! livekit-client's `/rtc/v1` carries its join request in the URL:
//! `join_request` is base64url of a `WrappedJoinRequest`, whose
//! `JoinRequest` is gzip'd when the browser can. Decoding it is bounded:
//! a hostile URL cannot make the server inflate more than
//! [`MAX_JOIN_REQUEST`] bytes.

use std::io::Read;

use base64::Engine;
use livekit_protocol as lk;
use lk::wrapped_join_request::Compression;
use prost::Message;

/// The largest join request taken, inflated (an offer with many m-lines
/// is a few tens of KiB).
pub const MAX_JOIN_REQUEST: usize = 256 * 1024;

/// Why a `join_request` parameter was refused (the text is the 400's body).
#[derive(Debug, thiserror::Error)]
pub enum JoinRequestError {
    /// Not base64 (url-safe or standard, padded or not).
    #[error("bad_join_request: not base64url")]
    Base64,
    /// Not a `WrappedJoinRequest`, or an unknown compression.
    #[error("bad_join_request: not a WrappedJoinRequest")]
    Wrapper,
    /// Not gzip, or larger than [`MAX_JOIN_REQUEST`] inflated.
    #[error("bad_join_request: not gzip within {MAX_JOIN_REQUEST} bytes")]
    Gzip,
    /// Not a `JoinRequest`.
    #[error("bad_join_request: not a JoinRequest")]
    Request,
}

/// The join request in a `join_request` query parameter.
pub fn decode(param: &str) -> Result<lk::JoinRequest, JoinRequestError> {
    let text = param.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| JoinRequestError::Base64)?;
    let wrapped =
        lk::WrappedJoinRequest::decode(bytes.as_slice()).map_err(|_| JoinRequestError::Wrapper)?;
    let request = match Compression::try_from(wrapped.compression) {
        Ok(Compression::None) => wrapped.join_request,
        Ok(Compression::Gzip) => inflate(&wrapped.join_request)?,
        Err(_) => return Err(JoinRequestError::Wrapper),
    };
    lk::JoinRequest::decode(request.as_slice()).map_err(|_| JoinRequestError::Request)
}

/// `gzip` inflated, refused past [`MAX_JOIN_REQUEST`].
fn inflate(gzip: &[u8]) -> Result<Vec<u8>, JoinRequestError> {
    let mut out = Vec::new();
    let limit = MAX_JOIN_REQUEST as u64 + 1;
    flate2::read::GzDecoder::new(gzip)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| JoinRequestError::Gzip)?;
    if out.len() > MAX_JOIN_REQUEST {
        return Err(JoinRequestError::Gzip);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn param(join: &lk::JoinRequest, gzip: bool) -> String {
        let mut bytes = join.encode_to_vec();
        if gzip {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&bytes).unwrap();
            bytes = z.finish().unwrap();
        }
        let wrapped = lk::WrappedJoinRequest {
            compression: if gzip { 1 } else { 0 },
            join_request: bytes,
        };
        // As livekit-client writes it: btoa, then `+` → `-`, `/` → `_`.
        let text = base64::engine::general_purpose::STANDARD.encode(wrapped.encode_to_vec());
        text.replace('+', "-").replace('/', "_")
    }

    #[test]
    fn reads_plain_and_gzipped_requests() {
        let join = lk::JoinRequest {
            participant_sid: "PA_x".into(),
            reconnect: true,
            publisher_offer: Some(lk::SessionDescription {
                r#type: "offer".into(),
                sdp: "v=0\r\n".repeat(500),
                id: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        for gzip in [false, true] {
            assert_eq!(decode(&param(&join, gzip)).unwrap(), join);
        }
    }

    #[test]
    fn refuses_what_is_not_a_join_request() {
        assert!(matches!(decode("%%%"), Err(JoinRequestError::Base64)));
        let junk = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff; 8]);
        assert!(matches!(decode(&junk), Err(JoinRequestError::Wrapper)));
        let unknown = lk::WrappedJoinRequest {
            compression: 7,
            join_request: vec![],
        };
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(unknown.encode_to_vec());
        assert!(matches!(decode(&text), Err(JoinRequestError::Wrapper)));
        let not_gzip = lk::WrappedJoinRequest {
            compression: 1,
            join_request: b"plain".to_vec(),
        };
        let text =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(not_gzip.encode_to_vec());
        assert!(matches!(decode(&text), Err(JoinRequestError::Gzip)));
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        // 8 MiB of zeros inflate from a few KiB.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 8 << 20]).unwrap();
        let bomb = lk::WrappedJoinRequest {
            compression: 1,
            join_request: z.finish().unwrap(),
        };
        assert!(bomb.join_request.len() < 64 * 1024);
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bomb.encode_to_vec());
        assert!(matches!(decode(&text), Err(JoinRequestError::Gzip)));
    }
}
