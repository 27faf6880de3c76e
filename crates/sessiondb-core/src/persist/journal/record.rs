//! Journal records: framing and the binary encoding of each [`Change`].
//!
//! Frame (all integers little-endian):
//!
//! ```text
//! [len u32] [crc u32] [kind u8] [payload: len − 1 bytes]
//! ```
//!
//! `len` counts the kind byte and the payload; `crc` is CRC-32 (IEEE, as `crc32fast` computes it)
//! of the kind byte and the payload. The kind byte doubles as the record format version: kinds
//! 1–14 are format 1, and a reader refuses any kind it does not know rather than guess. Strings
//! are `[u32 byte length][UTF-8 bytes]`; tokens and deadlines are `u64`; counts are `u32`.

use std::borrow::Cow;

use crate::change::Change;
use crate::command::{Expiry, Token};
use crate::value::Value;

/// Bytes of the frame header before the kind byte: `len` and `crc`.
pub const FRAME_HEADER: usize = 8;

/// Largest `len` a reader accepts: a bigger length is corruption, not a record (no single change
/// comes close: a request is limited to the message size).
pub const MAX_RECORD: u32 = 1 << 30;

const K_CREATED: u8 = 1;
const K_ENDED: u8 = 2;
const K_EXPIRED: u8 = 3;
const K_EMPTIED: u8 = 4;
const K_REARMED: u8 = 5;
const K_SH_SET: u8 = 6;
const K_SH_REMOVED: u8 = 7;
const K_SH_CLEARED: u8 = 8;
const K_SH_CLEAR_SET: u8 = 9;
const K_KV_SET: u8 = 10;
const K_KV_REMOVED: u8 = 11;
const K_KV_CLEARED: u8 = 12;
const K_KV_CLEAR_SET: u8 = 13;
const K_END_ALL: u8 = 14;

/// A decoded record: an owned copy of one [`Change`].
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// See [`Change::SessionCreated`].
    Created {
        tkn: Token,
        shared: bool,
        name: Option<String>,
        expiry: Expiry,
        deadline_ms: u64,
    },
    /// See [`Change::SessionEnded`].
    Ended { tkn: Token },
    /// See [`Change::SessionExpired`].
    Expired { tkn: Token },
    /// See [`Change::SessionEmptied`].
    Emptied { tkn: Token, deadline_ms: u64 },
    /// See [`Change::Rearmed`].
    Rearmed { tkn: Token, deadline_ms: u64 },
    /// See [`Change::ShKeysSet`].
    ShSet {
        tkn: Token,
        entries: Vec<(String, Value)>,
    },
    /// See [`Change::ShKeysRemoved`].
    ShRemoved { tkn: Token, keys: Vec<String> },
    /// See [`Change::ShCleared`].
    ShCleared { tkn: Token },
    /// See [`Change::ShClearSet`].
    ShClearSet {
        tkn: Token,
        entries: Vec<(String, Value)>,
    },
    /// See [`Change::KvSet`].
    KvSet { entries: Vec<(String, Value)> },
    /// See [`Change::KvRemoved`].
    KvRemoved { keys: Vec<String> },
    /// See [`Change::KvCleared`].
    KvCleared,
    /// See [`Change::KvClearSet`].
    KvClearSet { entries: Vec<(String, Value)> },
    /// See [`Change::EndAll`].
    EndAll { tkns: Vec<Token> },
}

/// Appends the framed record for `change` to `out` (several for an `SH_END_ALL` of very many
/// sessions, see [`END_ALL_CHUNK`]).
pub fn encode(change: &Change<'_>, out: &mut Vec<u8>) {
    match change {
        Change::EndAll { tkns } => encode_end_all(out, tkns, END_ALL_CHUNK),
        _ => framed(out, |out| put_change(out, change)),
    }
}

