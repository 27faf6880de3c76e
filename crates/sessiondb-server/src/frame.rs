//! Server-side WebSocket framing (RFC 6455 §5) for the connection after its HTTP upgrade.
//!
//! Hand-written because the general-purpose path cost more than the requests themselves at
//! pipeline 16 (BENCHMARKS.md, "Profile of the hot path"): a `Message` per reply, a second UTF-8
//! validation of every reply and a zero-filled read buffer per read. Here frames are read into
//! one reusable buffer, unmasked and validated in place, and a text message in a single frame
//! reaches the dispatcher as a `&str` into that buffer; replies are framed by appending a header
//! and the payload to the batch's output buffer, which goes out with one write.
//!
//! No extensions are negotiated at the upgrade, so any RSV bit is a protocol violation.

use std::str;

/// Continuation frame.
const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
const OP_TEXT: u8 = 0x1;
/// Binary frame.
const OP_BINARY: u8 = 0x2;
/// Close frame.
const OP_CLOSE: u8 = 0x8;
/// Ping frame.
const OP_PING: u8 = 0x9;
/// Pong frame.
const OP_PONG: u8 = 0xA;

/// FIN bit of the first header byte.
const FIN: u8 = 0x80;
/// Longest control frame payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest header of a masked client frame: 2 + 8 (length) + 4 (mask).
const MAX_HEADER: usize = 14;

/// Why reading stopped for good; each maps to the close code the connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// A message is larger than the limit (1009).
    TooBig,
    /// A text message, or a close reason, is not UTF-8 (1007).
    InvalidUtf8,
    /// The peer broke RFC 6455 framing (1002).
    Protocol,
}

/// One complete thing the peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole text message, UTF-8 validated.
    Text(&'a str),
    /// A whole binary message (its content is never needed).
    Binary,
    /// A ping with its payload, to be echoed in a pong.
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// A close frame: its status code, if it has one, and the close payload as sent.
    Close {
        /// The status code, absent in an empty close frame.
        code: Option<u16>,
        /// The whole payload (code and reason), for echoing it.
        payload: &'a [u8],
    },
}

/// Reads client frames from bytes fed into one reusable buffer.
#[derive(Debug)]
pub struct FrameReader {
    /// Received bytes; `buf[start..end]` is not parsed yet. Zero-filled only when it grows.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Size the buffer returns to once empty, so one large message does not pin memory.
    base_capacity: usize,
    /// Payload of a fragmented message so far, and its opcode while one is in progress.
    fragments: Vec<u8>,
    fragmented: Option<u8>,
    /// Largest whole message accepted.
    max_message: usize,
}

impl FrameReader {
    /// A reader with a `capacity`-byte buffer holding `initial` (bytes that arrived with the
    /// upgrade request), accepting messages of up to `max_message` bytes.
    pub fn new(capacity: usize, max_message: usize, initial: &[u8]) -> Self {
        let mut buf = vec![0; capacity.max(initial.len())];
        buf[..initial.len()].copy_from_slice(initial);
        Self {
            buf,
            start: 0,
            end: initial.len(),
            base_capacity: capacity,
            fragments: Vec::new(),
            fragmented: None,
            max_message,
        }
    }

