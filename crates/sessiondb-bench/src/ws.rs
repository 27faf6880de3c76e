//! Hand-written WebSocket client framing (RFC 6455): the upgrade handshake, masked text frames
//! out, and incremental parsing of the server's frames in.
//!
//! Hand-written rather than tokio-tungstenite so that a pipelined batch of requests is encoded
//! into one buffer and written with one syscall, and replies are parsed in place from the read
//! buffer without a per-message allocation: the generator must not be the bottleneck.

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// Largest handshake response accepted before giving up (a real one is a few hundred bytes).
const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;

/// Opcodes of the frames this client handles.
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Performs the HTTP upgrade on `stream` for `path` at `host`; returns bytes the server sent
/// after the handshake (normally none), which belong to the frame stream.
pub async fn handshake(stream: &mut TcpStream, host: &str, path: &str) -> Result<Vec<u8>> {
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;

    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HANDSHAKE_BYTES {
            bail!("handshake response too large");
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("connection closed during the WebSocket handshake");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("handshake response is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        bail!("upgrade refused: {status}");
    }
    let expected = derive_accept_key(key.as_bytes());
    let accepted = lines
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == expected
        });
    if !accepted {
        bail!("upgrade response lacks the right Sec-WebSocket-Accept");
    }
    Ok(buf.split_off(head_end))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Appends one masked client frame with opcode `op` carrying `payload` to `out`.
pub fn encode_frame(op: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | op);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// Appends one masked text frame carrying `payload` to `out`.
pub fn encode_text(payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    encode_frame(OP_TEXT, payload, mask, out);
}

/// A complete message taken from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (reassembled if it was fragmented).
    Text(&'a [u8]),
    /// A binary message: never expected from the server, reported as an error by the caller.
    Binary,
    /// A ping: the caller must answer with a pong carrying `payload`.
    Ping(&'a [u8]),
    /// A close frame: the server is ending the connection.
    Close,
}

/// Incremental decoder of the server's frames, reassembling fragmented messages.
#[derive(Default)]
pub struct Decoder {
    /// Payload of a fragmented message collected so far.
    fragments: Vec<u8>,
    /// Opcode of the fragmented message being collected, if any.
    fragment_op: Option<u8>,
    /// Set when the last message returned was reassembled, so `fragments` must be cleared.
    fragments_returned: bool,
}

impl Decoder {
    /// Parses the next message from `buf`; returns it with the number of bytes consumed, or
    /// `None` when `buf` does not yet hold a complete message (`consumed` may still be > 0 when
    /// fragments were taken). Control frames are returned as they come.
    pub fn next<'a>(&'a mut self, buf: &'a [u8]) -> Result<(Option<Message<'a>>, usize)> {
        if self.fragments_returned {
            self.fragments.clear();
            self.fragments_returned = false;
        }
        let mut consumed = 0;
        loop {
            let Some((fin, op, payload_range, frame_len)) = parse_header(&buf[consumed..])? else {
                return Ok((None, consumed));
            };
            let start = consumed + payload_range.0;
            let end = consumed + payload_range.1;
            consumed += frame_len;
            let payload = &buf[start..end];
            match op {
                OP_PING => return Ok((Some(Message::Ping(payload)), consumed)),
                OP_PONG => continue,
                OP_CLOSE => return Ok((Some(Message::Close), consumed)),
                OP_TEXT | OP_BINARY if self.fragment_op.is_some() => {
                    bail!("new data frame inside a fragmented message")
                }
                OP_TEXT | OP_BINARY if fin => {
                    let msg = if op == OP_TEXT {
                        Message::Text(payload)
                    } else {
                        Message::Binary
                    };
                    return Ok((Some(msg), consumed));
                }
                OP_TEXT | OP_BINARY => {
                    self.fragment_op = Some(op);
                    self.fragments.extend_from_slice(payload);
                }
                OP_CONTINUATION => {
                    let Some(first_op) = self.fragment_op else {
                        bail!("continuation frame without a message to continue");
                    };
                    self.fragments.extend_from_slice(payload);
                    if fin {
                        self.fragment_op = None;
                        self.fragments_returned = true;
                        let msg = if first_op == OP_TEXT {
                            Message::Text(&self.fragments)
                        } else {
                            Message::Binary
                        };
                        return Ok((Some(msg), consumed));
                    }
                }
                other => bail!("unknown WebSocket opcode {other:#x}"),
            }
        }
    }
}

/// A complete frame's FIN bit, opcode, payload range and total length.
type FrameHeader = (bool, u8, (usize, usize), usize);

/// Parses one frame header at the start of `buf`, or `None` if the frame is not complete yet.
/// Server frames are unmasked (RFC 6455 §5.1).
fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let op = b0 & 0x0F;
    if b1 & 0x80 != 0 {
        bail!("server sent a masked frame");
    }
    let (len, mut header) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        small => (u64::from(small), 2),
    };
    let len = usize::try_from(len).map_err(|_| anyhow!("frame length {len} too large"))?;
    if buf.len() < header + len {
        return Ok(None);
    }
    let start = header;
    header += len;
    Ok(Some((fin, op, (start, header), header)))
}

/// Appends a masked pong answering a ping with `payload`.
pub fn encode_pong(payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    encode_frame(OP_PONG, payload, mask, out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![if fin { 0x80 } else { 0 } | op];
        if payload.len() < 126 {
            v.push(payload.len() as u8);
        } else {
            v.push(126);
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn masked_frame_unmasks_to_payload() {
        let mut out = Vec::new();
        let mask = [1, 2, 3, 4];
        encode_text(b"hello", mask, &mut out);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x80 | 5);
        assert_eq!(&out[2..6], &mask);
        let unmasked: Vec<u8> = out[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(unmasked, b"hello");
    }

    #[test]
    fn medium_frame_uses_16_bit_length() {
        let mut out = Vec::new();
        encode_text(&[b'a'; 300], [0; 4], &mut out);
        assert_eq!(out[1], 0x80 | 126);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 300);
        assert_eq!(out.len(), 4 + 4 + 300);
    }

    #[test]
    fn decodes_text_after_partial_input() {
        let frame = server_frame(true, OP_TEXT, &[b'x'; 200]);
        let mut d = Decoder::default();
        assert_eq!(d.next(&frame[..3]).unwrap(), (None, 0));
        assert_eq!(d.next(&frame[..150]).unwrap(), (None, 0));
        let (msg, used) = d.next(&frame).unwrap();
        assert_eq!(msg, Some(Message::Text(&[b'x'; 200][..])));
        assert_eq!(used, frame.len());
    }

    #[test]
    fn reassembles_fragments_and_passes_pings_through() {
        let mut buf = server_frame(false, OP_TEXT, b"ab");
        buf.extend(server_frame(true, OP_PING, b"p"));
        buf.extend(server_frame(true, OP_CONTINUATION, b"cd"));
        let mut d = Decoder::default();
        let (msg, used) = d.next(&buf).unwrap();
        assert_eq!(msg, Some(Message::Ping(b"p")));
        let rest = buf[used..].to_vec();
        let (msg, used2) = d.next(&rest).unwrap();
        assert_eq!(msg, Some(Message::Text(b"abcd")));
        assert_eq!(used2, rest.len());
    }

    #[test]
    fn rejects_masked_server_frames_and_stray_continuations() {
        let mut d = Decoder::default();
        assert!(d.next(&[0x81, 0x81, 0, 0, 0, 0, b'a']).is_err());
        let mut d = Decoder::default();
        assert!(d.next(&server_frame(true, OP_CONTINUATION, b"x")).is_err());
    }
}
