//! FLV tag bodies as RTMP carries them (pure): H.264 (AVC) video and AAC
//! audio, and turning AVC's length-prefixed NAL units into the Annex-B
//! access units WebRTC packetizers take.

/// Why a tag was not understood.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    /// Shorter than its header says.
    #[error("truncated FLV {0} tag")]
    Truncated(&'static str),
    /// A codec ingest does not take.
    #[error("unsupported {0} codec id {1} (H.264 and AAC are)")]
    Unsupported(&'static str, u8),
    /// A malformed AVC decoder configuration or NAL unit length.
    #[error("malformed H.264: {0}")]
    Malformed(&'static str),
}

/// An H.264 decoder configuration (`AVCDecoderConfigurationRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// `profile_idc`: 66 baseline, 77 main, 100 high…
    pub profile: u8,
    /// Bytes of each NAL unit length prefix (1, 2 or 4).
    pub length_size: usize,
    /// Sequence parameter sets.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets.
    pub pps: Vec<Vec<u8>>,
    /// The record as sent (GStreamer's `codec_data`).
    pub raw: Vec<u8>,
}

/// One video tag.
#[derive(Debug, PartialEq, Eq)]
pub enum Video<'a> {
    /// The decoder configuration (sent first, and again on changes).
    Config(AvcConfig),
    /// One access unit: length-prefixed NAL units.
    Frame {
        /// An IDR picture.
        keyframe: bool,
        /// Presentation minus decoding time, ms: non-zero with B-frames.
        cts: i32,
        /// The NAL units.
        data: &'a [u8],
    },
    /// The stream ended.
    End,
}

/// One audio tag.
#[derive(Debug, PartialEq, Eq)]
pub enum Audio<'a> {
    /// The AAC `AudioSpecificConfig`.
    Config(&'a [u8]),
    /// One raw AAC frame.
    Frame(&'a [u8]),
}

/// Whether a video tag body is a keyframe (FLV's frame type, the high
/// nibble of its first byte, is 1), whatever its codec.
pub fn is_keyframe(tag: &[u8]) -> bool {
    tag.first().is_some_and(|head| head >> 4 == 1)
}

/// Parses a video tag body.
pub fn video(tag: &[u8]) -> Result<Video<'_>, FlvError> {
    let [head, kind, c0, c1, c2, rest @ ..] = tag else {
        return Err(FlvError::Truncated("video"));
    };
    let codec = head & 0x0f;
    if codec != 7 {
        return Err(FlvError::Unsupported("video", codec));
    }
    // A signed 24-bit composition time.
    let cts = (i32::from(*c0) << 24 | i32::from(*c1) << 16 | i32::from(*c2) << 8) >> 8;
    match kind {
        0 => avc_config(rest).map(Video::Config),
        1 => Ok(Video::Frame {
            keyframe: is_keyframe(tag),
            cts,
            data: rest,
        }),
        _ => Ok(Video::End),
    }
}

/// Parses an audio tag body.
pub fn audio(tag: &[u8]) -> Result<Audio<'_>, FlvError> {
    let [head, kind, rest @ ..] = tag else {
        return Err(FlvError::Truncated("audio"));
    };
    let format = head >> 4;
    if format != 10 {
        return Err(FlvError::Unsupported("audio", format));
    }
    Ok(match kind {
        0 => Audio::Config(rest),
        _ => Audio::Frame(rest),
    })
}

fn avc_config(raw: &[u8]) -> Result<AvcConfig, FlvError> {
    let bad = || FlvError::Malformed("decoder configuration");
    let [1, profile, _compat, _level, size, sps_count, rest @ ..] = raw else {
        return Err(bad());
    };
    let mut rest: &[u8] = rest;
    let sps = parameter_sets(usize::from(sps_count & 0x1f), &mut rest)?;
    let [pps_count, tail @ ..] = rest else {
        return Err(bad());
    };
    let mut tail: &[u8] = tail;
    let pps = parameter_sets(usize::from(*pps_count), &mut tail)?;
    Ok(AvcConfig {
        profile: *profile,
        length_size: usize::from(size & 3) + 1,
        sps,
        pps,
        raw: raw.to_vec(),
    })
}

/// `count` parameter sets, each with a 16-bit length, from the front of `rest`.
fn parameter_sets(count: usize, rest: &mut &[u8]) -> Result<Vec<Vec<u8>>, FlvError> {
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let [a, b, tail @ ..] = *rest else {
            return Err(FlvError::Malformed("parameter set"));
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(FlvError::Malformed("parameter set"));
        }
        sets.push(tail[..len].to_vec());
        *rest = &tail[len..];
    }
    Ok(sets)
}

