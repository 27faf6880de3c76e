//! Redis over RESP2, the workloads' equivalents in Redis commands.

use super::{Codec, Verdict};
use crate::op::{Op, SESSION_EXPIRY_SECS, SESSION_KEYS};
use crate::resp::{self, push_decimal, Reply};
use anyhow::Result;

/// Redis over RESP2: sessions as hashes with EXPIRE, top-level keys as strings.
pub struct RespCodec {
    value: Vec<u8>,
    /// `SESSION_EXPIRY_SECS` in decimal, the EXPIRE argument.
    expiry: Vec<u8>,
    /// Scratch buffer the current key name is built in.
    key: Vec<u8>,
}

impl RespCodec {
    /// A codec storing `value` under every key.
    pub fn new(value: Vec<u8>) -> Self {
        let mut expiry = Vec::new();
        push_decimal(SESSION_EXPIRY_SECS, &mut expiry);
        Self {
            value,
            expiry,
            key: Vec::with_capacity(32),
        }
    }

    fn key(&mut self, prefix: &[u8], n: u64) -> &[u8] {
        self.key.clear();
        self.key.extend_from_slice(prefix);
        push_decimal(n, &mut self.key);
        &self.key
    }
}

impl Codec for RespCodec {
    fn encode(&mut self, op: &Op, out: &mut Vec<u8>) {
        let value = std::mem::take(&mut self.value);
        let [k0, k1] = SESSION_KEYS.map(str::as_bytes);
        match *op {
            Op::Life { step: 0, sess } | Op::Set(sess) => {
                let key = self.key(b"s:", sess);
                resp::encode_command(&[b"HSET", key, k0, &value, k1, &value], out);
            }
            Op::Life { step: 1, sess } => {
                let secs = std::mem::take(&mut self.expiry);
                let key = self.key(b"s:", sess);
                resp::encode_command(&[b"EXPIRE", key, &secs], out);
                self.expiry = secs;
            }
            Op::Life { step: 2, sess } | Op::Get(sess) => {
                let key = self.key(b"s:", sess);
                resp::encode_command(&[b"HMGET", key, k0, k1], out);
            }
            Op::Life { sess, .. } => {
                let key = self.key(b"s:", sess);
                resp::encode_command(&[b"DEL", key], out);
            }
            Op::KvGet(n) => {
                let key = self.key(b"kv:", n);
                resp::encode_command(&[b"GET", key], out);
            }
            Op::KvSet(n) => {
                let key = self.key(b"kv:", n);
                resp::encode_command(&[b"SET", key, &value], out);
            }
            Op::KvDel(n) => {
                let key = self.key(b"kv:", n);
                resp::encode_command(&[b"DEL", key], out);
            }
        }
        self.value = value;
    }

    fn reply(
        &mut self,
        buf: &[u8],
        op: &Op,
        _out: &mut Vec<u8>,
    ) -> Result<(Option<Verdict>, usize)> {
        let Some((reply, used)) = resp::parse_reply(buf)? else {
            return Ok((None, 0));
        };
        let len = self.value.len();
        let bulk_ok = |b: &Option<&[u8]>| b.is_some_and(|b| b.len() == len);
        let ok = match (*op, &reply) {
            // A new hash gets both fields; an existing one has them overwritten (0 added).
            (Op::Life { step: 0, .. }, Reply::Integer(2)) => true,
            (Op::Set(_), Reply::Integer(0)) => true,
            (Op::Life { step: 1, .. }, Reply::Integer(1)) => true,
            (Op::Life { step: 2, .. } | Op::Get(_), Reply::Array { len: 2, items }) => {
                items[..2].iter().all(bulk_ok)
            }
            (Op::Life { step: 3, .. } | Op::KvDel(_), Reply::Integer(1)) => true,
            (Op::KvGet(_), Reply::Bulk(b)) => bulk_ok(b),
            (Op::KvSet(_), Reply::Simple(b"OK")) => true,
            _ => false,
        };
        let handle = match *op {
            Op::Life { sess, .. } => Some(sess),
            _ => None,
        };
        let verdict = if ok {
            Ok(handle)
        } else {
            Err(format!("unexpected reply {reply:?} to {op:?}"))
        };
        Ok((Some(verdict), used))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resp_codec_checks_types_and_sizes() {
        let mut c = RespCodec::new(b"vv".to_vec());
        let mut out = Vec::new();
        c.encode(&Op::Life { step: 1, sess: 4 }, &mut out);
        assert_eq!(out, b"*3\r\n$6\r\nEXPIRE\r\n$3\r\ns:4\r\n$4\r\n3600\r\n");
        let get = Op::Get(4);
        let good = b"*2\r\n$2\r\nvv\r\n$2\r\nvv\r\n";
        assert_eq!(
            c.reply(good, &get, &mut out).unwrap(),
            (Some(Ok(None)), good.len())
        );
        let null = b"*2\r\n$2\r\nvv\r\n$-1\r\n";
        assert!(matches!(
            c.reply(null, &get, &mut out).unwrap().0,
            Some(Err(_))
        ));
        assert!(matches!(
            c.reply(b"-ERR no\r\n", &Op::KvSet(1), &mut out).unwrap().0,
            Some(Err(_))
        ));
        assert_eq!(
            c.reply(b":2\r\n", &Op::Life { step: 0, sess: 6 }, &mut out)
                .unwrap()
                .0,
            Some(Ok(Some(6)))
        );
    }
}