/// The body (kind byte and payload) of `change`'s record.
fn put_change(out: &mut Vec<u8>, change: &Change<'_>) {
    match change {
        Change::SessionCreated {
            tkn,
            shared,
            name,
            expiry,
            deadline_ms,
        } => {
            out.push(K_CREATED);
            put_created(out, *tkn, *shared, *name, expiry, *deadline_ms);
        }
        Change::SessionEnded { tkn } => tkn_only(out, K_ENDED, *tkn),
        Change::SessionExpired { tkn } => tkn_only(out, K_EXPIRED, *tkn),
        Change::SessionEmptied {
            tkn,
            rearmed_deadline_ms,
        } => {
            tkn_only(out, K_EMPTIED, *tkn);
            put_u64(out, *rearmed_deadline_ms);
        }
        Change::Rearmed { tkn, deadline_ms } => {
            tkn_only(out, K_REARMED, *tkn);
            put_u64(out, *deadline_ms);
        }
        Change::ShKeysSet { tkn, entries } => {
            tkn_only(out, K_SH_SET, *tkn);
            put_entries(
                out,
                entries.iter().map(|(k, v)| (k.as_ref(), v)),
                entries.len(),
            );
        }
        Change::ShKeysRemoved { tkn, keys } => {
            tkn_only(out, K_SH_REMOVED, *tkn);
            put_keys(out, keys);
        }
        Change::ShCleared { tkn } => tkn_only(out, K_SH_CLEARED, *tkn),
        Change::ShClearSet { tkn, entries } => {
            tkn_only(out, K_SH_CLEAR_SET, *tkn);
            put_entries(
                out,
                entries.iter().map(|(k, v)| (k.as_ref(), v)),
                entries.len(),
            );
        }
        Change::KvSet { entries } => {
            out.push(K_KV_SET);
            put_entries(
                out,
                entries.iter().map(|(k, v)| (k.as_ref(), v)),
                entries.len(),
            );
        }
        Change::KvRemoved { keys } => {
            out.push(K_KV_REMOVED);
            put_keys(out, keys);
        }
        Change::KvCleared => out.push(K_KV_CLEARED),
        Change::KvClearSet { entries } => {
            out.push(K_KV_CLEAR_SET);
            put_entries(
                out,
                entries.iter().map(|(k, v)| (k.as_ref(), v)),
                entries.len(),
            );
        }
        Change::EndAll { tkns } => {
            out.push(K_END_ALL);
            put_u32(out, tkns.len());
            for t in tkns.iter() {
                put_u64(out, *t);
            }
        }
    }
}

/// Appends one framed record whose body (kind byte and payload) `body` writes.
fn framed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    body(out);
    seal(out, start);
}

/// Appends the records that recreate one session (a snapshot entry): `Created`, then `ShSet`
/// when it has keys. `keys` yields `(key, value JSON text)` pairs, as [`crate::session::Data`]
/// stores them, so a session can be encoded straight from the store under its shard lock.
pub fn encode_session<'k>(
    out: &mut Vec<u8>,
    tkn: Token,
    shared: bool,
    name: Option<&str>,
    expiry: &Expiry,
    deadline_ms: u64,
    keys: impl IntoIterator<Item = (&'k str, &'k str)>,
) {
    framed(out, |out| {
        out.push(K_CREATED);
        put_created(out, tkn, shared, name, expiry, deadline_ms);
    });
    put_session_keys(out, tkn, keys, SNAPSHOT_CHUNK_BYTES);
}

/// A session's keys as `ShSet` records of about `chunk_bytes` each (none for no keys): one
/// session can hold more than a record may (see [`SNAPSHOT_CHUNK_BYTES`]).
fn put_session_keys<'k>(
    out: &mut Vec<u8>,
    tkn: Token,
    keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    chunk_bytes: usize,
) {
    let mut keys = keys.into_iter().peekable();
    while keys.peek().is_some() {
        framed(out, |out| {
            let start = out.len();
            tkn_only(out, K_SH_SET, tkn);
            // The count precedes the entries: a placeholder, filled in when the record is full.
            let count_at = out.len();
            put_u32(out, 0);
            let mut n = 0usize;
            for (k, v) in keys.by_ref() {
                put_str(out, k);
                put_str(out, v);
                n += 1;
                if out.len() - start > chunk_bytes {
                    break;
                }
            }
            let count = u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
            out[count_at..count_at + 4].copy_from_slice(&count);
        });
    }
}

/// Appends a snapshot of the top-level keys, which replaces whatever came before on replay: a
/// `KvClearSet` record, then `KvSet` records when the keys take more than one record's worth.
pub fn encode_kv_snapshot(out: &mut Vec<u8>, entries: &[(String, Value)]) {
    encode_kv_snapshot_in(out, entries, SNAPSHOT_CHUNK_BYTES);
}

/// About the most bytes of keys and values one snapshot record holds. A reader refuses a record
/// longer than [`MAX_RECORD`] as corruption, and the whole top-level store, one session's keys
/// (or an `SH_END_ALL` of every session) can be longer than that: they are written as several
/// records, each well under the bound, that replay to the same state.
const SNAPSHOT_CHUNK_BYTES: usize = 64 << 20;

