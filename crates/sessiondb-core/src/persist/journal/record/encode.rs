//! One [`Change`] as the record (or, for very large ones, the few records) that replay it.

use std::borrow::Cow;

use super::frame::{framed, Seed};
use super::op::*;
use crate::change::Change;
use crate::command::{Expiry, Token};
use crate::value::Value;

/// Appends the framed record for `change` to `out` (several for an `SH_END_ALL` of very many
/// sessions, see [`END_ALL_CHUNK`]).
pub fn encode(change: &Change<'_>, out: &mut Vec<u8>, seed: Seed) {
    match change {
        Change::EndAll { tkns } => encode_end_all(out, seed, tkns, END_ALL_CHUNK),
        _ => framed(out, seed, |out| put_change(out, change)),
    }
}

/// The body (kind byte and payload) of `change`'s record.
fn put_change(out: &mut Vec<u8>, change: &Change<'_>) {
    match change {
        Change::SessionCreated {
            tkn,
            shared,
            name,
            owner,
            expiry,
            deadline_ms,
        } => {
            out.push(K_CREATED);
            put_created(out, *tkn, *shared, (*name, *owner), expiry, *deadline_ms);
        }
        Change::Version { tkn, ver, shown } => put_version(out, *tkn, *ver, *shown),
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
        Change::KeyDeadlines { tkn, deadlines } => {
            tkn_only(out, K_KEY_DEADLINES, *tkn);
            put_deadlines(
                out,
                deadlines.iter().map(|(k, d)| (&**k, *d)),
                deadlines.len(),
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

/// Most tokens one `SH_END_ALL` record holds (8 MiB of tokens), so that one record stays well
/// under [`super::MAX_RECORD`] whatever the number of sessions.
/// `SH_END_ALL` is atomic per session (`docs/PROTOCOL.md` §7.2), so its records may be replayed in part.
const END_ALL_CHUNK: usize = 1 << 20;

/// `SH_END_ALL`'s tokens as records of at most `chunk` tokens (one empty record for none).
fn encode_end_all(out: &mut Vec<u8>, seed: Seed, tkns: &[Token], chunk: usize) {
    if tkns.is_empty() {
        framed(out, seed, |out| put_change(out, &Change::EndAll { tkns }));
    }
    for part in tkns.chunks(chunk) {
        framed(out, seed, |out| {
            put_change(out, &Change::EndAll { tkns: part })
        });
    }
}

pub(super) fn tkn_only(out: &mut Vec<u8>, kind: u8, tkn: Token) {
    out.push(kind);
    put_u64(out, tkn);
}

pub(super) fn put_created(
    out: &mut Vec<u8>,
    tkn: Token,
    shared: bool,
    (name, owner): (Option<&str>, Option<&str>),
    e: &Expiry,
    deadline_ms: u64,
) {
    put_u64(out, tkn);
    let flags = u8::from(shared)
        | u8::from(e.delete_session) << 1
        | u8::from(e.extend_on_set_add) << 2
        | u8::from(e.extend_on_get) << 3
        | u8::from(name.is_some()) << 4
        | if owner.is_some() { CREATED_OWNER } else { 0 };
    out.push(flags);
    put_u64(out, e.duration_secs);
    put_u64(out, deadline_ms);
    for text in [name, owner].into_iter().flatten() {
        put_str(out, text);
    }
}

/// A `Version` record's body: the token, the version, whether it was shown.
pub(super) fn put_version(out: &mut Vec<u8>, tkn: Token, ver: u32, shown: bool) {
    tkn_only(out, K_VERSION, tkn);
    out.extend_from_slice(&ver.to_le_bytes());
    out.push(u8::from(shown));
}

pub(super) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(super) fn put_u32(out: &mut Vec<u8>, v: usize) {
    // Counts and lengths are bounded by the message size limit, far below u32::MAX.
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn put_entries<'e>(
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

/// Key deadlines: the count, then each key, a byte saying whether it has a deadline, and the
/// deadline (0 when it has none).
pub(super) fn put_deadlines<'d>(
    out: &mut Vec<u8>,
    deadlines: impl Iterator<Item = (&'d str, Option<u64>)>,
    n: usize,
) {
    put_u32(out, n);
    for (k, d) in deadlines {
        put_str(out, k);
        out.push(u8::from(d.is_some()));
        put_u64(out, d.unwrap_or(0));
    }
}

fn put_keys(out: &mut Vec<u8>, keys: &[Cow<'_, str>]) {
    put_u32(out, keys.len());
    for k in keys {
        put_str(out, k);
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::persist::journal::record::{decode, records, Frame};

    /// Any seed will do: these tests are about the encoding, not the checksum.
    const S: Seed = Seed(0x5eed);

    #[test]
    fn end_all_of_many_tokens_is_split_into_records() {
        let tkns: Vec<Token> = (1..=7).collect();
        let mut buf = Vec::new();
        encode_end_all(&mut buf, S, &tkns, 3);
        let parts: Vec<Vec<Token>> = records(&buf, S)
            .into_iter()
            .map(|op| match op {
                Op::EndAll { tkns } => tkns,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(parts, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        let mut buf = Vec::new();
        encode(&Change::EndAll { tkns: &[] }, &mut buf, S);
        assert!(matches!(&records(&buf, S)[..], [Op::EndAll { tkns }] if tkns.is_empty()));
    }

    fn roundtrip(change: Change<'_>) -> Op {
        let mut buf = Vec::new();
        encode(&change, &mut buf, S);
        match decode(&buf, S) {
            Frame::Record(op, n) => {
                assert_eq!(n, buf.len());
                op
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
                owner: None,
                expiry: exp,
                deadline_ms: 77
            }),
            Op::Created {
                tkn: 5,
                shared: true,
                name: Some("n".into()),
                owner: None,
                expiry: exp,
                deadline_ms: 77
            }
        );
        for name in [None, Some("n")] {
            assert_eq!(
                roundtrip(Change::SessionCreated {
                    tkn: 6,
                    shared: false,
                    name,
                    owner: Some("alice"),
                    expiry: exp,
                    deadline_ms: 78
                }),
                Op::Created {
                    tkn: 6,
                    shared: false,
                    name: name.map(str::to_owned),
                    owner: Some("alice".into()),
                    expiry: exp,
                    deadline_ms: 78
                }
            );
        }
        for (ver, shown) in [(1, false), (u32::MAX, true)] {
            assert_eq!(
                roundtrip(Change::Version { tkn: 7, ver, shown }),
                Op::Version { tkn: 7, ver, shown }
            );
        }
        assert_eq!(
            roundtrip(Change::SessionCreated {
                tkn: 5,
                shared: false,
                name: None,
                owner: None,
                expiry: Expiry::default(),
                deadline_ms: u64::MAX
            }),
            Op::Created {
                tkn: 5,
                shared: false,
                name: None,
                owner: None,
                expiry: Expiry::default(),
                deadline_ms: u64::MAX
            }
        );
        assert_eq!(
            roundtrip(Change::SessionEnded { tkn: u64::MAX }),
            Op::Ended { tkn: u64::MAX }
        );
        let deadlines = [
            (Cow::Borrowed("otp"), Some(u64::MAX)),
            (Cow::Borrowed("é"), None),
        ];
        assert_eq!(
            roundtrip(Change::KeyDeadlines {
                tkn: 4,
                deadlines: &deadlines
            }),
            Op::KeyDeadlines {
                tkn: 4,
                deadlines: vec![("otp".into(), Some(u64::MAX)), ("é".into(), None)]
            }
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
}
