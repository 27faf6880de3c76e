//! A stream wrapper for the HTTP upgrade: it hands the handshake exactly the request head and
//! keeps whatever followed it (WebSocket frames a client sent without waiting for the 101), so
//! the connection's own frame reader starts with those bytes instead of losing them inside
//! tungstenite's read buffer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Buffer for reads while the request head is incomplete.
const CHUNK: usize = 4096;

/// Wraps the connection's stream during the upgrade; see the module documentation.
#[derive(Debug)]
pub struct HeadOnly<S> {
    inner: S,
    /// Bytes read from `inner` and not yet handed out: `buf[at..]`.
    buf: Vec<u8>,
    at: usize,
    /// The last two bytes handed out, to find the blank line that ends the head.
    last: [u8; 2],
    /// Whether the blank line ending the head has been handed out.
    head_done: bool,
}

impl<S> HeadOnly<S> {
    /// Wraps `inner` before the request head is read.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            at: 0,
            last: [0; 2],
            head_done: false,
        }
    }

    /// Wraps `inner` after `read` was already read from it (the request head, and maybe what
    /// followed it): reads hand those bytes out first.
    pub fn with_read(inner: S, read: Vec<u8>) -> Self {
        Self {
            inner,
            buf: read,
            at: 0,
            last: [0; 2],
            head_done: false,
        }
    }

    /// The stream and the bytes received after the request head.
    pub fn into_parts(mut self) -> (S, Vec<u8>) {
        let rest = self.buf.split_off(self.at);
        (self.inner, rest)
    }
}

/// How many of `bytes` belong to the head: all of them, or up to and including the `\n` of the
/// blank line (`\r\n\r\n`, or a bare `\n\n`, which HTTP parsers also accept). `last` holds the
/// two bytes before `bytes`; `done` is set once the blank line is found.
fn head_part(last: &mut [u8; 2], done: &mut bool, bytes: &[u8]) -> usize {
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (last[1] == b'\n' || *last == *b"\n\r") {
            *done = true;
            return i + 1;
        }
        *last = [last[1], b];
    }
    bytes.len()
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadOnly<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.head_done {
            // The handshake has its whole head (it reads no further); the rest is kept for the
            // frame reader.
            return Poll::Pending;
        }
        if this.at == this.buf.len() {
            this.buf.resize(CHUNK, 0);
            this.at = 0;
            let mut rb = ReadBuf::new(&mut this.buf);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.buf.truncate(n);
            ready!(polled)?;
        }
        let room = (this.buf.len() - this.at).min(out.remaining());
        let avail = &this.buf[this.at..this.at + room];
        let take = head_part(&mut this.last, &mut this.head_done, avail);
        out.put_slice(&this.buf[this.at..this.at + take]);
        this.at += take;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadOnly<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn hands_out_the_head_and_keeps_the_rest() -> io::Result<()> {
        let sent = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85frame".to_vec();
        let mut s = HeadOnly::new(&sent[..]);
        let mut head = Vec::new();
        let mut chunk = [0u8; 5];
        // Reading past the head would wait forever: stop at its end, as a handshake does.
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut chunk).await?;
            assert!(n > 0, "stream ended inside the head");
            head.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let (_, rest) = s.into_parts();
        assert_eq!(rest, b"\x81\x85frame");
        Ok(())
    }

    #[tokio::test]
    async fn bare_line_feeds_end_the_head_too() -> io::Result<()> {
        let sent = b"GET / HTTP/1.1\nHost: x\n\nrest".to_vec();
        let mut s = HeadOnly::new(&sent[..]);
        let mut head = vec![0u8; 64];
        let n = s.read(&mut head).await?;
        assert_eq!(&head[..n], b"GET / HTTP/1.1\nHost: x\n\n");
        assert_eq!(s.into_parts().1, b"rest");
        Ok(())
    }
}
