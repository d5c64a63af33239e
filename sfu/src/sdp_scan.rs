//! Reading what str0m does not expose from an SDP: which track id
//! (`a=msid:<stream> <track>`) each m-line (`a=mid`) carries (livekit-client
//! announces tracks by that id, `AddTrackRequest.cid`), and the ICE ufrag
//! of our own answer (new after a client's ICE restart), and the m-lines a
//! one-connection client receives on. And two edits: the codec a track
//! asked for goes first on its m-line of a publisher's offer, so the
//! answer makes the browser send it (livekit-client leaves that choice to
//! the server, as LiveKit's server makes it); and the msid of an m-line of
//! our answer names the track it carries.

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

/// `sdp` with the payload types of `codec` (e.g. `h264`, any case) moved
/// to the front of m-line `mid`'s format list; unchanged when that m-line
/// or codec is not there.
pub fn prefer_codec(sdp: &str, mid: &str, codec: &str) -> String {
    let mut sections: Vec<String> = sdp.split("\nm=").map(str::to_owned).collect();
    for section in sections.iter_mut().skip(1) {
        let lines: Vec<&str> = section.lines().map(|l| l.trim_end_matches('\r')).collect();
        if !lines
            .iter()
            .any(|l| l.strip_prefix("a=mid:").map(str::trim) == Some(mid))
        {
            continue;
        }
        let wanted: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|m| m.split_once(' '))
            .filter(|(_, name)| {
                name.split('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(codec))
            })
            .map(|(pt, _)| pt)
            .collect();
        // `m=` was split off: the first line is `video 9 UDP/TLS/RTP/SAVPF 96 97 …`.
        let mut fields = lines[0].split(' ');
        let head: Vec<&str> = fields.by_ref().take(3).collect();
        let pts: Vec<&str> = fields.collect();
        if head.len() < 3 || wanted.is_empty() {
            continue;
        }
        let first = pts.iter().filter(|pt| wanted.contains(pt));
        let rest = pts.iter().filter(|pt| !wanted.contains(pt));
        let reordered: Vec<&str> = head.into_iter().chain(first.chain(rest).copied()).collect();
        let ending = if section.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let mut out = reordered.join(" ");
        for line in &lines[1..] {
            out.push_str(ending);
            out.push_str(line);
        }
        // What ended the section (`\r` before the next `\nm=`, or `\r\n`).
        let body = section.trim_end_matches(['\r', '\n']);
        out.push_str(&section[body.len()..]);
        *section = out;
    }
    sections.join("\nm=")
}

/// The codec m-line `mid` of an answer settles on (its first payload
/// type): the `a=rtpmap` name and clock rate, e.g. `("H264", 90000)`.
pub fn first_codec<'s>(sdp: &'s str, mid: &str) -> Option<(&'s str, u32)> {
    let section = sdp.split("\nm=").skip(1).find(|section| {
        section.lines().any(|l| {
            l.trim_end_matches('\r')
                .strip_prefix("a=mid:")
                .map(str::trim)
                == Some(mid)
        })
    })?;
    let pt = section
        .lines()
        .next()?
        .split(' ')
        .nth(3)?
        .trim_end_matches('\r');
    let rtpmap = format!("a=rtpmap:{pt} ");
    let (name, rest) = section
        .lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix(rtpmap.as_str()))?
        .split_once('/')?;
    let clock = rest.split('/').next()?.parse().ok()?;
    Some((name, clock))
}

/// The `(mid, "audio" | "video")` of every m-line the offerer only
/// receives on (`a=recvonly`, port not 0), in order: where a client with
/// one peer connection takes tracks from us.
pub fn receiving_mlines(sdp: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut lines = section.lines().map(|l| l.trim_end_matches('\r'));
        let mut head = lines.next().unwrap_or("").split(' ');
        let kind = match head.next() {
            Some("audio") => "audio",
            Some("video") => "video",
            _ => continue,
        };
        if head.next() == Some("0") {
            continue;
        }
        let mut mid = None;
        let mut recvonly = false;
        for line in lines {
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.trim().to_owned());
            }
            recvonly |= line == "a=recvonly";
        }
        if let (true, Some(mid)) = (recvonly, mid) {
            out.push((mid, kind));
        }
    }
    out
}

