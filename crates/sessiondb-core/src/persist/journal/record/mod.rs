//! Journal records: framing and the binary encoding of each [`Change`](crate::change::Change).
//!
//! Frame (all integers little-endian):
//!
//! ```text
//! [len u32] [crc u32] [kind u8] [payload: len − 1 bytes]
//! ```
//!
//! `len` counts the kind byte and the payload; `crc` is CRC-32 (IEEE, as `crc32fast` computes it)
//! of the kind byte and the payload, started from the file's [`Seed`] instead of 0. The kind byte
//! doubles as the record format version: kinds 1–14 are format 1, and a reader refuses any kind
//! it does not know rather than guess. Strings are `[u32 byte length][UTF-8 bytes]`; tokens and
//! deadlines are `u64`; counts are `u32`.
//!
//! * [`frame`]: the frame itself, its checksum and reading one frame back;
//! * [`op`]: what a record means once decoded ([`Op`]) and the payload reader;
//! * [`encode`]: one change as one record (or a few, for very large ones);
//! * [`snapshot`]: the records a compaction snapshot is made of.

pub mod encode;
pub mod frame;
pub mod op;
pub mod snapshot;

pub use encode::encode;
pub use frame::{decode, Frame, Seed, FRAME_HEADER, MAX_RECORD};
pub use op::Op;
pub use snapshot::{encode_key_deadlines, encode_kv_snapshot, encode_session, SessionHead};

/// Every record in `buf`, in order; panics at anything that is not a record.
#[cfg(test)]
pub(crate) fn records(buf: &[u8], seed: Seed) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match decode(&buf[at..], seed) {
            Frame::Record(op, n) => {
                ops.push(op);
                at += n;
            }
            other => panic!("not a record at {at}: {other:?}"),
        }
    }
    ops
}
