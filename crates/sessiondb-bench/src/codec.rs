//! Per-target encoding of operations and verification of their replies.
//!
//! A codec turns an [`Op`] into wire bytes and checks the matching reply. A reply that arrives
//! intact but says the wrong thing is a *verification failure* (counted, the run goes on); bytes
//! that cannot be parsed at all are a protocol error that ends the connection.

use crate::op::{Op, SESSION_EXPIRY_SECS, SESSION_KEYS};
use crate::resp::{self, push_decimal, Reply};
use crate::verify::{check_ws_reply, Expect};
use crate::ws::{self, Decoder, Message};
use anyhow::{bail, Result};

/// The result of checking one reply: the session handle it yields (for a creation step), or
/// why it is wrong.
pub type Verdict = std::result::Result<Option<u64>, String>;

/// Encodes operations and verifies replies for one target protocol.
pub trait Codec: Send {
    /// Appends the request for `op` to `out`.
    fn encode(&mut self, op: &Op, out: &mut Vec<u8>);

    /// Takes the reply to `op` from the start of `buf`. Returns the verdict (`None` while the
    /// reply is incomplete) and the bytes consumed; control traffic (a ping) may be consumed and
    /// answered into `out` without a verdict.
    fn reply(&mut self, buf: &[u8], op: &Op, out: &mut Vec<u8>)
        -> Result<(Option<Verdict>, usize)>;

    /// Replies that needed the full check rather than the quick comparison with the expected
    /// bytes (only the sessiondb codec has both).
    fn full_checks(&self) -> u64 {
        0
    }
}

/// The JSON request text for `op` (shared by the sessiondb and echo targets).
fn ws_payload(op: &Op, value: &[u8], out: &mut Vec<u8>) {
    let session_cmd = |out: &mut Vec<u8>, name: &str, tkn: u64| {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":{\"tkn\":");
        push_decimal(tkn, out);
    };
    match *op {
        Op::Life { step: 0, .. } => {
            out.extend_from_slice(b"{\"SH_NEW\":{\"expiry\":{\"duration\":");
            push_decimal(SESSION_EXPIRY_SECS, out);
            out.extend_from_slice(b"}}}");
        }
        Op::Life { step: 1, sess } | Op::Set(sess) => {
            session_cmd(out, "SH_SET", sess);
            session_keys(value, out);
        }
        Op::Life { step: 2, sess } | Op::Get(sess) => {
            session_cmd(out, "SH_GET", sess);
            out.extend_from_slice(b",\"keys\":[\"k0\",\"k1\"]}}");
        }
        Op::Life { sess, .. } => {
            session_cmd(out, "SH_END", sess);
            out.extend_from_slice(b"}}");
        }
        Op::KvGet(n) | Op::KvDel(n) => {
            let cmd: &[u8] = if matches!(op, Op::KvGet(_)) {
                b"{\"KV_GET\":{\"keys\":[\"kv:"
            } else {
                b"{\"KV_RMV\":{\"keys\":[\"kv:"
            };
            out.extend_from_slice(cmd);
            push_decimal(n, out);
            out.extend_from_slice(b"\"]}}");
        }
        Op::KvSet(n) => {
            out.extend_from_slice(b"{\"KV_SET\":{\"keys\":{");
            kv_member(n, value, out);
            out.extend_from_slice(b"}}}");
        }
    }
}

/// `,"keys":{"k0":"<value>","k1":"<value>"}}}`: the end of an `SH_SET` request, and of the
/// `SH_GET` reply sessiondb renders.
fn session_keys(value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"keys\":{");
    for (i, key) in SESSION_KEYS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(value);
        out.push(b'"');
    }
    out.extend_from_slice(b"}}}");
}

/// `"kv:<n>":"<value>"`: top-level key `n` in a `KV_SET` request or a `KV_GET` reply.
fn kv_member(n: u64, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"kv:");
    push_decimal(n, out);
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(value);
    out.push(b'"');
}

/// WebSocket framing shared by the sessiondb and echo codecs.
struct WsFraming {
    decoder: Decoder,
    /// Scratch buffer the JSON text is built in before it is masked into the output.
    scratch: Vec<u8>,
    rng: crate::op::Rng,
}