/// `sdp` with m-line `mid` naming `<stream> <track>` as its msid (in
/// `a=msid` and in the `msid:` of its `a=ssrc` lines): str0m answers with
/// an msid of its own, and the browser groups tracks by it.
pub fn set_msid(sdp: &str, mid: &str, stream: &str, track: &str) -> String {
    let mut sections: Vec<String> = sdp.split("\nm=").map(str::to_owned).collect();
    for section in sections.iter_mut().skip(1) {
        let is_mid = |l: &str| {
            l.trim_end_matches('\r')
                .strip_prefix("a=mid:")
                .map(str::trim)
                == Some(mid)
        };
        if !section.lines().any(is_mid) {
            continue;
        }
        let mut out = String::with_capacity(section.len());
        for piece in section.split_inclusive('\n') {
            let line = piece.trim_end_matches(['\r', '\n']);
            let ending = &piece[line.len()..];
            if line.starts_with("a=msid:") {
                out.push_str(&format!("a=msid:{stream} {track}"));
            } else if let Some((head, _)) = line
                .strip_prefix("a=ssrc:")
                .and_then(|rest| rest.split_once(" msid:"))
            {
                out.push_str(&format!("a=ssrc:{head} msid:{stream} {track}"));
            } else {
                out.push_str(line);
            }
            out.push_str(ending);
        }
        *section = out;
    }
    sections.join("\nm=")
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
    fn the_asked_codec_goes_first_on_its_m_line_only() {
        let sdp = "v=0\r\nt=0 0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\na=mid:1\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
            a=rtpmap:102 H264/90000\r\na=rtpmap:103 rtx/90000\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=mid:2\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n";
        let out = prefer_codec(sdp, "1", "h264");
        assert!(
            out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 96 97 103\r\na=mid:1\r\n"),
            "{out}"
        );
        assert!(
            out.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=mid:2\r\n"),
            "{out}"
        );
        assert_eq!(out.len(), sdp.len());
        assert_eq!(prefer_codec(sdp, "1", "av1"), sdp);
        assert_eq!(prefer_codec(sdp, "9", "h264"), sdp);
        assert_eq!(prefer_codec("garbage", "1", "h264"), "garbage");
        assert_eq!(first_codec(&out, "1"), Some(("H264", 90000)));
        assert_eq!(first_codec(&out, "2"), Some(("VP8", 90000)));
        assert_eq!(first_codec(&out, "3"), None);
        assert_eq!(first_codec("m=video 9 x\r\na=mid:1\r\n", "1"), None);
    }

    #[test]
    fn finds_receiving_m_lines_and_renames_an_msid() {
        let sdp = "v=0\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=msid:s a\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=recvonly\r\n\
            m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=recvonly\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:4\r\n";
        let slots = receiving_mlines(sdp);
        assert_eq!(
            slots,
            vec![("1".to_owned(), "audio"), ("3".to_owned(), "video")]
        );
        assert!(receiving_mlines("garbage").is_empty());
        let answer = "v=0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:x y\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=msid:x z\r\na=ssrc:5 cname:c\r\na=ssrc:5 msid:x z\r\n";
        let out = set_msid(answer, "1", "PA_a|TR_b", "TR_b");
        assert!(out.contains("a=mid:1\r\na=msid:PA_a|TR_b TR_b\r\na=ssrc:5 cname:c\r\na=ssrc:5 msid:PA_a|TR_b TR_b\r\n"), "{out}");
        assert!(out.contains("a=mid:0\r\na=msid:x y\r\n"), "{out}");
        assert_eq!(set_msid(answer, "7", "s", "t"), answer);
    }

    #[test]
    fn finds_the_ice_ufrag() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:Ab12\r\na=ice-pwd:x\r\n";
        assert_eq!(ice_ufrag(sdp), Some("Ab12"));
        assert_eq!(ice_ufrag("garbage"), None);
    }
}