/// The access unit `data` (length-prefixed NAL units) in Annex-B, with the
/// parameter sets in front of a keyframe so a receiver can start there.
pub fn annexb(config: &AvcConfig, data: &[u8], keyframe: bool) -> Result<Vec<u8>, FlvError> {
    const START: [u8; 4] = [0, 0, 0, 1];
    let mut out = Vec::with_capacity(data.len() + 64);
    if keyframe {
        for set in config.sps.iter().chain(&config.pps) {
            out.extend_from_slice(&START);
            out.extend_from_slice(set);
        }
    }
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < config.length_size {
            return Err(FlvError::Malformed("NAL unit length"));
        }
        let (size, tail) = rest.split_at(config.length_size);
        let len = size.iter().fold(0usize, |n, b| n << 8 | usize::from(*b));
        if tail.len() < len {
            return Err(FlvError::Malformed("NAL unit length"));
        }
        let nal = &tail[..len];
        // Parameter sets already sent in front are not repeated.
        let kind = nal.first().map_or(0, |b| b & 0x1f);
        if !(keyframe && (kind == 7 || kind == 8)) {
            out.extend_from_slice(&START);
            out.extend_from_slice(nal);
        }
        rest = &tail[len..];
    }
    Ok(out)
}

/// The start of an FLV stream carrying video or audio (for `flvdemux`).
pub fn header(video: bool) -> Vec<u8> {
    let flags = if video { 0x01 } else { 0x04 };
    vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// One FLV tag (8 audio, 9 video) around `body`, with its trailing size.
pub fn tag(kind: u8, timestamp: u32, body: &[u8]) -> Vec<u8> {
    let size = (body.len() as u32).to_be_bytes();
    let ts = timestamp.to_be_bytes();
    let mut out = Vec::with_capacity(body.len() + 15);
    out.extend_from_slice(&[
        kind, size[1], size[2], size[3], ts[1], ts[2], ts[3], ts[0], 0, 0, 0,
    ]);
    out.extend_from_slice(body);
    out.extend_from_slice(&(body.len() as u32 + 11).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: [u8; 4] = [0x67, 0x42, 0xc0, 0x1e];
    const PPS: [u8; 3] = [0x68, 0xce, 0x3c];

    fn config_tag() -> Vec<u8> {
        let mut t = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4];
        t.extend_from_slice(&SPS);
        t.extend_from_slice(&[1, 0, 3]);
        t.extend_from_slice(&PPS);
        t
    }

    fn config() -> AvcConfig {
        match video(&config_tag()).unwrap() {
            Video::Config(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decoder_configuration_is_read() {
        let c = config();
        assert_eq!(c.profile, 66);
        assert_eq!(c.length_size, 4);
        assert_eq!(c.sps, vec![SPS.to_vec()]);
        assert_eq!(c.pps, vec![PPS.to_vec()]);
        assert_eq!(c.raw, config_tag()[5..].to_vec());
    }

    #[test]
    fn frames_carry_keyframe_flag_and_signed_composition_time() {
        let tag = [0x27, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x41];
        assert_eq!(
            video(&tag).unwrap(),
            Video::Frame {
                keyframe: false,
                cts: -33,
                data: &[0, 0, 0, 1, 0x41]
            }
        );
        let key = [0x17, 1, 0, 0, 66, 0, 0, 0, 1, 0x65];
        assert!(matches!(
            video(&key).unwrap(),
            Video::Frame {
                keyframe: true,
                cts: 66,
                ..
            }
        ));
        assert_eq!(video(&[0x17, 2, 0, 0, 0]).unwrap(), Video::End);
    }

    #[test]
    fn keyframes_get_parameter_sets_in_front_once() {
        let c = config();
        // An IDR that repeats the SPS itself, then a slice.
        let mut au = vec![0, 0, 0, 4];
        au.extend_from_slice(&SPS);
        au.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
        let out = annexb(&c, &au, true).unwrap();
        let mut want = vec![0, 0, 0, 1];
        want.extend_from_slice(&SPS);
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&PPS);
        want.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
        assert_eq!(out, want);
        assert_eq!(
            annexb(&c, &[0, 0, 0, 2, 0x41, 0x9a], false).unwrap(),
            vec![0, 0, 0, 1, 0x41, 0x9a]
        );
    }

    #[test]
    fn tags_are_framed_as_in_a_file() {
        assert_eq!(&header(true)[..5], b"FLV\x01\x01");
        assert_eq!(header(false)[4], 0x04);
        let t = tag(9, 0x0102_0304, &[0xaa, 0xbb]);
        assert_eq!(
            t,
            vec![9, 0, 0, 2, 2, 3, 4, 1, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 13]
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let c = config();
        assert_eq!(video(&[0x17, 1]), Err(FlvError::Truncated("video")));
        assert_eq!(
            video(&[0x12, 1, 0, 0, 0]),
            Err(FlvError::Unsupported("video", 2))
        );
        assert!(video(&[0x17, 0, 0, 0, 0, 1, 66]).is_err());
        assert!(video(&[0x17, 0, 0, 0, 0, 1, 66, 0, 30, 0xff, 0xe1, 0, 9, 1]).is_err());
        assert!(annexb(&c, &[0, 0, 0, 9, 0x41], false).is_err());
        assert!(annexb(&c, &[0, 0], false).is_err());
        assert_eq!(audio(&[0x2f, 1, 0]), Err(FlvError::Unsupported("audio", 2)));
        assert_eq!(audio(&[0xaf]), Err(FlvError::Truncated("audio")));
        assert_eq!(
            audio(&[0xaf, 0, 0x12, 0x10]).unwrap(),
            Audio::Config(&[0x12, 0x10])
        );
        assert_eq!(audio(&[0xaf, 1, 9]).unwrap(), Audio::Frame(&[9]));
    }
}
