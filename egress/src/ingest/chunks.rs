//! A guard in front of `rml_rtmp`'s chunk reader. That reader reserves a
//! whole message's buffer as soon as a chunk header announces its length
//! (up to 16 MiB), before a byte of it arrived; a client announcing big
//! messages could make the server hold far more than it sent. This guard
//! follows the chunk stream (headers, chunk sizes, message boundaries) on
//! the bytes as they come, and refuses a message longer than the limit or
//! a chunk size beyond it before anything is handed on.

use std::collections::HashMap;

/// Why the stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A message announced more bytes than allowed.
    #[error("an RTMP message of {0} bytes (at most {MAX_MESSAGE} are taken)")]
    MessageTooLarge(u32),
    /// A chunk size beyond what is allowed.
    #[error("an RTMP chunk size of {0} bytes (at most {MAX_MESSAGE} are taken)")]
    ChunkSizeTooLarge(u32),
    /// A continuation chunk for a chunk stream that had no header yet.
    #[error("an RTMP chunk without a message header on chunk stream {0}")]
    NoHeader(u32),
}

/// Longest RTMP message (and chunk size) taken: 1 MiB.
pub const MAX_MESSAGE: u32 = 1 << 20;
/// The chunk size every RTMP stream starts with.
const INITIAL_CHUNK_SIZE: u32 = 128;
/// Message type of "Set Chunk Size".
const SET_CHUNK_SIZE: u8 = 1;

/// What one chunk stream last said.
#[derive(Clone, Copy, Debug, Default)]
struct ChunkStream {
    length: u32,
    type_id: u8,
    /// Bytes of the current message still to come.
    remaining: u32,
    extended_timestamp: bool,
}

/// Where the guard is in the byte stream.
#[derive(Debug)]
enum Stage {
    /// Waiting for a chunk header.
    Header,
    /// Inside a chunk's payload: this many bytes of chunk stream `csid`.
    Payload { csid: u32, left: u32 },
}

/// Follows an RTMP chunk stream (after the handshake), byte by byte.
#[derive(Debug)]
pub struct ChunkGuard {
    streams: HashMap<u32, ChunkStream>,
    chunk_size: u32,
    stage: Stage,
    /// Bytes of an incomplete header, or of a Set Chunk Size payload.
    pending: Vec<u8>,
    /// Collecting a Set Chunk Size message's 4 bytes.
    set_chunk_size: bool,
}

impl Default for ChunkGuard {
    fn default() -> Self {
        Self {
            streams: HashMap::new(),
            chunk_size: INITIAL_CHUNK_SIZE,
            stage: Stage::Header,
            pending: Vec::new(),
            set_chunk_size: false,
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
                    let take = bytes.len().min(18 - self.pending.len().min(18));
                    self.pending.extend_from_slice(&bytes[..take]);
                    match self.header()? {
                        Some(used) => {
                            // Bytes of `take` past the header belong to the payload.
                            let extra = self.pending.len() - used;
                            self.pending.clear();
                            bytes = &bytes[take - extra..];
                        }
                        None => bytes = &bytes[take..],
                    }
                }
                Stage::Payload { csid, left } => {
                    let take = (left as usize).min(bytes.len());
                    if self.set_chunk_size {
                        self.pending.extend_from_slice(&bytes[..take]);
                    }
                    bytes = &bytes[take..];
                    let left = left - take as u32;
                    if left > 0 {
                        self.stage = Stage::Payload { csid, left };
                        continue;
                    }
                    self.stage = Stage::Header;
                    let done = self.streams.get(&csid).is_some_and(|s| s.remaining == 0);
                    if self.set_chunk_size && done {
                        self.chunk_size_set()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Parses the header in `pending`: how many bytes it used, or `None`
    /// if more are needed.
    fn header(&mut self) -> Result<Option<usize>, ChunkError> {
        let p = &self.pending;
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
        // A new message starts unless this continues one.
        if fmt != 3 || stream.remaining == 0 {
            stream.remaining = stream.length;
        }
        let left = stream.remaining.min(self.chunk_size);
        stream.remaining -= left;
        // A Set Chunk Size message's 4 bytes are collected as they come.
        self.set_chunk_size = stream.type_id == SET_CHUNK_SIZE && left > 0;
        self.streams.insert(csid, stream);
        self.stage = match left {
            0 => Stage::Header,
            left => Stage::Payload { csid, left },
        };
        Ok(Some(at))
    }

    fn chunk_size_set(&mut self) -> Result<(), ChunkError> {
        let size = match self.pending.get(..4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff,
            None => self.chunk_size,
        };
        self.pending.clear();
        self.set_chunk_size = false;
        if size > MAX_MESSAGE {
            return Err(ChunkError::ChunkSizeTooLarge(size));
        }
        self.chunk_size = size.max(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type-0 chunk header on chunk stream 3.
    fn header0(length: u32, type_id: u8) -> Vec<u8> {
        let l = length.to_be_bytes();
        vec![0x03, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
    }

    #[test]
    fn ordinary_messages_pass_in_any_split() {
        // A 300-byte video message in 128-byte chunks: header, 128, c3, 128, c3, 44.
        let mut bytes = header0(300, 9);
        bytes.extend([0u8; 128]);
        bytes.push(0xc3);
        bytes.extend([0u8; 128]);
        bytes.push(0xc3);
        bytes.extend([0u8; 44]);
        bytes.extend(header0(10, 8));
        bytes.extend([0u8; 10]);
        for split in [1, 2, 5, 17, 100, bytes.len()] {
            let mut guard = ChunkGuard::default();
            for part in bytes.chunks(split) {
                assert_eq!(guard.check(part), Ok(()), "split {split}");
            }
            assert!(matches!(guard.stage, Stage::Header), "split {split}");
        }
    }

    #[test]
    fn a_huge_message_is_refused_at_its_header() {
        let mut guard = ChunkGuard::default();
        let announced = 16 * 1024 * 1024 - 1;
        assert_eq!(
            guard.check(&header0(announced, 9)),
            Err(ChunkError::MessageTooLarge(announced))
        );
        let mut guard = ChunkGuard::default();
        assert_eq!(guard.check(&header0(MAX_MESSAGE, 9)), Ok(()));
    }

    #[test]
    fn chunk_sizes_are_followed_and_capped() {
        // Set Chunk Size 4096, then a 1000-byte message in one chunk.
        let mut bytes = header0(4, SET_CHUNK_SIZE);
        bytes.extend(4096u32.to_be_bytes());
        bytes.extend(header0(1000, 9));
        bytes.extend([0u8; 1000]);
        let mut guard = ChunkGuard::default();
        assert_eq!(guard.check(&bytes), Ok(()));
        assert_eq!(guard.chunk_size, 4096);
        assert!(matches!(guard.stage, Stage::Header));

        let mut bytes = header0(4, SET_CHUNK_SIZE);
        bytes.extend(0x7fff_ffffu32.to_be_bytes());
        let mut guard = ChunkGuard::default();
        assert_eq!(
            guard.check(&bytes),
            Err(ChunkError::ChunkSizeTooLarge(0x7fff_ffff))
        );
    }

    #[test]
    fn continuation_without_a_header_is_refused() {
        let mut guard = ChunkGuard::default();
        assert_eq!(guard.check(&[0xc5, 1, 2]), Err(ChunkError::NoHeader(5)));
    }
}
