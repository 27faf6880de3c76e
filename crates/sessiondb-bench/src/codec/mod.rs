//! Per-target encoding of operations and verification of their replies.
//!
//! A codec turns an [`Op`] into wire bytes and checks the matching reply. A reply that arrives
//! intact but says the wrong thing is a *verification failure* (counted, the run goes on); bytes
//! that cannot be parsed at all are a protocol error that ends the connection.

mod echo;
mod resp;
mod ws;

use crate::op::Op;
use anyhow::Result;

pub use echo::EchoCodec;
pub use resp::RespCodec;
pub use ws::WsCodec;

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

/// A text frame as a server sends it (unmasked, payload under 126 bytes).
#[cfg(test)]
fn server_text(text: &str) -> Vec<u8> {
    let mut v = vec![0x81, u8::try_from(text.len()).unwrap_or(u8::MAX)];
    v.extend_from_slice(text.as_bytes());
    v
}
