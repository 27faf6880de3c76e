//! The header every journal file starts with: eight bytes of magic naming the file's kind and
//! format version, then (from version 2) the file's checksum [`Seed`].

use super::record::Seed;

/// A segment of format version 2: magic, then the seed as `u32` little-endian.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SDBJSEG2";
/// A snapshot of format version 2: magic, then the seed.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SDBJSNP2";
/// A segment of format version 1: magic only, records checksummed with [`Seed::NONE`].
pub const SEGMENT_MAGIC_V1: &[u8; 8] = b"SDBJSEG1";
/// A snapshot of format version 1.
pub const SNAPSHOT_MAGIC_V1: &[u8; 8] = b"SDBJSNP1";

/// Length of a version 2 header.
pub const HEADER_LEN: usize = 12;

/// The two kinds of journal file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `seg-<index>.log`: changes as they happened.
    Segment,
    /// `snap-<index>.log`: the whole state as of the start of segment `<index>`.
    Snapshot,
}

impl FileKind {
    fn magics(self) -> (&'static [u8; 8], &'static [u8; 8]) {
        match self {
            FileKind::Segment => (SEGMENT_MAGIC, SEGMENT_MAGIC_V1),
            FileKind::Snapshot => (SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_V1),
        }
    }
}

/// The header a new file of `kind` starts with.
pub fn encode(kind: FileKind, seed: Seed) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(kind.magics().0);
    h[8..].copy_from_slice(&seed.0.to_le_bytes());
    h
}

/// What the start of a file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A whole header: records start at byte `len` and are checksummed with `seed`.
    Valid {
        /// The records' checksum seed.
        seed: Seed,
        /// Bytes of the header.
        len: usize,
    },
    /// The file is shorter than a header and is the start of one: a crash while creating it.
    Torn,
    /// Not a sessiondb journal file of this kind.
    Bad,
}

/// Reads the header at the start of `bytes`, a file of `kind`.
pub fn decode(kind: FileKind, bytes: &[u8]) -> Header {
    let (v2, v1) = kind.magics();
    if bytes.len() >= HEADER_LEN && bytes[..8] == v2[..] {
        let seed = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        return Header::Valid {
            seed: Seed(seed),
            len: HEADER_LEN,
        };
    }
    if bytes.len() >= v1.len() && bytes[..8] == v1[..] {
        return Header::Valid {
            seed: Seed::NONE,
            len: v1.len(),
        };
    }
    let n = bytes.len().min(8);
    if bytes.len() < HEADER_LEN && bytes[..n] == v2[..n] {
        return Header::Torn;
    }
    Header::Bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_both_versions_are_read() {
        let h = encode(FileKind::Segment, Seed(0xdead_beef));
        assert_eq!(
            decode(FileKind::Segment, &h),
            Header::Valid {
                seed: Seed(0xdead_beef),
                len: HEADER_LEN
            }
        );
        assert_eq!(decode(FileKind::Snapshot, &h), Header::Bad);
        assert_eq!(
            decode(FileKind::Snapshot, b"SDBJSNP1rest"),
            Header::Valid {
                seed: Seed::NONE,
                len: 8
            }
        );
        assert_eq!(decode(FileKind::Segment, &h[..10]), Header::Torn);
        assert_eq!(decode(FileKind::Segment, &h[..3]), Header::Torn);
        assert_eq!(decode(FileKind::Segment, b"SDBX"), Header::Bad);
    }
}
