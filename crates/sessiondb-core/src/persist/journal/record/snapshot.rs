//! The records a compaction snapshot is made of: each session as `Created` then its keys, and
//! the top-level keys as a `KvClearSet` (then `KvSet`s), each record well under [`super::MAX_RECORD`].

use super::encode::{
    put_created, put_deadlines, put_entries, put_str, put_u32, put_version, tkn_only,
};
use super::frame::{framed, Seed};
use super::op::*;
use crate::command::{Expiry, Token};
use crate::value::Value;

/// A session's fields other than its keys, as its `Created` record holds them.
#[derive(Debug, Clone, Copy)]
pub struct SessionHead<'a> {
    /// The token.
    pub tkn: Token,
    /// Whether the session is shared.
    pub shared: bool,
    /// The name, if any.
    pub name: Option<&'a str>,
    /// The owner, if any.
    pub owner: Option<&'a str>,
    /// The version of its keys.
    pub ver: u32,
    /// Whether a client has been shown the version.
    pub ver_shown: bool,
    /// Expiry settings.
    pub expiry: Expiry,
    /// The deadline, as the store holds it.
    pub deadline_ms: u64,
}

/// Appends the records that recreate one session (a snapshot entry): `Created`, then `ShSet`
/// when it has keys, then its `Version` (replaying the `ShSet`s counts versions of their own). `keys` yields `(key, value JSON text)` pairs, as [`crate::session::Data`]
/// stores them, so a session can be encoded straight from the store under its shard lock.
pub fn encode_session<'k>(
    out: &mut Vec<u8>,
    seed: Seed,
    head: &SessionHead<'_>,
    keys: impl IntoIterator<Item = (&'k str, &'k str)>,
) {
    framed(out, seed, |out| {
        out.push(K_CREATED);
        put_created(
            out,
            head.tkn,
            head.shared,
            (head.name, head.owner),
            &head.expiry,
            head.deadline_ms,
        );
    });
    put_session_keys(out, seed, head.tkn, keys, SNAPSHOT_CHUNK_BYTES);
    framed(out, seed, |out| {
        put_version(out, head.tkn, head.ver, head.ver_shown)
    });
}

