//! Pre-encoded media from files, split into frames for real-time sending:
//! VP8 in IVF, H.264 Annex-B byte streams, Opus in Ogg.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

/// A file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The content is not what was expected.
    #[error("{0}")]
    Format(String),
}

/// One encoded frame and how long it lasts.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Encoded bytes (a VP8 frame, an H.264 access unit, an Opus packet).
    pub data: Vec<u8>,
    /// Time until the next frame.
    pub duration: Duration,
}

/// A codec OnAir publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// VP8 video.
    Vp8,
    /// H.264 video.
    H264,
    /// Opus audio.
    Opus,
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// File `path` does not hold what it should, and `why`.
fn format_error(path: &Path, why: impl std::fmt::Display) -> FileError {
    FileError::Format(format!("{}: {why}", path.display()))
}

/// Frames of a VP8 IVF file (32-byte header, then 12-byte frame headers).
pub fn ivf(path: &Path) -> Result<Vec<Frame>, FileError> {
    let bytes = read(path)?;
    if bytes.len() < 32 || &bytes[..4] != b"DKIF" {
        return Err(format_error(path, "not an IVF file"));
    }
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let rate = u32_at(&bytes, 16).max(1);
    let scale = u32_at(&bytes, 20).max(1);
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let mut at = header_len.max(32);
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    while at + 12 <= bytes.len() {
        let size = u32_at(&bytes, at) as usize;
        let pts = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap_or_default());
        let Some(data) = bytes.get(at + 12..at + 12 + size) else {
            break;
        };
        frames.push((pts, data.to_vec()));
        at += 12 + size;
    }
    let tick = Duration::from_secs_f64(f64::from(scale) / f64::from(rate));
    Ok(timed(frames, tick))
}

/// Turns `(pts, data)` into frames whose duration is the gap to the next pts.
fn timed(frames: Vec<(u64, Vec<u8>)>, tick: Duration) -> Vec<Frame> {
    let n = frames.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let gap = if i + 1 < n {
            frames[i + 1].0.saturating_sub(frames[i].0).max(1)
        } else {
            1
        };
        out.push(Frame {
            data: frames[i].1.clone(),
            duration: tick * gap as u32,
        });
    }
    out
}

/// Access units of an H.264 Annex-B stream at `fps`. A new unit starts at a
/// parameter set, delimiter or SEI after picture data, or at a slice whose
/// `first_mb_in_slice` is 0.
pub fn annexb(path: &Path, fps: u32) -> Result<Vec<Frame>, FileError> {
    let bytes = read(path)?;
    let nals = nal_units(&bytes);
    if nals.is_empty() {
        return Err(format_error(path, "no H.264 NAL units"));
    }
    let duration = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    let mut frames = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut has_picture = false;
    for nal in nals {
        let kind = nal[0] & 0x1f;
        let vcl = (1..=5).contains(&kind);
        let starts_unit = if vcl {
            nal.get(1).is_some_and(|b| b & 0x80 != 0)
        } else {
            matches!(kind, 6..=9)
        };
        if starts_unit && has_picture {
            frames.push(Frame {
                data: std::mem::take(&mut current),
                duration,
            });
            has_picture = false;
        }
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
        has_picture |= vcl;
    }
    if has_picture {
        frames.push(Frame {
            data: current,
            duration,
        });
    }
    Ok(frames)
}

/// The NAL units of an H.264 Annex-B byte stream (or access unit), without
/// their start codes.
pub fn nal_units(bytes: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        if bytes[i] == 0 && bytes[i + 1] == 0 && bytes[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(bytes.len(), |next| next - 3);
        while end > start && bytes[end - 1] == 0 {
            end -= 1; // trailing zero of a 4-byte start code
        }
        if end > start {
            nals.push(&bytes[start..end]);
        }
    }
    nals
}

/// Opus packets of an Ogg Opus file (the two header packets skipped).
pub fn ogg_opus(path: &Path) -> Result<Vec<Frame>, FileError> {
    let bytes = read(path)?;
    let mut reader = ogg::PacketReader::new(Cursor::new(bytes));
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut index = 0;
    loop {
        match reader.read_packet() {
            Ok(Some(p)) => {
                index += 1;
                if index <= 2 {
                    continue; // OpusHead, OpusTags
                }
                packets.push(p.data);
            }
            Ok(None) => break,
            Err(e) => return Err(format_error(path, e)),
        }
    }
    if packets.is_empty() {
        return Err(format_error(path, "no Opus packets"));
    }
    // Each packet's length comes from its TOC byte (RFC 6716 §3.1).
    Ok(packets
        .into_iter()
        .map(|data| {
            let duration = opus_duration(&data);
            Frame { data, duration }
        })
        .collect())
}

