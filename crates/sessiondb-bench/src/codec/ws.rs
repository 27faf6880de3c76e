//! sessiondb over WebSocket: the JSON request texts (shared with the echo floor), WebSocket
//! framing, and the check of sessiondb's replies.

use super::{Codec, Verdict};
use crate::op::{Op, SESSION_EXPIRY_SECS, SESSION_KEYS};
use crate::resp::push_decimal;
use crate::verify::{check_ws_reply, Expect};
use crate::ws::{self, Decoder, Message};
use anyhow::{bail, Result};

/// The JSON request text for `op` (shared by the sessiondb and echo targets).
pub(super) fn ws_payload(op: &Op, value: &[u8], out: &mut Vec<u8>) {
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
pub(super) struct WsFraming {
    decoder: Decoder,
    /// Scratch buffer the JSON text is built in before it is masked into the output.
    scratch: Vec<u8>,
    rng: crate::op::Rng,
}

impl WsFraming {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            decoder: Decoder::default(),
            scratch: Vec::with_capacity(256),
            rng: crate::op::Rng::from_entropy(seed),
        }
    }

    fn mask(&mut self) -> [u8; 4] {
        (self.rng.next_u64() as u32).to_ne_bytes()
    }

    pub(super) fn encode(&mut self, op: &Op, value: &[u8], out: &mut Vec<u8>) {
        self.scratch.clear();
        ws_payload(op, value, &mut self.scratch);
        let mask = self.mask();
        ws::encode_text(&self.scratch, mask, out);
    }

    /// Runs `check` on the next text message; answers pings into `out`.
    pub(super) fn next_text(
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
/// a Redis reply or an echo (BENCHMARKS.md, "The generator"), and at pipeline 1 the generator's
/// core is nearly as busy as the server's, so sessiondb's rows partly measured the generator. A
/// reply equal to this text is correct as it stands (it says more than the full check asks: the
/// values' bytes too); any other text gets the full check.
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::server_text;
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
}