/// Most tokens one `SH_END_ALL` record holds (8 MiB of tokens); see [`SNAPSHOT_CHUNK_BYTES`].
/// `SH_END_ALL` is atomic per session (`PROTOCOL.md` §7.2), so its records may be replayed in part.
const END_ALL_CHUNK: usize = 1 << 20;

/// [`encode_kv_snapshot`] with records of about `chunk_bytes`: the first clears and sets, the
/// others set. A snapshot file is adopted only once complete, so it is never read in part.
fn encode_kv_snapshot_in(out: &mut Vec<u8>, entries: &[(String, Value)], chunk_bytes: usize) {
    let mut first = true;
    let mut rest = entries;
    loop {
        // At least one entry per record; an entry is bounded by the message size limit.
        let mut bytes = 0;
        let n = rest
            .iter()
            .position(|(k, v)| {
                bytes += 8 + k.len() + v.len();
                bytes > chunk_bytes
            })
            .map_or(rest.len(), |i| i.max(1));
        let (part, after) = rest.split_at(n);
        framed(out, |out| {
            out.push(if first { K_KV_CLEAR_SET } else { K_KV_SET });
            put_entries(out, part.iter().map(|(k, v)| (k.as_str(), v)), part.len());
        });
        first = false;
        rest = after;
        if rest.is_empty() {
            return;
        }
    }
}

/// `SH_END_ALL`'s tokens as records of at most `chunk` tokens (one empty record for none).
fn encode_end_all(out: &mut Vec<u8>, tkns: &[Token], chunk: usize) {
    if tkns.is_empty() {
        framed(out, |out| put_change(out, &Change::EndAll { tkns }));
    }
    for part in tkns.chunks(chunk) {
        framed(out, |out| put_change(out, &Change::EndAll { tkns: part }));
    }
}