impl WsFraming {
    fn new(seed: u64) -> Self {
        Self {
            decoder: Decoder::default(),
            scratch: Vec::with_capacity(256),
            rng: crate::op::Rng::from_entropy(seed),
        }
    }

    fn mask(&mut self) -> [u8; 4] {
        (self.rng.next_u64() as u32).to_ne_bytes()
    }

    fn encode(&mut self, op: &Op, value: &[u8], out: &mut Vec<u8>) {
        self.scratch.clear();
        ws_payload(op, value, &mut self.scratch);
        let mask = self.mask();
        ws::encode_text(&self.scratch, mask, out);
    }

    /// Runs `check` on the next text message; answers pings into `out`.
    fn next_text(
        &mut self,
        buf: &[u8],
        out: &mut Vec<u8>,
        check: impl FnOnce(&[u8]) -> Verdict,
    ) -> Result<(Option<Verdict>, usize)> {
        let mask = self.mask();
        let (msg, used) = self.decoder.next(buf)?;
        match msg {
            None => Ok((None, used)),
            Some(Message::Text(text)) => Ok((Some(check(text)), used)),
            Some(Message::Binary) => Ok((Some(Err("binary reply".into())), used)),
            Some(Message::Ping(payload)) => {
                ws::encode_pong(payload, mask, out);
                Ok((None, used))
            }
            Some(Message::Close) => bail!("server closed the WebSocket"),
        }
    }
}

/// sessiondb over WebSocket: JSON requests, replies checked member by member.
pub struct WsCodec {
    framing: WsFraming,
    value: Vec<u8>,
    /// The reply sessiondb sends to the current operation, byte for byte (for `SH_NEW`, up to
    /// the token): see [`canonical_reply`].
    canonical: Vec<u8>,
    /// Names of the keys the current reply must hold (reused to avoid allocating).
    expected_keys: Vec<String>,
    /// Replies that were not the canonical text and got the full check.
    full_checks: u64,
}

impl WsCodec {
    /// A codec storing `value` under every key.
    pub fn new(value: Vec<u8>, seed: u64) -> Self {
        Self {
            framing: WsFraming::new(seed),
            value,
            canonical: Vec::with_capacity(256),
            expected_keys: Vec::new(),
            full_checks: 0,
        }
    }
}

impl Codec for WsCodec {
    fn encode(&mut self, op: &Op, out: &mut Vec<u8>) {
        self.framing.encode(op, &self.value, out);
    }

    fn reply(
        &mut self,
        buf: &[u8],
        op: &Op,
        out: &mut Vec<u8>,
    ) -> Result<(Option<Verdict>, usize)> {
        self.canonical.clear();
        canonical_reply(op, &self.value, &mut self.canonical);
        let (canonical, value_len, keys) =
            (&self.canonical, self.value.len(), &mut self.expected_keys);
        let mut full = false;
        let reply = self.framing.next_text(buf, out, |text| {
            canonical_verdict(text, op, canonical).unwrap_or_else(|| {
                full = true;
                check_reply(text, op, value_len, keys)
            })
        });
        self.full_checks += u64::from(full);
        reply
    }

    fn full_checks(&self) -> u64 {
        self.full_checks
    }
}

/// The full check of a reply to `op` (any member order, whitespace or escapes).
fn check_reply(text: &[u8], op: &Op, value_len: usize, keys: &mut Vec<String>) -> Verdict {
    keys.clear();
    let (name, tkn) = match *op {
        Op::Life { step: 0, .. } => ("SH_NEW_RSP", None),
        Op::Life { step: 1, .. } | Op::Set(_) => ("SH_SET_RSP", None),
        Op::Life { step: 2, .. } | Op::Get(_) => {
            keys.extend(SESSION_KEYS.iter().map(|k| (*k).to_owned()));
            ("SH_GET_RSP", None)
        }
        Op::Life { sess, .. } => ("SH_END_RSP", Some(sess)),
        Op::KvGet(n) => {
            keys.push(format!("kv:{n}"));
            ("KV_GET_RSP", None)
        }
        Op::KvSet(_) => ("KV_SET_RSP", None),
        Op::KvDel(_) => ("KV_RMV_RSP", None),
    };
    let expect = Expect {
        name,
        keys: matches!(op, Op::Life { step: 2, .. } | Op::Get(_) | Op::KvGet(_))
            .then_some(&keys[..]),
        value_len,
        tkn,
        wants_token: matches!(op, Op::Life { step: 0, .. }),
    };
    check_ws_reply(text, &expect)
}