    /// Free space to read into; makes room first (compacting, then growing up to what the
    /// frame being received needs).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > self.base_capacity {
                self.buf.truncate(self.base_capacity);
                self.buf.shrink_to_fit();
            }
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // Full of one incomplete frame: its header passed the size check, so growing
                // is bounded by the message limit. A zero-capacity buffer grows to a header's
                // room, else doubling it would leave no room at all.
                let want = self
                    .pending_frame_len()
                    .unwrap_or(0)
                    .max(self.buf.len() * 2)
                    .max(MAX_HEADER);
                let cap = self
                    .max_message
                    .saturating_add(MAX_HEADER)
                    .max(self.buf.len() + 1);
                self.buf.resize(want.min(cap), 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`FrameReader::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes received and not yet consumed as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Header plus payload length of the frame at the front of the buffer, once its header
    /// has arrived.
    fn pending_frame_len(&self) -> Option<usize> {
        let head = self.buf.get(self.start..self.end)?;
        parse_header(head).ok().flatten().map(|h| h.len + h.payload)
    }

    /// The next complete event, `Ok(None)` if more bytes must be read first. Fragments are
    /// collected until their message is complete.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, ReadError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            let Some(h) = parse_header(avail)? else {
                return Ok(None);
            };
            self.check(&h)?;
            if avail.len() < h.len + h.payload {
                return Ok(None);
            }
            let at = self.start + h.len;
            let range = at..at + h.payload;
            self.start = range.end;
            unmask(&mut self.buf[range.clone()], h.mask);
            match h.opcode {
                OP_TEXT | OP_BINARY if h.fin => {
                    return if h.opcode == OP_TEXT {
                        str::from_utf8(&self.buf[range])
                            .map(|text| Some(Event::Text(text)))
                            .map_err(|_| ReadError::InvalidUtf8)
                    } else {
                        Ok(Some(Event::Binary))
                    };
                }
                OP_TEXT | OP_BINARY => {
                    // A large previous message's buffer is not kept for the next one.
                    if self.fragments.capacity() > self.base_capacity {
                        self.fragments = Vec::new();
                    }
                    self.fragments.clear();
                    self.fragments.extend_from_slice(&self.buf[range]);
                    self.fragmented = Some(h.opcode);
                }
                OP_CONTINUATION => {
                    self.fragments.extend_from_slice(&self.buf[range]);
                    if h.fin {
                        let opcode = self.fragmented.take();
                        return if opcode == Some(OP_TEXT) {
                            str::from_utf8(&self.fragments)
                                .map(|text| Some(Event::Text(text)))
                                .map_err(|_| ReadError::InvalidUtf8)
                        } else {
                            Ok(Some(Event::Binary))
                        };
                    }
                }
                OP_PING => return Ok(Some(Event::Ping(&self.buf[range]))),
                OP_PONG => return Ok(Some(Event::Pong)),
                // The only opcode left after `check`.
                _ => return close_event(&self.buf[range]).map(Some),
            }
        }
    }

    /// Frame rules that depend on the message in progress, checked from the header alone so
    /// an oversized message is refused before its payload is read.
    fn check(&self, h: &Header) -> Result<(), ReadError> {
        match h.opcode {
            OP_TEXT | OP_BINARY if self.fragmented.is_some() => Err(ReadError::Protocol),
            OP_CONTINUATION if self.fragmented.is_none() => Err(ReadError::Protocol),
            OP_TEXT | OP_BINARY if h.payload > self.max_message => Err(ReadError::TooBig),
            OP_CONTINUATION
                if h.payload > self.max_message.saturating_sub(self.fragments.len()) =>
            {
                Err(ReadError::TooBig)
            }
            OP_TEXT | OP_BINARY | OP_CONTINUATION => Ok(()),
            OP_CLOSE | OP_PING | OP_PONG if h.fin && h.payload <= MAX_CONTROL_PAYLOAD => Ok(()),
            _ => Err(ReadError::Protocol),
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header length in bytes.
    len: usize,
    /// Payload length in bytes.
    payload: usize,
}

/// Parses the header at the start of `b`; `Ok(None)` until all of it has arrived. Client frames
/// must be masked and use no RSV bits.
fn parse_header(b: &[u8]) -> Result<Option<Header>, ReadError> {
    let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 || b1 & 0x80 == 0 {
        return Err(ReadError::Protocol);
    }
    let (payload, at) = match b1 & 0x7F {
        126 => match b.get(2..4) {
            Some(n) => (u64::from(u16::from_be_bytes([n[0], n[1]])), 4),
            None => return Ok(None),
        },
        127 => match b.get(2..10).and_then(|n| <[u8; 8]>::try_from(n).ok()) {
            // The most significant bit must be 0 (RFC 6455 §5.2).
            Some(n) if n[0] & 0x80 != 0 => return Err(ReadError::Protocol),
            Some(n) => (u64::from_be_bytes(n), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let Some(mask) = b.get(at..at + 4).and_then(|m| <[u8; 4]>::try_from(m).ok()) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin: b0 & FIN != 0,
        opcode: b0 & 0x0F,
        mask,
        len: at + 4,
        // Beyond the address space is beyond any limit.
        payload: usize::try_from(payload).unwrap_or(usize::MAX),
    }))
}

/// A close frame's event: empty, or a code followed by a UTF-8 reason.
fn close_event(payload: &[u8]) -> Result<Event<'_>, ReadError> {
    match payload {
        [] => Ok(Event::Close {
            code: None,
            payload,
        }),
        [_] => Err(ReadError::Protocol),
        [hi, lo, reason @ ..] => {
            str::from_utf8(reason).map_err(|_| ReadError::InvalidUtf8)?;
            Ok(Event::Close {
                code: Some(u16::from_be_bytes([*hi, *lo])),
                payload,
            })
        }
    }
}

/// XORs `data` with the repeating 4-byte `mask`, eight bytes at a time.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Chunks of 8 keep the mask aligned: the tail starts at mask index 0.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Whether a peer's close code may be echoed (RFC 6455 §7.4): the defined codes a peer may
/// send, and the registered and private ranges.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Starts a server text frame in `out` (server frames are not masked) and returns where it
/// begins; append the payload, then call [`finish_text`].
pub fn begin_text(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    // Room for the 2-byte header of a payload up to 125 bytes, the usual reply.
    out.extend_from_slice(&[FIN | OP_TEXT, 0]);
    at
}

/// Completes the frame begun at `at`: writes the payload length, moving the payload up when
/// it needs the 4- or 10-byte header. Returns where the payload now starts.
pub fn finish_text(out: &mut Vec<u8>, at: usize) -> usize {
    let len = out.len() - at - 2;
    let mut header = [0u8; 10];
    header[0] = FIN | OP_TEXT;
    let header_len = length_field(&mut header, len);
    if header_len > 2 {
        // Rare (replies over 125 bytes): one move of the payload.
        out.splice(at + 2..at + 2, std::iter::repeat_n(0, header_len - 2));
    }
    out[at..at + header_len].copy_from_slice(&header[..header_len]);
    at + header_len
}

/// Writes the length byte(s) for `len` into `header[1..]`; returns the header length.
fn length_field(header: &mut [u8; 10], len: usize) -> usize {
    if len <= 125 {
        header[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// Appends a whole control frame (`payload` at most 125 bytes, longer is cut).
fn control(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    out.extend_from_slice(&[FIN | opcode, payload.len() as u8]);
    out.extend_from_slice(payload);
}

/// Appends a pong echoing `payload`.
pub fn pong(out: &mut Vec<u8>, payload: &[u8]) {
    control(out, OP_PONG, payload);
}

/// Appends an empty ping.
pub fn ping(out: &mut Vec<u8>) {
    control(out, OP_PING, &[]);
}

/// Appends a close frame with `code` and `reason`.
pub fn close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    control(out, OP_CLOSE, &payload);
}

/// Appends a close frame with exactly `payload` (an echo of the peer's).
pub fn close_raw(out: &mut Vec<u8>, payload: &[u8]) {
    control(out, OP_CLOSE, payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut header = [0u8; 10];
        let n = length_field(&mut header, payload.len());
        let mut out = header[..n].to_vec();
        out[0] = first;
        out[1] |= 0x80;
        out.extend_from_slice(&MASK);
        let mut body = payload.to_vec();
        unmask(&mut body, MASK);
        out.extend_from_slice(&body);
        out
    }

    fn reader(bytes: &[u8]) -> FrameReader {
        FrameReader::new(16, 1 << 20, bytes)
    }

    #[test]
    fn unmasks_a_text_frame_of_every_length_class() {
        for len in [0, 1, 7, 8, 9, 125, 126, 65_535, 65_536, 100_000] {
            let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let frame = client_frame(FIN | OP_TEXT, text.as_bytes());
            let mut r = reader(&frame);
            assert_eq!(r.next_event(), Ok(Some(Event::Text(&text))), "{len}");
            assert_eq!(r.next_event(), Ok(None));
        }
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let frame = client_frame(FIN | OP_TEXT, &[b'a'; 300]);
        let mut r = FrameReader::new(8, 1 << 20, &[]);
        // Fed at most 5 bytes per read, as a slow socket would; the buffer grows to the frame.
        let mut sent = 0;
        while sent < frame.len() {
            assert_eq!(r.next_event(), Ok(None));
            let spare = r.spare();
            let n = spare.len().min(5).min(frame.len() - sent);
            assert!(n > 0, "no room to read into");
            spare[..n].copy_from_slice(&frame[sent..sent + n]);
            r.filled(n);
            sent += n;
        }
        let text = "a".repeat(300);
        assert_eq!(r.next_event(), Ok(Some(Event::Text(&text))));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_zero_capacity_reader_still_makes_room() {
        // Found by tests/frame_props.rs: `spare()` was empty for ever, so a read into it
        // would return 0 bytes and look like the peer hanging up.
        let frame = client_frame(FIN | OP_TEXT, b"hi");
        let mut r = FrameReader::new(0, 1 << 20, &[]);
        for (i, &byte) in frame.iter().enumerate() {
            assert_eq!(r.next_event(), Ok(None));
            let spare = r.spare();
            assert!(!spare.is_empty(), "no room after {i} bytes");
            spare[0] = byte;
            r.filled(1);
        }
        assert_eq!(r.next_event(), Ok(Some(Event::Text("hi"))));
        assert!(!r.spare().is_empty());
    }

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut bytes = client_frame(OP_TEXT, b"{\"KV_");
        bytes.extend(client_frame(FIN | OP_PING, b"hi"));
        bytes.extend(client_frame(OP_CONTINUATION, b"COUNT\":"));
        bytes.extend(client_frame(FIN | OP_CONTINUATION, b"{}}"));
        let mut r = reader(&bytes);
        assert_eq!(r.next_event(), Ok(Some(Event::Ping(b"hi"))));
        assert_eq!(r.next_event(), Ok(Some(Event::Text(r#"{"KV_COUNT":{}}"#))));
        assert_eq!(r.next_event(), Ok(None));
    }

    #[test]
    fn size_limit_applies_to_the_whole_message_from_headers() {
        let mut r = FrameReader::new(16, 10, &client_frame(FIN | OP_TEXT, &[b'a'; 10]));
        assert_eq!(r.next_event(), Ok(Some(Event::Text("aaaaaaaaaa"))));
        // Only the header of the oversized frame is needed to refuse it.
        let frame = client_frame(FIN | OP_TEXT, &[b'a'; 11]);
        assert_eq!(
            FrameReader::new(16, 10, &frame[..6]).next_event(),
            Err(ReadError::TooBig)
        );
        let mut bytes = client_frame(OP_TEXT, &[b'a'; 6]);
        bytes.extend(client_frame(FIN | OP_CONTINUATION, &[b'a'; 5]));
        assert_eq!(
            FrameReader::new(16, 10, &bytes).next_event(),
            Err(ReadError::TooBig)
        );
    }

    #[test]
    fn invalid_utf8_is_refused_whole_or_fragmented() {
        let frame = client_frame(FIN | OP_TEXT, &[b'"', 0xFF, b'"']);
        assert_eq!(reader(&frame).next_event(), Err(ReadError::InvalidUtf8));
        let mut bytes = client_frame(OP_TEXT, &[b'a', 0xC3]);
        bytes.extend(client_frame(FIN | OP_CONTINUATION, &[0xC3, b'(']));
        assert_eq!(reader(&bytes).next_event(), Err(ReadError::InvalidUtf8));
        // A character split across fragments is fine.
        let mut bytes = client_frame(OP_TEXT, &[b'a', 0xC3]);
        bytes.extend(client_frame(FIN | OP_CONTINUATION, &[0xA9]));
        assert_eq!(reader(&bytes).next_event(), Ok(Some(Event::Text("aé"))));
    }

    #[test]
    fn protocol_violations_are_refused() {
        let unmasked = [FIN | OP_TEXT, 1, b'a'];
        let rsv = client_frame(FIN | 0x40 | OP_TEXT, b"a");
        let unknown_opcode = client_frame(FIN | 0x3, b"a");
        let stray_continuation = client_frame(FIN | OP_CONTINUATION, b"a");
        let fragmented_ping = client_frame(OP_PING, b"a");
        let long_ping = client_frame(FIN | OP_PING, &[0; 126]);
        let one_byte_close = client_frame(FIN | OP_CLOSE, &[3]);
        let mut interleaved = client_frame(OP_TEXT, b"a");
        interleaved.extend(client_frame(FIN | OP_TEXT, b"b"));
        let mut huge = vec![FIN | OP_TEXT, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
        huge.extend_from_slice(&MASK);
        for bytes in [
            &unmasked[..],
            &rsv,
            &unknown_opcode,
            &stray_continuation,
            &fragmented_ping,
            &long_ping,
            &one_byte_close,
            &interleaved,
            &huge,
        ] {
            assert_eq!(
                reader(bytes).next_event(),
                Err(ReadError::Protocol),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn close_frames_carry_code_and_payload() {
        let empty = client_frame(FIN | OP_CLOSE, b"");
        assert_eq!(
            reader(&empty).next_event(),
            Ok(Some(Event::Close {
                code: None,
                payload: b""
            }))
        );
        let bye = client_frame(FIN | OP_CLOSE, b"\x03\xe8bye");
        assert_eq!(
            reader(&bye).next_event(),
            Ok(Some(Event::Close {
                code: Some(1000),
                payload: b"\x03\xe8bye"
            }))
        );
        let bad_reason = client_frame(FIN | OP_CLOSE, b"\x03\xe8\xff");
        assert_eq!(
            reader(&bad_reason).next_event(),
            Err(ReadError::InvalidUtf8)
        );
        assert!(close_code_allowed(1000) && close_code_allowed(4999));
        assert!(!close_code_allowed(1005) && !close_code_allowed(1006) && !close_code_allowed(999));
    }

    #[test]
    fn server_frames_use_the_shortest_length_encoding() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let mut out = b"earlier".to_vec();
            let at = begin_text(&mut out);
            out.extend(std::iter::repeat_n(b'x', len));
            let payload_at = finish_text(&mut out, at);
            assert_eq!(payload_at - at, header, "{len}");
            assert_eq!(out.len(), 7 + header + len);
            assert_eq!(out[at], 0x81);
            let h = parse_header(&{
                // Reuse the client parser by setting the mask bit and a zero mask.
                let mut masked = out[at..payload_at].to_vec();
                masked[1] |= 0x80;
                masked.extend_from_slice(&[0; 4]);
                masked
            });
            assert_eq!(h.map(|h| h.map(|h| h.payload)), Ok(Some(len)));
            assert!(out[payload_at..].iter().all(|&b| b == b'x'));
        }
        let mut out = Vec::new();
        close(&mut out, 1009, "message too big");
        assert_eq!(&out[..4], &[0x88, 17, 0x03, 0xf1]);
        let mut out = Vec::new();
        ping(&mut out);
        pong(&mut out, b"ab");
        assert_eq!(out, [0x89, 0, 0x8A, 2, b'a', b'b']);
    }
}
