//! Just enough STUN to route a peer's first packet: the USERNAME attribute
//! of a binding request is `<our ufrag>:<their ufrag>`, and we chose our
//! ufrag, so it names the peer without trying every peer's credentials.

use std::ops::Range;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// Our ICE ufrag from a STUN message's USERNAME, or `None` if `packet` is
/// not a STUN message or has no usable USERNAME.
pub fn local_ufrag(packet: &[u8]) -> Option<&str> {
    // RFC 5389: 20-byte header, first two bits zero, magic cookie at 4..8.
    if packet.len() < 20 || packet[0] & 0xC0 != 0 || packet[4..8] != MAGIC_COOKIE {
        return None;
    }
    let len = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    let body = packet.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + alen)?;
        if kind == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next().filter(|u| !u.is_empty());
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// Where [`local_ufrag`] found our ufrag in `packet`: the receive thread
/// reads it once and hands the span on with the datagram.
pub fn local_ufrag_span(packet: &[u8]) -> Option<Range<usize>> {
    let ufrag = local_ufrag(packet)?;
    let start = ufrag.as_ptr() as usize - packet.as_ptr() as usize;
    Some(start..start + ufrag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &[u8]) -> Vec<u8> {
        let padded = username.len().div_ceil(4) * 4;
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&((4 + padded + 8) as u16).to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&[7; 12]);
        // An unrelated attribute first (PRIORITY), then USERNAME.
        p.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        p.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        p.extend_from_slice(&(username.len() as u16).to_be_bytes());
        p.extend_from_slice(username);
        p.resize(p.len() + padded - username.len(), 0);
        p
    }

    #[test]
    fn finds_our_ufrag() {
        assert_eq!(
            local_ufrag(&binding_request(b"abcd1234:zz9")),
            Some("abcd1234")
        );
        assert_eq!(local_ufrag(&binding_request(b"x:y")), Some("x"));
        let packet = binding_request(b"abcd1234:zz9");
        let span = local_ufrag_span(&packet).unwrap();
        assert_eq!(&packet[span], b"abcd1234");
    }

    #[test]
    fn rejects_non_stun_and_garbage() {
        assert_eq!(local_ufrag(&[]), None);
        assert_eq!(local_ufrag(&[0x80; 40]), None); // RTP
        let mut truncated = binding_request(b"abcd:efgh");
        truncated.truncate(30);
        assert_eq!(local_ufrag(&truncated), None);
        let mut bad_len = binding_request(b"abcd:efgh");
        bad_len[3] = 0xff;
        assert_eq!(local_ufrag(&bad_len), None);
        assert_eq!(local_ufrag(&binding_request(b":x")), None);
        assert_eq!(local_ufrag(&binding_request(&[0xff, 0xfe])), None);
    }
}
