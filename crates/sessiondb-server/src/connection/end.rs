//! Why a connection ends, and the close frame each ending sends.

use super::handler::Close;
use crate::frame::ReadError;

/// Close code a peer's close frame gets back when its own code may not be echoed.
pub(super) const CLOSE_PROTOCOL: u16 = 1002;

/// Why a connection ended (logged at close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The client sent a close frame.
    PeerClosed,
    /// The TCP connection broke or ended without a closing handshake.
    PeerGone,
    /// The server is shutting down (closed with 1001).
    Shutdown,
    /// Nothing arrived for the idle timeout (closed with 1000).
    Idle,
    /// A message exceeded the size limit (closed with 1009).
    TooBig,
    /// A text message was not valid UTF-8 (closed with 1007).
    InvalidUtf8,
    /// The client broke the WebSocket protocol (closed with 1002).
    ProtocolViolation,
    /// Deferred work failed without producing its reply (closed with 1011).
    Internal,
    /// The handler closed the connection (its policies, or a message it does not take).
    Handler(Close),
}

impl End {
    /// The close frame (code, reason) this ending sends, if the server is the one closing.
    pub(super) fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::PeerClosed | End::PeerGone => None,
            End::Shutdown => Some((1001, "server shutting down")),
            End::Idle => Some((1000, "idle timeout")),
            End::TooBig => Some((1009, "message too big")),
            End::InvalidUtf8 => Some((1007, "invalid UTF-8")),
            End::ProtocolViolation => Some((CLOSE_PROTOCOL, "protocol error")),
            End::Internal => Some((1011, "internal error")),
            End::Handler(close) => Some((close.code, close.reason)),
        }
    }

    /// Whether the stream is still at a frame boundary: after an oversized frame or a framing
    /// error, what follows can only be discarded as raw bytes.
    pub(super) fn at_frame_boundary(self) -> bool {
        !matches!(self, End::TooBig | End::ProtocolViolation)
    }
}

impl From<ReadError> for End {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::TooBig => End::TooBig,
            ReadError::InvalidUtf8 => End::InvalidUtf8,
            ReadError::Protocol => End::ProtocolViolation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_map_to_close_codes() {
        let code = |e: ReadError| End::from(e).close_frame().map(|f| f.0);
        assert_eq!(code(ReadError::TooBig), Some(1009));
        assert_eq!(code(ReadError::InvalidUtf8), Some(1007));
        assert_eq!(code(ReadError::Protocol), Some(1002));
        assert_eq!(End::Shutdown.close_frame().map(|f| f.0), Some(1001));
        assert_eq!(End::Idle.close_frame().map(|f| f.0), Some(1000));
        assert_eq!(End::PeerGone.close_frame(), None);
        let close = Close {
            code: 1008,
            reason: "policy",
        };
        assert_eq!(End::Handler(close).close_frame(), Some((1008, "policy")));
    }
}