/// Writes the reply sessiondb renders for `op` when it succeeds, with every key holding
/// `value`: `{"<CMD>_RSP":{"st":1,...}}`, members in the server's order, no whitespace. For
/// `SH_NEW`, whose token the server picks, only what comes before the token.
///
/// Verifying a reply by parsing it cost the generator about twice the instructions of checking
/// a Redis reply or an echo (BENCHMARKS.md, "The generator"), and at pipeline 1 the generator's core is nearly as busy as the server's, so sessiondb's rows partly
/// measured the generator. A reply equal to this text is correct as it stands (it says more than
/// the full check asks: the values' bytes too); any other text gets the full check.
fn canonical_reply(op: &Op, value: &[u8], out: &mut Vec<u8>) {
    match *op {
        Op::Life { step: 0, .. } => out.extend_from_slice(br#"{"SH_NEW_RSP":{"st":1,"tkn":"#),
        Op::Life { step: 1, .. } | Op::Set(_) => {
            out.extend_from_slice(br#"{"SH_SET_RSP":{"st":1}}"#);
        }
        Op::Life { step: 2, .. } | Op::Get(_) => {
            out.extend_from_slice(br#"{"SH_GET_RSP":{"st":1"#);
            session_keys(value, out);
        }
        Op::Life { sess, .. } => {
            out.extend_from_slice(br#"{"SH_END_RSP":{"st":1,"tkn":"#);
            push_decimal(sess, out);
            out.extend_from_slice(b"}}");
        }
        Op::KvGet(n) => {
            out.extend_from_slice(br#"{"KV_GET_RSP":{"st":1,"keys":{"#);
            kv_member(n, value, out);
            out.extend_from_slice(b"}}}");
        }
        Op::KvSet(_) => out.extend_from_slice(br#"{"KV_SET_RSP":{"st":1}}"#),
        Op::KvDel(_) => out.extend_from_slice(br#"{"KV_RMV_RSP":{"st":1}}"#),
    }
}

/// The verdict on `text` if it is the [`canonical_reply`] to `op` (for `SH_NEW`, followed by a
/// non-zero token in plain decimal and `}}`); `None` sends it to the full check.
fn canonical_verdict(text: &[u8], op: &Op, canonical: &[u8]) -> Option<Verdict> {
    if let Op::Life { step: 0, .. } = op {
        let digits = text.strip_prefix(canonical)?.strip_suffix(b"}}")?;
        let plain = !digits.is_empty() && digits.len() <= 20 && digits[0] != b'0';
        if !plain || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let tkn = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
        return Some(Ok(Some(tkn)));
    }
    (text == canonical).then_some(Ok(None))
}

/// The WebSocket echo floor: the same requests, and each reply must equal its request.
pub struct EchoCodec {
    framing: WsFraming,
    value: Vec<u8>,
    expected: Vec<u8>,
}

impl EchoCodec {
    /// A codec sending `value` under every key.
    pub fn new(value: Vec<u8>, seed: u64) -> Self {
        Self {
            framing: WsFraming::new(seed),
            value,
            expected: Vec::with_capacity(256),
        }
    }
}

impl Codec for EchoCodec {
    fn encode(&mut self, op: &Op, out: &mut Vec<u8>) {
        self.framing.encode(op, &self.value, out);
    }

    fn reply(
        &mut self,
        buf: &[u8],
        op: &Op,
        out: &mut Vec<u8>,
    ) -> Result<(Option<Verdict>, usize)> {
        self.expected.clear();
        ws_payload(op, &self.value, &mut self.expected);
        let expected = &self.expected;
        // An echo has no server-chosen token; the flow keeps its own handle.
        let handle = match *op {
            Op::Life { sess, .. } => Some(sess),
            _ => None,
        };
        self.framing.next_text(buf, out, |text| {
            if text == expected.as_slice() {
                Ok(handle)
            } else {
                Err("echo differs from the request".into())
            }
        })
    }
}

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

    fn payload(op: Op) -> String {
        let mut out = Vec::new();
        ws_payload(&op, b"vv", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ws_requests_are_the_protocol_commands() {
        assert_eq!(
            payload(Op::Life { step: 0, sess: 0 }),
            r#"{"SH_NEW":{"expiry":{"duration":3600}}}"#
        );
        assert_eq!(
            payload(Op::Set(5)),
            r#"{"SH_SET":{"tkn":5,"keys":{"k0":"vv","k1":"vv"}}}"#
        );
        assert_eq!(
            payload(Op::Get(18446744073709551615)),
            r#"{"SH_GET":{"tkn":18446744073709551615,"keys":["k0","k1"]}}"#
        );
        assert_eq!(
            payload(Op::Life { step: 3, sess: 9 }),
            r#"{"SH_END":{"tkn":9}}"#
        );
        assert_eq!(payload(Op::KvGet(3)), r#"{"KV_GET":{"keys":["kv:3"]}}"#);
        assert_eq!(
            payload(Op::KvSet(3)),
            r#"{"KV_SET":{"keys":{"kv:3":"vv"}}}"#
        );
        assert_eq!(payload(Op::KvDel(3)), r#"{"KV_RMV":{"keys":["kv:3"]}}"#);
        for op in [Op::Set(1), Op::Get(1), Op::KvSet(1)] {
            serde_json::from_str::<serde_json::Value>(&payload(op)).unwrap();
        }
    }

    fn server_text(text: &str) -> Vec<u8> {
        let mut v = vec![0x81, text.len() as u8];
        v.extend_from_slice(text.as_bytes());
        v
    }

    #[test]
    fn ws_codec_verifies_replies() {
        let mut c = WsCodec::new(b"vv".to_vec(), 1);
        let mut out = Vec::new();
        let new = Op::Life { step: 0, sess: 0 };
        let frame = server_text(r#"{"SH_NEW_RSP":{"st":1,"tkn":77}}"#);
        let (v, used) = c.reply(&frame, &new, &mut out).unwrap();
        assert_eq!(v, Some(Ok(Some(77))));
        assert_eq!(used, frame.len());
        let get = Op::Get(77);
        let good = server_text(r#"{"SH_GET_RSP":{"keys":{"k1":"vv","k0":"vv"},"st":1}}"#);
        assert_eq!(c.reply(&good, &get, &mut out).unwrap().0, Some(Ok(None)));
        let missing = server_text(r#"{"SH_GET_RSP":{"st":1,"keys":{"k0":"vv"}}}"#);
        assert!(matches!(
            c.reply(&missing, &get, &mut out).unwrap().0,
            Some(Err(_))
        ));
        let bad_st = server_text(r#"{"SH_SET_RSP":{"st":100}}"#);
        assert!(matches!(
            c.reply(&bad_st, &Op::Set(1), &mut out).unwrap().0,
            Some(Err(_))
        ));
        let end = server_text(r#"{"SH_END_RSP":{"st":1,"tkn":8}}"#);
        let life_end = Op::Life { step: 3, sess: 9 };
        assert!(matches!(
            c.reply(&end, &life_end, &mut out).unwrap().0,
            Some(Err(_))
        ));
    }

    #[test]
    fn canonical_replies_are_sessiondbs_and_agree_with_the_full_check() {
        // The replies as sessiondb renders them (captured from the server).
        let cases = [
            (
                Op::Life { step: 0, sess: 0 },
                r#"{"SH_NEW_RSP":{"st":1,"tkn":"#,
            ),
            (Op::Set(3), r#"{"SH_SET_RSP":{"st":1}}"#),
            (
                Op::Get(3),
                r#"{"SH_GET_RSP":{"st":1,"keys":{"k0":"vv","k1":"vv"}}}"#,
            ),
            (
                Op::Life { step: 3, sess: 42 },
                r#"{"SH_END_RSP":{"st":1,"tkn":42}}"#,
            ),
            (
                Op::KvGet(7),
                r#"{"KV_GET_RSP":{"st":1,"keys":{"kv:7":"vv"}}}"#,
            ),
            (Op::KvSet(7), r#"{"KV_SET_RSP":{"st":1}}"#),
            (Op::KvDel(7), r#"{"KV_RMV_RSP":{"st":1}}"#),
        ];
        let mut keys = Vec::new();
        for (op, want) in cases {
            let mut canonical = Vec::new();
            canonical_reply(&op, b"vv", &mut canonical);
            assert_eq!(String::from_utf8_lossy(&canonical), want, "{op:?}");
            let text = match op {
                Op::Life { step: 0, .. } => format!("{want}18446744073709551615}}}}"),
                _ => want.to_owned(),
            };
            let fast = canonical_verdict(text.as_bytes(), &op, &canonical);
            assert!(fast.is_some(), "{op:?}");
            assert_eq!(
                fast,
                Some(check_reply(text.as_bytes(), &op, 2, &mut keys)),
                "{op:?}"
            );
        }
    }

    #[test]
    fn anything_but_the_canonical_reply_gets_the_full_check() {
        let mut c = WsCodec::new(b"vv".to_vec(), 1);
        let reply = |c: &mut WsCodec, text: &str, op: Op| {
            let frame = server_text(text);
            c.reply(&frame, &op, &mut Vec::new()).unwrap().0
        };
        let new = Op::Life { step: 0, sess: 0 };
        // Tokens the quick check leaves to the full one, which refuses them: zero, a leading
        // zero (not JSON), too large, negative, not an integer.
        for tkn in ["0", "07", "18446744073709551616", "-5", "7.0"] {
            let text = format!(r#"{{"SH_NEW_RSP":{{"st":1,"tkn":{tkn}}}}}"#);
            let got = reply(&mut c, &text, new);
            assert!(matches!(got, Some(Err(_))), "{tkn}: {got:?}");
        }
        assert_eq!(c.full_checks(), 5);
        // Another member order, whitespace: valid, found by the full check.
        let get = Op::Get(1);
        let spaced = r#"{ "SH_GET_RSP" : { "keys":{"k1":"vv","k0":"vv"}, "st":1 } }"#;
        assert_eq!(reply(&mut c, spaced, get), Some(Ok(None)));
        // Other values of the same size pass the full check (it checks sizes); a wrong status,
        // a missing key, another session's token do not.
        let other = r#"{"SH_GET_RSP":{"st":1,"keys":{"k0":"ab","k1":"cd"}}}"#;
        assert_eq!(reply(&mut c, other, get), Some(Ok(None)));
        let wrong = r#"{"SH_GET_RSP":{"st":2,"keys":{"k0":"vv","k1":"vv"}}}"#;
        assert!(matches!(reply(&mut c, wrong, get), Some(Err(_))));
        let end = r#"{"SH_END_RSP":{"st":1,"tkn":41}}"#;
        assert!(matches!(
            reply(&mut c, end, Op::Life { step: 3, sess: 42 }),
            Some(Err(_))
        ));
        assert_eq!(c.full_checks(), 9);
        // The canonical reply costs no full check.
        let canonical = r#"{"SH_GET_RSP":{"st":1,"keys":{"k0":"vv","k1":"vv"}}}"#;
        assert_eq!(reply(&mut c, canonical, get), Some(Ok(None)));
        assert_eq!(c.full_checks(), 9);
    }

    #[test]
    fn ws_codec_answers_pings_without_a_verdict() {
        let mut c = WsCodec::new(b"vv".to_vec(), 1);
        let mut out = Vec::new();
        let (v, used) = c.reply(&[0x89, 1, b'p'], &Op::Get(1), &mut out).unwrap();
        assert_eq!((v, used), (None, 3));
        assert_eq!(out[0], 0x8A);
    }

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

    #[test]
    fn echo_codec_accepts_only_identical_text() {
        let mut c = EchoCodec::new(b"vv".to_vec(), 1);
        let mut out = Vec::new();
        let op = Op::KvGet(2);
        let same = server_text(r#"{"KV_GET":{"keys":["kv:2"]}}"#);
        assert_eq!(c.reply(&same, &op, &mut out).unwrap().0, Some(Ok(None)));
        let other = server_text(r#"{"KV_GET":{"keys":["kv:3"]}}"#);
        assert!(matches!(
            c.reply(&other, &op, &mut out).unwrap().0,
            Some(Err(_))
        ));
    }
}
