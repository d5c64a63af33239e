//! Reading what str0m does not expose from an SDP: which track id
//! (`a=msid:<stream> <track>`) each m-line (`a=mid`) carries (livekit-client
//! announces tracks by that id, `AddTrackRequest.cid`), and the ICE ufrag
//! of our own answer (new after a client's ICE restart).

use std::collections::HashMap;

/// `mid → msid track id` for every m-section that has both.
pub fn msid_tracks(sdp: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut mid = None;
        let mut track = None;
        for line in section.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.trim().to_owned());
            } else if let Some(ids) = line.strip_prefix("a=msid:") {
                track = ids.split_whitespace().nth(1).map(str::to_owned);
            }
        }
        if let (Some(mid), Some(track)) = (mid, track) {
            out.insert(mid, track);
        }
    }
    out
}

/// The first `a=ice-ufrag` of `sdp`.
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_mids_to_tracks() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:stream-a track-a\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=msid:stream-a track-v\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";
        let map = msid_tracks(sdp);
        assert_eq!(map.len(), 2);
        assert_eq!(map["0"], "track-a");
        assert_eq!(map["1"], "track-v");
        assert!(msid_tracks("garbage").is_empty());
    }

    #[test]
    fn finds_the_ice_ufrag() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:Ab12\r\na=ice-pwd:x\r\n";
        assert_eq!(ice_ufrag(sdp), Some("Ab12"));
        assert_eq!(ice_ufrag("garbage"), None);
    }
}
