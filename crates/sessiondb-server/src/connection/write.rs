//! Writing to a connection outside its batches: keep-alive pings and the closing handshake.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::end::End;
use super::CLOSE_TIMEOUT;
use crate::frame::{self, Event, FrameReader};
use crate::shutdown::Shutdown;
use crate::tls::ServerStream;

/// Sends a keep-alive ping; the ending if that fails or the server shuts down meanwhile.
pub(super) async fn ping(stream: &mut ServerStream, shutdown: &mut Shutdown) -> Option<End> {
    let mut ping = Vec::with_capacity(2);
    frame::ping(&mut ping);
    let send = async move {
        stream.write_all(&ping).await?;
        stream.flush().await
    };
    tokio::select! {
        r = send => r.err().map(|_| End::PeerGone),
        () = &mut *shutdown => Some(End::Shutdown),
    }
}

/// Sends the close frame of `end` (if the server is the one closing) and drains the client.
pub(super) async fn close(stream: &mut ServerStream, reader: &mut FrameReader, end: End) -> End {
    if let Some((code, reason)) = end.close_frame() {
        close_and_drain(stream, reader, code, reason, end.at_frame_boundary()).await;
    }
    end
}

/// Sends a close frame (`code`, `reason`), then drains what the client still sends until it
/// closes, so our close frame is not destroyed by a TCP reset (closing a socket with unread data
/// resets it, and an oversized message is mostly unread). `framed`: the stream is still at a
/// frame boundary, so the drain ends at the client's close frame; otherwise raw bytes are
/// discarded until EOF. Bounded by [`CLOSE_TIMEOUT`].
async fn close_and_drain(
    stream: &mut ServerStream,
    reader: &mut FrameReader,
    code: u16,
    reason: &str,
    framed: bool,
) {
    let mut out = Vec::new();
    frame::close(&mut out, code, reason);
    let closing = async move {
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        // Nothing more goes out after a close frame, so half-closing tells the client at once.
        if stream.shutdown().await.is_err() {
            return;
        }
        if framed {
            // Ends at the client's close frame (the handshake is complete) or its EOF.
            loop {
                loop {
                    match reader.next_event() {
                        Ok(Some(Event::Close { .. })) | Err(_) => return,
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                    }
                }
                match stream.read(reader.spare()).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => reader.filled(n),
                }
            }
        } else {
            let mut sink = [0u8; 4096];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}
