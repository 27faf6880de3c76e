//! What a record means: the kind bytes, [`Op`] (an owned copy of one [`Change`]) and the
//! bounds-checked reader of a record's payload.

#[cfg(doc)]
use crate::change::Change;
use crate::command::{Expiry, Token};
use crate::value::Value;

pub(super) const K_CREATED: u8 = 1;
pub(super) const K_ENDED: u8 = 2;
pub(super) const K_EXPIRED: u8 = 3;
pub(super) const K_EMPTIED: u8 = 4;
pub(super) const K_REARMED: u8 = 5;
pub(super) const K_SH_SET: u8 = 6;
pub(super) const K_SH_REMOVED: u8 = 7;
pub(super) const K_SH_CLEARED: u8 = 8;
pub(super) const K_SH_CLEAR_SET: u8 = 9;
pub(super) const K_KV_SET: u8 = 10;
pub(super) const K_KV_REMOVED: u8 = 11;
pub(super) const K_KV_CLEARED: u8 = 12;
pub(super) const K_KV_CLEAR_SET: u8 = 13;
pub(super) const K_END_ALL: u8 = 14;
pub(super) const K_KEY_DEADLINES: u8 = 15;
pub(super) const K_VERSION: u8 = 16;

/// Bit of a `Created` record's flags byte: an owner string follows the name.
pub(super) const CREATED_OWNER: u8 = 32;

/// A decoded record: an owned copy of one [`Change`].
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// See [`Change::SessionCreated`].
    Created {
        tkn: Token,
        shared: bool,
        name: Option<String>,
        owner: Option<String>,
        expiry: Expiry,
        deadline_ms: u64,
    },
    /// See [`Change::Version`].
    Version { tkn: Token, ver: u32, shown: bool },
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
    /// See [`Change::KeyDeadlines`].
    KeyDeadlines {
        tkn: Token,
        deadlines: Vec<(String, Option<u64>)>,
    },
}

/// True if `kind` is a record kind this reader knows.
pub(crate) fn is_known_kind(kind: u8) -> bool {
    (K_CREATED..=K_VERSION).contains(&kind)
}

/// Decodes a record body (kind byte and payload) whose checksum already matched.
pub(super) fn decode_body(body: &[u8]) -> Result<Op, &'static str> {
    let Some((&kind, payload)) = body.split_first() else {
        return Err("impossible record length");
    };
    let mut r = Reader { buf: payload };
    match decode_op(kind, &mut r) {
        Some(op) if r.buf.is_empty() => Ok(op),
        Some(_) => Err("trailing bytes in record"),
        None => Err("unknown record kind or bad payload"),
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
            let owner = if flags & CREATED_OWNER != 0 {
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
                owner,
                expiry,
                deadline_ms,
            }
        }
        K_VERSION => Op::Version {
            tkn: r.u64()?,
            ver: u32::try_from(r.u32()?).ok()?,
            shown: match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            },
        },
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
        K_KEY_DEADLINES => Op::KeyDeadlines {
            tkn: r.u64()?,
            deadlines: r.deadlines()?,
        },
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
    fn deadlines(&mut self) -> Option<Vec<(String, Option<u64>)>> {
        let n = self.u32()?;
        // Each entry takes at least 13 bytes (length, flag, deadline).
        let mut v = Vec::with_capacity(n.min(self.buf.len() / 13));
        for _ in 0..n {
            let k = self.string()?;
            let set = match self.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let deadline = self.u64()?;
            v.push((k, set.then_some(deadline)));
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
