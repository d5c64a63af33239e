//! Codec names as LiveKit's clients expect them in `TrackInfo.mime_type`
//! (`video/VP8`, `video/H264`, `audio/opus`): livekit-client's end-to-end
//! encryption picks its per-codec frame handling from it (and fails on a
//! bare `vp8`), and apps show it.

use str0m::format::Codec;

/// LiveKit's MIME type of `codec`; none for what is not a media codec
/// (RTX, RED, DTMF…).
pub fn mime_type(codec: Codec) -> Option<&'static str> {
    Some(match codec {
        Codec::Opus => "audio/opus",
        Codec::PCMU => "audio/PCMU",
        Codec::PCMA => "audio/PCMA",
        Codec::G722 => "audio/G722",
        Codec::H264 => "video/H264",
        Codec::H265 => "video/H265",
        Codec::Vp8 => "video/VP8",
        Codec::Vp9 => "video/VP9",
        Codec::Av1 => "video/AV1",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_livekits() {
        assert_eq!(mime_type(Codec::Vp8), Some("video/VP8"));
        assert_eq!(mime_type(Codec::H264), Some("video/H264"));
        assert_eq!(mime_type(Codec::Opus), Some("audio/opus"));
        assert_eq!(mime_type(Codec::Rtx), None);
    }
}