/// Duration of an Opus packet from its TOC byte and frame count.
fn opus_duration(packet: &[u8]) -> Duration {
    let Some(&toc) = packet.first() else {
        return Duration::from_millis(20);
    };
    let config = toc >> 3;
    let frame_us: u64 = match config {
        0..=11 => [10_000, 20_000, 40_000, 60_000][(config % 4) as usize],
        12..=15 => [10_000, 20_000][(config % 2) as usize],
        _ => [2_500, 5_000, 10_000, 20_000][(config % 4) as usize],
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(1, |b| u64::from(b & 0x3f).max(1)),
    };
    Duration::from_micros(frame_us * frames)
}

/// Width and height from a VP8 keyframe header (RFC 6386 §9.1); none for
/// an interframe.
pub fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    let header = frame.get(..10)?;
    if header[0] & 1 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let h = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((u32::from(w), u32::from(h)))
}

/// Width and height from the first RTP packet of a VP8 keyframe: its
/// payload descriptor (RFC 7741 §4.2) skipped, the keyframe header read;
/// none for any other packet.
pub fn vp8_packet_size(payload: &[u8]) -> Option<(u32, u32)> {
    let first = *payload.first()?;
    // S: the start of a partition; PID 0: the first one.
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return None;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        let extensions = *payload.get(1)?;
        at = 2;
        if extensions & 0x80 != 0 {
            // The picture id: 15 bits when its M bit is set, else 7.
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if extensions & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if extensions & 0x30 != 0 {
            at += 1; // TID, Y and KEYIDX
        }
    }
    vp8_size(payload.get(at..)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_packets_that_start_a_keyframe_tell_its_size() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
        // No extensions.
        let mut packet = vec![0x10];
        packet.extend_from_slice(&key);
        assert_eq!(vp8_packet_size(&packet), Some((640, 360)));
        // A 15-bit picture id, TL0PICIDX and TID.
        let mut packet = vec![0x90, 0xe0, 0x81, 0x23, 0x05, 0x40];
        packet.extend_from_slice(&key);
        assert_eq!(vp8_packet_size(&packet), Some((640, 360)));
        // A packet in the middle of the frame, or of another partition.
        packet[0] &= !0x10;
        assert_eq!(vp8_packet_size(&packet), None);
        packet[0] |= 0x11;
        assert_eq!(vp8_packet_size(&packet), None);
        assert_eq!(vp8_packet_size(&[0x90, 0xe0]), None, "cut short");
        assert_eq!(vp8_packet_size(&[]), None);
    }

    #[test]
    fn vp8_keyframes_tell_their_size() {
        let mut key = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
        assert_eq!(vp8_size(&key), Some((640, 360)));
        assert_eq!(vp8_size(&key[..9]), None);
        key[0] |= 1; // an interframe
        assert_eq!(vp8_size(&key), None);
    }

    #[test]
    fn splits_annexb_into_access_units() {
        let mut stream = Vec::new();
        for nal in [
            &[0x67, 1][..],
            &[0x68, 2],
            &[0x65, 0x88, 3],
            &[0x41, 0x9a, 4],
            &[0x41, 0x9a, 5],
        ] {
            stream.extend_from_slice(&[0, 0, 0, 1]);
            stream.extend_from_slice(nal);
        }
        let dir = std::env::temp_dir().join(format!("onair-annexb-{}", std::process::id()));
        std::fs::write(&dir, &stream).unwrap();
        let frames = annexb(&dir, 30).unwrap();
        std::fs::remove_file(&dir).ok();
        assert_eq!(frames.len(), 3, "SPS+PPS+IDR, then two P frames");
        assert_eq!(
            frames[0].data,
            [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88, 3]
        );
    }

    #[test]
    fn opus_durations_from_toc() {
        assert_eq!(opus_duration(&[0xf8]), Duration::from_millis(20)); // CELT FB 20 ms, 1 frame
        assert_eq!(opus_duration(&[0x18 | 1]), Duration::from_millis(120)); // SILK NB 60 ms × 2
        assert_eq!(opus_duration(&[0x78 | 1]), Duration::from_millis(40)); // hybrid FB 20 ms × 2
        assert_eq!(opus_duration(&[]), Duration::from_millis(20));
    }

    #[test]
    fn ivf_rejects_other_files() {
        let path = std::env::temp_dir().join(format!("onair-ivf-{}", std::process::id()));
        std::fs::write(&path, b"not an ivf file at all, no sir, not one bit").unwrap();
        assert!(matches!(ivf(&path), Err(FileError::Format(_))));
        std::fs::remove_file(&path).ok();
    }
}
