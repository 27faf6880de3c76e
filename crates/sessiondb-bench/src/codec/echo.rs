//! The WebSocket echo floor: sessiondb's requests, each reply must equal its request.

use super::ws::{ws_payload, WsFraming};
use super::{Codec, Verdict};
use crate::op::Op;
use anyhow::Result;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::server_text;
    use super::*;

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
