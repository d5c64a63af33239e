//! A guard in front of `rml_rtmp`'s chunk reader. That reader reserves a
//! whole message's buffer as soon as a chunk header announces its length
//! (up to 16 MiB), before a byte of it arrived; a client announcing big
//! messages could make the server hold far more than it sent. This guard
//! follows the chunk stream (headers, chunk sizes, message boundaries) on
//! the bytes as they come, the way `rml_rtmp` reads it, and refuses before
//! anything is handed on: a message longer than the limit, a chunk size
//! out of range, and what `rml_rtmp` would read differently from it (a
//! message started while another is incomplete, a Set Chunk Size that is
//! not 4 bytes in one chunk).

use std::collections::HashMap;

/// Why the stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A message announced more bytes than allowed.
    #[error("an RTMP message of {0} bytes (at most {MAX_MESSAGE} are taken)")]
    MessageTooLarge(u32),
    /// A chunk size of 0 or beyond what is allowed.
    #[error("an RTMP chunk size of {0} bytes (1 to {MAX_MESSAGE} are taken)")]
    BadChunkSize(u32),
    /// A continuation chunk for a chunk stream that had no header yet.
    #[error("an RTMP chunk without a message header on chunk stream {0}")]
    NoHeader(u32),
    /// A new message began while another was incomplete.
    #[error("interleaved RTMP messages (chunk stream {0} while another is incomplete)")]
    Interleaved(u32),
    /// A Set Chunk Size message that is not 4 bytes in one chunk.
    #[error("a malformed RTMP Set Chunk Size message")]
    BadSetChunkSize,
}

/// Longest RTMP message (and chunk size) taken: 1 MiB.
pub const MAX_MESSAGE: u32 = 1 << 20;
/// The chunk size every RTMP stream starts with.
const INITIAL_CHUNK_SIZE: u32 = 128;
/// Message type of "Set Chunk Size".
const SET_CHUNK_SIZE: u8 = 1;
/// The longest chunk header: 3 basic + 11 message + 4 extended timestamp.
const MAX_HEADER: usize = 18;

/// What one chunk stream last said.
#[derive(Clone, Copy, Debug, Default)]
struct ChunkStream {
    length: u32,
    type_id: u8,
    extended_timestamp: bool,
}

/// Where the guard is in the byte stream.
#[derive(Debug)]
enum Stage {
    /// Waiting for a chunk header.
    Header,
    /// Inside a chunk's payload: this many bytes are left of it.
    Payload { left: u32 },
}

/// Follows an RTMP chunk stream (after the handshake), byte by byte.
#[derive(Debug)]
pub struct ChunkGuard {
    streams: HashMap<u32, ChunkStream>,
    chunk_size: u32,
    stage: Stage,
    /// The incomplete message: its chunk stream and the bytes still to come.
    open: Option<(u32, u32)>,
    /// Bytes of an incomplete chunk header.
    header: Vec<u8>,
    /// The payload of a Set Chunk Size message being read.
    set_chunk_size: Option<Vec<u8>>,
}

impl Default for ChunkGuard {
    fn default() -> Self {
        Self {
            streams: HashMap::new(),
            chunk_size: INITIAL_CHUNK_SIZE,
            stage: Stage::Header,
            open: None,
            header: Vec::with_capacity(MAX_HEADER),
            set_chunk_size: None,
        }
    }
}