/// A session's keys as `ShSet` records of about `chunk_bytes` each (none for no keys): one
/// session can hold more than a record may (see [`SNAPSHOT_CHUNK_BYTES`]).
fn put_session_keys<'k>(
    out: &mut Vec<u8>,
    seed: Seed,
    tkn: Token,
    keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    chunk_bytes: usize,
) {
    let mut keys = keys.into_iter().peekable();
    while keys.peek().is_some() {
        framed(out, seed, |out| {
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

/// Appends the deadlines of one session's keys (E9), after [`encode_session`]: `KeyDeadlines`
/// records of about [`SNAPSHOT_CHUNK_BYTES`] each, none when no key has a deadline.
pub fn encode_key_deadlines<'d>(
    out: &mut Vec<u8>,
    seed: Seed,
    tkn: Token,
    deadlines: impl IntoIterator<Item = (&'d str, u64)>,
) {
    let all: Vec<(&str, u64)> = deadlines.into_iter().collect();
    let mut rest = &all[..];
    while !rest.is_empty() {
        // At least one key per record; a key is bounded by the message size limit.
        let mut bytes = 0;
        let n = rest
            .iter()
            .position(|(k, _)| {
                bytes += 13 + k.len();
                bytes > SNAPSHOT_CHUNK_BYTES
            })
            .map_or(rest.len(), |i| i.max(1));
        let (part, after) = rest.split_at(n);
        framed(out, seed, |out| {
            tkn_only(out, K_KEY_DEADLINES, tkn);
            put_deadlines(out, part.iter().map(|&(k, d)| (k, Some(d))), part.len());
        });
        rest = after;
    }
}

/// Appends a snapshot of the top-level keys, which replaces whatever came before on replay: a
/// `KvClearSet` record, then `KvSet` records when the keys take more than one record's worth.
pub fn encode_kv_snapshot(out: &mut Vec<u8>, seed: Seed, entries: &[(String, Value)]) {
    encode_kv_snapshot_in(out, seed, entries, SNAPSHOT_CHUNK_BYTES);
}

/// About the most bytes of keys and values one snapshot record holds. A reader refuses a record
/// longer than [`super::MAX_RECORD`] as corruption, and the whole top-level store or one session's keys
/// can be longer than that: they are written as several
/// records, each well under the bound, that replay to the same state.
const SNAPSHOT_CHUNK_BYTES: usize = 64 << 20;

/// [`encode_kv_snapshot`] with records of about `chunk_bytes`: the first clears and sets, the
/// others set. A snapshot file is adopted only once complete, so it is never read in part.
fn encode_kv_snapshot_in(
    out: &mut Vec<u8>,
    seed: Seed,
    entries: &[(String, Value)],
    chunk_bytes: usize,
) {
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
        framed(out, seed, |out| {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::change::Change;
    use crate::persist::journal::record::{decode, encode, records, Frame};

    /// Any seed will do: these tests are about the encoding, not the checksum.
    const S: Seed = Seed(0x5eed);

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
        encode_kv_snapshot_in(&mut buf, S, &entries, 40);
        let ops = records(&buf, S);
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
        encode_kv_snapshot_in(&mut buf, S, &entries, 1);
        assert_eq!(records(&buf, S).len(), entries.len());
        let mut buf = Vec::new();
        encode_kv_snapshot(&mut buf, S, &[]);
        assert!(
            matches!(&records(&buf, S)[..], [Op::KvClearSet { entries }] if entries.is_empty())
        );
    }

    #[test]
    fn a_large_session_is_split_into_set_records() {
        let keys: Vec<(String, String)> =
            (0..10).map(|i| (format!("k{i}"), i.to_string())).collect();
        let pairs = || keys.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        // A body of 13 bytes (kind, token, count), then 11 per entry: a record closes once its
        // body passes 40 bytes, that is, after three entries.
        let mut buf = Vec::new();
        put_session_keys(&mut buf, S, 7, pairs(), 40);
        let mut replayed = Vec::new();
        let ops = records(&buf, S);
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
        put_session_keys(&mut buf, S, 7, std::iter::empty(), 40);
        assert!(buf.is_empty());
        let mut buf = Vec::new();
        let expiry = Expiry {
            duration_secs: 0,
            delete_session: false,
            extend_on_get: false,
            extend_on_set_add: false,
        };
        let head = SessionHead {
            tkn: 7,
            shared: false,
            name: None,
            expiry,
            deadline_ms: 0,
            owner: None,
            ver: 1,
            ver_shown: false,
        };
        encode_session(&mut buf, S, &head, pairs());
        let ops = records(&buf, S);
        assert!(matches!(ops[0], Op::Created { tkn: 7, .. }), "{ops:?}");
        assert!(matches!(
            &ops[1..],
            [Op::ShSet { entries, .. }, Op::Version { tkn: 7, ver: 1, shown: false }]
                if entries.len() == 10
        ));
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
        let head = SessionHead {
            tkn: 7,
            shared: false,
            name: Some("n"),
            expiry: exp,
            deadline_ms: 40,
            owner: Some("alice"),
            ver: 5,
            ver_shown: true,
        };
        encode_session(&mut buf, S, &head, [("k", "1"), ("é\"x", r#"{"a":[2]}"#)]);
        let first = match decode(&buf, S) {
            Frame::Record(op, n) => {
                assert_eq!(
                    op,
                    Op::Created {
                        tkn: 7,
                        shared: false,
                        name: Some("n".into()),
                        expiry: exp,
                        deadline_ms: 40,
                        owner: Some("alice".into()),
                    }
                );
                n
            }
            other => panic!("not a record: {other:?}"),
        };
        // The keys record is byte for byte what journaling the same `ShKeysSet` writes; the
        // version follows, as the store's own `Version` change would write it.
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
            S,
        );
        encode(
            &Change::Version {
                tkn: 7,
                ver: 5,
                shown: true,
            },
            &mut expected,
            S,
        );
        assert_eq!(&buf[first..], &expected[..]);

        // Without keys there is no `ShSet` record at all.
        let mut bare = Vec::new();
        let head = SessionHead {
            tkn: 8,
            shared: true,
            name: None,
            expiry: Expiry::default(),
            deadline_ms: u64::MAX,
            owner: None,
            ver: 1,
            ver_shown: false,
        };
        encode_session(&mut bare, S, &head, []);
        match decode(&bare, S) {
            Frame::Record(op, n) => {
                assert!(matches!(
                    decode(&bare[n..], S),
                    Frame::Record(Op::Version { tkn: 8, ver: 1, shown: false }, m)
                        if n + m == bare.len()
                ));
                assert_eq!(
                    op,
                    Op::Created {
                        tkn: 8,
                        shared: true,
                        name: None,
                        expiry: Expiry::default(),
                        deadline_ms: u64::MAX,
                        owner: None,
                    }
                );
            }
            other => panic!("not a record: {other:?}"),
        }
    }
}