/// Fills in `len` and `crc` of the record that starts at `start` and runs to the end of `out`.
fn seal(out: &mut [u8], start: usize) {
    let body = &out[start + FRAME_HEADER..];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn tkn_only(out: &mut Vec<u8>, kind: u8, tkn: Token) {
    out.push(kind);
    put_u64(out, tkn);
}

fn put_created(
    out: &mut Vec<u8>,
    tkn: Token,
    shared: bool,
    name: Option<&str>,
    e: &Expiry,
    deadline_ms: u64,
) {
    put_u64(out, tkn);
    let flags = u8::from(shared)
        | u8::from(e.delete_session) << 1
        | u8::from(e.extend_on_set_add) << 2
        | u8::from(e.extend_on_get) << 3
        | u8::from(name.is_some()) << 4;
    out.push(flags);
    put_u64(out, e.duration_secs);
    put_u64(out, deadline_ms);
    if let Some(name) = name {
        put_str(out, name);
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    // Counts and lengths are bounded by the message size limit, far below u32::MAX.
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_entries<'e>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'e str, &'e Value)>,
    n: usize,
) {
    put_u32(out, n);
    for (k, v) in entries {
        put_str(out, k);
        put_str(out, v.as_json());
    }
}

fn put_keys(out: &mut Vec<u8>, keys: &[Cow<'_, str>]) {
    put_u32(out, keys.len());
    for k in keys {
        put_str(out, k);
    }
}

/// What a reader found at some offset of a segment.
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

/// Reads the frame at the start of `buf`.
pub fn decode(buf: &[u8]) -> Frame {
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
    if crc32fast::hash(body) != crc {
        return Frame::Corrupt("checksum mismatch");
    }
    let mut r = Reader { buf: &body[1..] };
    match decode_op(body[0], &mut r) {
        Some(op) if r.buf.is_empty() => Frame::Record(op, total),
        Some(_) => Frame::Corrupt("trailing bytes in record"),
        None => Frame::Corrupt("unknown record kind or bad payload"),
    }
}

fn decode_op(kind: u8, r: &mut Reader<'_>) -> Option<Op> {
    Some(match kind {
        K_CREATED => {
            let tkn = r.u64()?;
            let flags = r.u8()?;
            let duration_secs = r.u64()?;
            let deadline_ms = r.u64()?;
            let name = if flags & 16 != 0 {
                Some(r.string()?)
            } else {
                None
            };
            let expiry = Expiry {
                duration_secs,
                delete_session: flags & 2 != 0,
                extend_on_set_add: flags & 4 != 0,
                extend_on_get: flags & 8 != 0,
            };
            Op::Created {
                tkn,
                shared: flags & 1 != 0,
                name,
                expiry,
                deadline_ms,
            }
        }
        K_ENDED => Op::Ended { tkn: r.u64()? },
        K_EXPIRED => Op::Expired { tkn: r.u64()? },
        K_EMPTIED => Op::Emptied {
            tkn: r.u64()?,
            deadline_ms: r.u64()?,
        },
        K_REARMED => Op::Rearmed {
            tkn: r.u64()?,
            deadline_ms: r.u64()?,
        },
        K_SH_SET => Op::ShSet {
            tkn: r.u64()?,
            entries: r.entries()?,
        },
        K_SH_REMOVED => Op::ShRemoved {
            tkn: r.u64()?,
            keys: r.keys()?,
        },
        K_SH_CLEARED => Op::ShCleared { tkn: r.u64()? },
        K_SH_CLEAR_SET => Op::ShClearSet {
            tkn: r.u64()?,
            entries: r.entries()?,
        },
        K_KV_SET => Op::KvSet {
            entries: r.entries()?,
        },
        K_KV_REMOVED => Op::KvRemoved { keys: r.keys()? },
        K_KV_CLEARED => Op::KvCleared,
        K_KV_CLEAR_SET => Op::KvClearSet {
            entries: r.entries()?,
        },
        K_END_ALL => {
            let n = r.u32()?;
            let mut tkns = Vec::with_capacity(n.min(r.buf.len() / 8));
            for _ in 0..n {
                tkns.push(r.u64()?);
            }
            Op::EndAll { tkns }
        }
        _ => return None,
    })
}

/// Bounds-checked reads from a record payload: `None` means the payload is malformed.
struct Reader<'b> {
    buf: &'b [u8],
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<usize> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()?;
        let b = self.take(n)?;
        std::str::from_utf8(b).ok().map(str::to_owned)
    }
    fn entries(&mut self) -> Option<Vec<(String, Value)>> {
        let n = self.u32()?;
        // Each entry takes at least 8 bytes: never pre-allocate more than the payload can hold.
        let mut v = Vec::with_capacity(n.min(self.buf.len() / 8));
        for _ in 0..n {
            let k = self.string()?;
            let val = self.string()?;
            // The value was validated JSON when it was journaled and the checksum matched.
            v.push((k, Value::from_json_unchecked(&val)));
        }
        Some(v)
    }
    fn keys(&mut self) -> Option<Vec<String>> {
        let n = self.u32()?;
        let mut v = Vec::with_capacity(n.min(self.buf.len() / 4));
        for _ in 0..n {
            v.push(self.string()?);
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record in `buf`, in order.
    fn records(buf: &[u8]) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            match decode(&buf[at..]) {
                Frame::Record(op, n) => {
                    ops.push(op);
                    at += n;
                }
                other => panic!("not a record at {at}: {other:?}"),
            }
        }
        ops
    }

    #[test]
    fn a_large_kv_snapshot_is_split_into_records_that_replay_to_the_same_keys() {
        let entries: Vec<(String, Value)> = (0..10)
            .map(|i| {
                (
                    format!("k{i}"),
                    Value::from_json_unchecked(&format!("\"{}\"", "v".repeat(i))),
                )
            })
            .collect();
        // Each entry is 8 + 2 + (i + 2) bytes of record: about three per 40-byte chunk.
        let mut buf = Vec::new();
        encode_kv_snapshot_in(&mut buf, &entries, 40);
        let ops = records(&buf);
        assert!(ops.len() > 2, "{ops:?}");
        let mut replayed = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            match (i, op) {
                (0, Op::KvClearSet { entries }) => replayed.extend(entries),
                (1.., Op::KvSet { entries }) => {
                    assert!(!entries.is_empty());
                    replayed.extend(entries);
                }
                (i, op) => panic!("record {i}: {op:?}"),
            }
        }
        assert_eq!(replayed, entries);
        // An entry larger than the chunk still gets a record of its own; none is one record.
        let mut buf = Vec::new();
        encode_kv_snapshot_in(&mut buf, &entries, 1);
        assert_eq!(records(&buf).len(), entries.len());
        let mut buf = Vec::new();
        encode_kv_snapshot(&mut buf, &[]);
        assert!(matches!(&records(&buf)[..], [Op::KvClearSet { entries }] if entries.is_empty()));
    }

    #[test]
    fn a_large_session_is_split_into_set_records() {
        let keys: Vec<(String, String)> =
            (0..10).map(|i| (format!("k{i}"), i.to_string())).collect();
        let pairs = || keys.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        // A body of 13 bytes (kind, token, count), then 11 per entry: a record closes once its
        // body passes 40 bytes, that is, after three entries.
        let mut buf = Vec::new();
        put_session_keys(&mut buf, 7, pairs(), 40);
        let mut replayed = Vec::new();
        let ops = records(&buf);
        assert_eq!(ops.len(), 4, "{ops:?}");
        for op in ops {
            match op {
                Op::ShSet { tkn: 7, entries } => replayed.extend(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, v.as_json().to_owned())),
                ),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(replayed, keys);
        // No keys, no record; the public form starts with `Created`.
        let mut buf = Vec::new();
        put_session_keys(&mut buf, 7, std::iter::empty(), 40);
        assert!(buf.is_empty());
        let mut buf = Vec::new();
        let expiry = Expiry {
            duration_secs: 0,
            delete_session: false,
            extend_on_get: false,
            extend_on_set_add: false,
        };
        encode_session(&mut buf, 7, false, None, &expiry, 0, pairs());
        let ops = records(&buf);
        assert!(matches!(ops[0], Op::Created { tkn: 7, .. }), "{ops:?}");
        assert!(matches!(&ops[1..], [Op::ShSet { entries, .. }] if entries.len() == 10));
    }

    #[test]
    fn end_all_of_many_tokens_is_split_into_records() {
        let tkns: Vec<Token> = (1..=7).collect();
        let mut buf = Vec::new();
        encode_end_all(&mut buf, &tkns, 3);
        let parts: Vec<Vec<Token>> = records(&buf)
            .into_iter()
            .map(|op| match op {
                Op::EndAll { tkns } => tkns,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(parts, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        let mut buf = Vec::new();
        encode(&Change::EndAll { tkns: &[] }, &mut buf);
        assert!(matches!(&records(&buf)[..], [Op::EndAll { tkns }] if tkns.is_empty()));
    }

    fn roundtrip(change: Change<'_>) -> Op {
        let mut buf = Vec::new();
        encode(&change, &mut buf);
        match decode(&buf) {
            Frame::Record(op, n) => {
                assert_eq!(n, buf.len());
                op
            }
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn snapshot_session_is_created_then_its_keys_as_a_change_would_be() {
        let exp = Expiry {
            duration_secs: 4,
            delete_session: false,
            extend_on_set_add: true,
            extend_on_get: false,
        };
        let mut buf = Vec::new();
        encode_session(
            &mut buf,
            7,
            false,
            Some("n"),
            &exp,
            40,
            [("k", "1"), ("é\"x", r#"{"a":[2]}"#)],
        );
        let first = match decode(&buf) {
            Frame::Record(op, n) => {
                assert_eq!(
                    op,
                    Op::Created {
                        tkn: 7,
                        shared: false,
                        name: Some("n".into()),
                        expiry: exp,
                        deadline_ms: 40
                    }
                );
                n
            }
            other => panic!("not a record: {other:?}"),
        };
        // The keys record is byte for byte what journaling the same `ShKeysSet` writes.
        let v = |s: &str| Value::from_json_unchecked(s);
        let entries = [
            (Cow::Borrowed("k"), v("1")),
            (Cow::Borrowed("é\"x"), v(r#"{"a":[2]}"#)),
        ];
        let mut expected = Vec::new();
        encode(
            &Change::ShKeysSet {
                tkn: 7,
                entries: &entries,
            },
            &mut expected,
        );
        assert_eq!(&buf[first..], &expected[..]);

        // Without keys there is no `ShSet` record at all.
        let mut bare = Vec::new();
        encode_session(&mut bare, 8, true, None, &Expiry::default(), u64::MAX, []);
        match decode(&bare) {
            Frame::Record(op, n) => {
                assert_eq!(n, bare.len());
                assert_eq!(
                    op,
                    Op::Created {
                        tkn: 8,
                        shared: true,
                        name: None,
                        expiry: Expiry::default(),
                        deadline_ms: u64::MAX
                    }
                );
            }
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn every_change_round_trips() {
        let v = |s: &str| Value::from_json_unchecked(s);
        let entries = [
            (Cow::Borrowed("k"), v("1")),
            (Cow::Borrowed("é\"x"), v(r#"{"b":1,"a":2}"#)),
        ];
        let owned: Vec<(String, Value)> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let keys = [Cow::Borrowed("a"), Cow::Borrowed("")];
        let exp = Expiry {
            duration_secs: 9,
            delete_session: true,
            extend_on_set_add: false,
            extend_on_get: true,
        };
        assert_eq!(
            roundtrip(Change::SessionCreated {
                tkn: 5,
                shared: true,
                name: Some("n"),
                expiry: exp,
                deadline_ms: 77
            }),
            Op::Created {
                tkn: 5,
                shared: true,
                name: Some("n".into()),
                expiry: exp,
                deadline_ms: 77
            }
        );
        assert_eq!(
            roundtrip(Change::SessionCreated {
                tkn: 5,
                shared: false,
                name: None,
                expiry: Expiry::default(),
                deadline_ms: u64::MAX
            }),
            Op::Created {
                tkn: 5,
                shared: false,
                name: None,
                expiry: Expiry::default(),
                deadline_ms: u64::MAX
            }
        );
        assert_eq!(
            roundtrip(Change::SessionEnded { tkn: u64::MAX }),
            Op::Ended { tkn: u64::MAX }
        );
        assert_eq!(
            roundtrip(Change::SessionExpired { tkn: 3 }),
            Op::Expired { tkn: 3 }
        );
        assert_eq!(
            roundtrip(Change::SessionEmptied {
                tkn: 3,
                rearmed_deadline_ms: 9
            }),
            Op::Emptied {
                tkn: 3,
                deadline_ms: 9
            }
        );
        assert_eq!(
            roundtrip(Change::Rearmed {
                tkn: 3,
                deadline_ms: 10
            }),
            Op::Rearmed {
                tkn: 3,
                deadline_ms: 10
            }
        );
        assert_eq!(
            roundtrip(Change::ShKeysSet {
                tkn: 3,
                entries: &entries
            }),
            Op::ShSet {
                tkn: 3,
                entries: owned.clone()
            }
        );
        assert_eq!(
            roundtrip(Change::ShKeysRemoved {
                tkn: 3,
                keys: &keys
            }),
            Op::ShRemoved {
                tkn: 3,
                keys: vec!["a".into(), "".into()]
            }
        );
        assert_eq!(
            roundtrip(Change::ShCleared { tkn: 3 }),
            Op::ShCleared { tkn: 3 }
        );
        assert_eq!(
            roundtrip(Change::ShClearSet {
                tkn: 3,
                entries: &entries
            }),
            Op::ShClearSet {
                tkn: 3,
                entries: owned.clone()
            }
        );
        assert_eq!(
            roundtrip(Change::KvSet { entries: &entries }),
            Op::KvSet {
                entries: owned.clone()
            }
        );
        assert_eq!(
            roundtrip(Change::KvRemoved { keys: &keys }),
            Op::KvRemoved {
                keys: vec!["a".into(), "".into()]
            }
        );
        assert_eq!(roundtrip(Change::KvCleared), Op::KvCleared);
        assert_eq!(
            roundtrip(Change::KvClearSet { entries: &[] }),
            Op::KvClearSet { entries: vec![] }
        );
        assert_eq!(
            roundtrip(Change::EndAll { tkns: &[1, 2] }),
            Op::EndAll { tkns: vec![1, 2] }
        );
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        encode(&Change::SessionEnded { tkn: 42 }, &mut buf);
        assert!(matches!(decode(&buf[..buf.len() - 1]), Frame::Incomplete));
        assert!(matches!(decode(&buf[..3]), Frame::Incomplete));
        assert!(matches!(decode(&[]), Frame::End));
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(decode(&flipped), Frame::Corrupt(_)));
        let mut zeros = buf.clone();
        zeros[..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(decode(&zeros), Frame::Corrupt(_)));
    }

    #[test]
    fn unknown_kind_and_truncated_payload_are_corrupt() {
        for body in [vec![99u8], vec![K_ENDED, 1, 2]] {
            let mut buf = vec![0; FRAME_HEADER];
            buf.extend_from_slice(&body);
            seal(&mut buf, 0);
            assert!(matches!(decode(&buf), Frame::Corrupt(_)), "{body:?}");
        }
    }
}