impl ChunkGuard {
    /// Takes the next bytes the client sent; an error means the
    /// connection must be closed before they are handed on.
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), ChunkError> {
        while !bytes.is_empty() {
            match self.stage {
                Stage::Header => {
                    let before = self.header.len();
                    let take = bytes.len().min(MAX_HEADER - before);
                    self.header.extend_from_slice(&bytes[..take]);
                    match self.parse_header()? {
                        Some(used) => {
                            // The bytes past the header belong to the payload.
                            bytes = &bytes[used - before..];
                            self.header.clear();
                        }
                        None => bytes = &bytes[take..],
                    }
                }
                Stage::Payload { left } => {
                    let take = (left as usize).min(bytes.len());
                    if let Some(payload) = &mut self.set_chunk_size {
                        payload.extend_from_slice(&bytes[..take]);
                    }
                    bytes = &bytes[take..];
                    let left = left - take as u32;
                    if left > 0 {
                        self.stage = Stage::Payload { left };
                        continue;
                    }
                    self.stage = Stage::Header;
                    if let Some(payload) = self.set_chunk_size.take() {
                        self.chunk_size = chunk_size(&payload)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Parses the header in `self.header`: how many of its bytes it used,
    /// or `None` if more are needed.
    fn parse_header(&mut self) -> Result<Option<usize>, ChunkError> {
        let p = &self.header;
        let Some(&first) = p.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 if p.len() >= 2 => (64 + u32::from(p[1]), 2),
            1 if p.len() >= 3 => (64 + u32::from(p[1]) + 256 * u32::from(p[2]), 3),
            0 | 1 => return Ok(None),
            id => (u32::from(id), 1),
        };
        let header_len = [11, 7, 3, 0][fmt as usize];
        if p.len() < at + header_len {
            return Ok(None);
        }
        let h = &p[at..at + header_len];
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let mut stream = match (fmt, self.streams.get(&csid)) {
            (0, _) => ChunkStream::default(),
            (_, Some(s)) => *s,
            (_, None) => return Err(ChunkError::NoHeader(csid)),
        };
        if fmt <= 2 {
            stream.extended_timestamp = u24(&h[0..3]) == 0xFF_FFFF;
        }
        if fmt <= 1 {
            stream.length = u24(&h[3..6]);
            stream.type_id = h[6];
            if stream.length > MAX_MESSAGE {
                return Err(ChunkError::MessageTooLarge(stream.length));
            }
        }
        at += header_len;
        if stream.extended_timestamp {
            if p.len() < at + 4 {
                return Ok(None);
            }
            at += 4;
        }
        // One message at a time: a chunk continues the open message, or
        // (none being open) begins a new one.
        let remaining = match self.open {
            Some((open, remaining)) if open == csid && fmt == 3 => remaining,
            Some((open, _)) if open != csid || fmt != 3 => {
                return Err(ChunkError::Interleaved(csid))
            }
            _ => stream.length,
        };
        let left = remaining.min(self.chunk_size);
        self.open = (remaining > left).then_some((csid, remaining - left));
        self.set_chunk_size = match stream.type_id {
            SET_CHUNK_SIZE if stream.length == 4 && left == 4 => Some(Vec::with_capacity(4)),
            SET_CHUNK_SIZE => return Err(ChunkError::BadSetChunkSize),
            _ => None,
        };
        self.streams.insert(csid, stream);
        self.stage = match left {
            0 => Stage::Header,
            left => Stage::Payload { left },
        };
        Ok(Some(at))
    }
}

/// The chunk size a Set Chunk Size payload sets, if allowed.
fn chunk_size(payload: &[u8]) -> Result<u32, ChunkError> {
    let bytes: [u8; 4] = payload
        .try_into()
        .map_err(|_| ChunkError::BadSetChunkSize)?;
    let size = u32::from_be_bytes(bytes);
    if size == 0 || size > MAX_MESSAGE {
        return Err(ChunkError::BadChunkSize(size));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type-0 chunk header on chunk stream `csid`.
    fn header0(csid: u8, length: u32, type_id: u8) -> Vec<u8> {
        let l = length.to_be_bytes();
        vec![csid, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
    }

    #[test]
    fn ordinary_messages_pass_in_any_split() {
        // A 300-byte video message in 128-byte chunks: header, 128, c4, 128,
        // c4, 44; then an audio message on another chunk stream.
        let mut bytes = header0(4, 300, 9);
        bytes.extend([0u8; 128]);
        bytes.push(0xc4);
        bytes.extend([0u8; 128]);
        bytes.push(0xc4);
        bytes.extend([0u8; 44]);
        bytes.extend(header0(5, 10, 8));
        bytes.extend([0u8; 10]);
        // A type-1 header on stream 4 (same stream id, new length).
        bytes.extend([0x44, 0, 0, 1, 0, 0, 20, 9]);
        bytes.extend([0u8; 20]);
        for split in [1, 2, 5, 17, 100, bytes.len()] {
            let mut guard = ChunkGuard::default();
            for part in bytes.chunks(split) {
                assert_eq!(guard.check(part), Ok(()), "split {split}");
            }
            assert!(matches!(guard.stage, Stage::Header), "split {split}");
            assert_eq!(guard.open, None, "split {split}");
        }
    }

    #[test]
    fn a_huge_message_is_refused_at_its_header() {
        let mut guard = ChunkGuard::default();
        let announced = 16 * 1024 * 1024 - 1;
        assert_eq!(
            guard.check(&header0(4, announced, 9)),
            Err(ChunkError::MessageTooLarge(announced))
        );
        let mut guard = ChunkGuard::default();
        assert_eq!(guard.check(&header0(4, MAX_MESSAGE, 9)), Ok(()));
    }

    #[test]
    fn chunk_sizes_are_followed_and_bounded() {
        // Set Chunk Size 4096, then a 1000-byte message in one chunk.
        let mut bytes = header0(2, 4, SET_CHUNK_SIZE);
        bytes.extend(4096u32.to_be_bytes());
        bytes.extend(header0(4, 1000, 9));
        bytes.extend([0u8; 1000]);
        let mut guard = ChunkGuard::default();
        assert_eq!(guard.check(&bytes), Ok(()));
        assert_eq!(guard.chunk_size, 4096);
        assert!(matches!(guard.stage, Stage::Header));

        for (size, err) in [
            (0x7fff_ffff, ChunkError::BadChunkSize(0x7fff_ffff)),
            (0xffff_ffff, ChunkError::BadChunkSize(0xffff_ffff)),
            (0, ChunkError::BadChunkSize(0)),
        ] {
            let mut bytes = header0(2, 4, SET_CHUNK_SIZE);
            bytes.extend(u32::to_be_bytes(size));
            assert_eq!(ChunkGuard::default().check(&bytes), Err(err));
        }
        // A Set Chunk Size of another length is not what rml_rtmp reads.
        let mut bytes = header0(2, 40, SET_CHUNK_SIZE);
        bytes.extend([0u8; 40]);
        assert_eq!(
            ChunkGuard::default().check(&bytes),
            Err(ChunkError::BadSetChunkSize)
        );
    }

    #[test]
    fn interleaving_and_headless_chunks_are_refused() {
        // A message on stream 4 left incomplete, then a new one on stream 5.
        let mut bytes = header0(4, 300, 9);
        bytes.extend([0u8; 128]);
        bytes.extend(header0(5, 16, 9));
        assert_eq!(
            ChunkGuard::default().check(&bytes),
            Err(ChunkError::Interleaved(5))
        );
        // A new message on the same stream before the old one is complete.
        let mut bytes = header0(4, 300, 9);
        bytes.extend([0u8; 128]);
        bytes.extend(header0(4, 16, 9));
        assert_eq!(
            ChunkGuard::default().check(&bytes),
            Err(ChunkError::Interleaved(4))
        );
        assert_eq!(
            ChunkGuard::default().check(&[0xc5, 1, 2]),
            Err(ChunkError::NoHeader(5))
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u32;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let mut guard = ChunkGuard::default();
            for part in bytes.chunks(7) {
                if guard.check(part).is_err() {
                    break;
                }
            }
        }
    }
}
