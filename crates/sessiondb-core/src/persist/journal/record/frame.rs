//! One framed record: `[len u32][crc u32][kind u8][payload]`, sealed and read back.

use super::op::{decode_body, Op};

/// Bytes of the frame header before the kind byte: `len` and `crc`.
pub const FRAME_HEADER: usize = 8;

/// Largest `len` a reader accepts: a bigger length is corruption, not a record (no single change
/// comes close: a request is limited to the message size).
pub const MAX_RECORD: u32 = 1 << 30;

/// The initial state of every record checksum in one journal file, written in the file's header.
///
/// A random seed per journal makes a valid record impossible to forge from bytes a client
/// controls: a key may hold any bytes, including the encoding of a whole record, and a reader
/// that resynchronises after damage (or decides whether damage is a torn tail) would otherwise
/// take such an embedded record for a real one. Without the seed, the embedded record's checksum
/// does not match (odds of a false match: 2^-32 per position, as for random damage). Files of
/// format version 1 have no seed in their header and use [`Seed::NONE`] (plain CRC-32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub u32);

impl Seed {
    /// Plain CRC-32: the checksum of format version 1 files.
    pub const NONE: Seed = Seed(0);

    /// A fresh seed from the operating system's random source (0 only if that fails).
    pub fn random() -> Seed {
        let mut b = [0u8; 4];
        // Without a random source the journal still works; it only loses the forgery guard.
        let _ = getrandom::fill(&mut b);
        Seed(u32::from_le_bytes(b))
    }

    fn checksum(self, body: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new_with_initial(self.0);
        h.update(body);
        h.finalize()
    }
}

/// Appends one framed record whose body (kind byte and payload) `body` writes.
pub(super) fn framed(out: &mut Vec<u8>, seed: Seed, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    body(out);
    seal(out, start, seed);
}

/// Fills in `len` and `crc` of the record that starts at `start` and runs to the end of `out`.
pub(super) fn seal(out: &mut [u8], start: usize, seed: Seed) {
    let body = &out[start + FRAME_HEADER..];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = seed.checksum(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What a reader found at some offset of a journal file.
#[derive(Debug)]
pub enum Frame {
    /// A valid record and its total size in bytes (header included).
    Record(Op, usize),
    /// Fewer bytes remain than the frame needs: a torn write if this is the end of the log.
    Incomplete,
    /// Bad length, checksum, kind or payload.
    Corrupt(&'static str),
    /// Nothing left.
    End,
}

/// Reads the frame at the start of `buf`, whose checksums start from `seed`.
pub fn decode(buf: &[u8], seed: Seed) -> Frame {
    if buf.is_empty() {
        return Frame::End;
    }
    if buf.len() < FRAME_HEADER {
        return Frame::Incomplete;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_RECORD {
        return Frame::Corrupt("impossible record length");
    }
    let total = FRAME_HEADER + len as usize;
    if buf.len() < total {
        return Frame::Incomplete;
    }
    let body = &buf[FRAME_HEADER..total];
    if seed.checksum(body) != crc {
        return Frame::Corrupt("checksum mismatch");
    }
    match decode_body(body) {
        Ok(op) => Frame::Record(op, total),
        Err(why) => Frame::Corrupt(why),
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;
    use crate::change::Change;

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        encode(&Change::SessionEnded { tkn: 42 }, &mut buf, Seed::NONE);
        assert!(matches!(
            decode(&buf[..buf.len() - 1], Seed::NONE),
            Frame::Incomplete
        ));
        assert!(matches!(decode(&buf[..3], Seed::NONE), Frame::Incomplete));
        assert!(matches!(decode(&[], Seed::NONE), Frame::End));
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(decode(&flipped, Seed::NONE), Frame::Corrupt(_)));
        let mut zeros = buf.clone();
        zeros[..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(decode(&zeros, Seed::NONE), Frame::Corrupt(_)));
    }

    #[test]
    fn unknown_kind_and_truncated_payload_are_corrupt() {
        for body in [vec![99u8], vec![super::super::op::K_ENDED, 1, 2]] {
            let mut buf = vec![0; FRAME_HEADER];
            buf.extend_from_slice(&body);
            seal(&mut buf, 0, Seed::NONE);
            assert!(
                matches!(decode(&buf, Seed::NONE), Frame::Corrupt(_)),
                "{body:?}"
            );
        }
    }

    #[test]
    fn seed_zero_is_plain_crc32_and_another_seed_rejects_the_record() {
        let mut buf = Vec::new();
        encode(&Change::SessionEnded { tkn: 42 }, &mut buf, Seed::NONE);
        let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        assert_eq!(crc, crc32fast::hash(&buf[FRAME_HEADER..]));
        assert!(matches!(decode(&buf, Seed(7)), Frame::Corrupt(_)));
        let mut seeded = Vec::new();
        encode(&Change::SessionEnded { tkn: 42 }, &mut seeded, Seed(7));
        assert!(matches!(decode(&seeded, Seed(7)), Frame::Record(..)));
        assert!(matches!(decode(&seeded, Seed::NONE), Frame::Corrupt(_)));
    }
}
