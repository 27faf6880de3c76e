//! One WebSocket connection: read requests, hand them to a [`Handler`], write the replies in
//! request order, one write per batch (docs/PROTOCOL.md §2).
//!
//! The handler performs the HTTP upgrade; after it, frames are read and written by
//! [`crate::frame`]: requests are parsed in place in one reusable read buffer and replies are
//! framed straight into the batch's output buffer.
//!
//! Backpressure comes from the shape of the loop: the next batch is read only after the previous
//! one is written, so a client that never reads its replies stops being read and its memory is
//! bounded by one batch.
//!
//! The loop is generic over the handler so that the benchmark's echo floor (`sessiondb-echo`)
//! runs this very loop with a handler that only copies requests back.

mod batch;
mod batch_loop;
mod end;
mod handler;
mod settings;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use crate::frame::FrameReader;
use crate::shutdown::shutdown_signal;
use batch::Batch;
use batch_loop::Connection;

pub use handler::{Close, Handler, Reply, ReplyMark, Upgraded};
pub use settings::{ping_interval, websocket_config, ConnectionSettings};

/// Most requests taken into one batch before its replies are written.
pub const MAX_BATCH_MESSAGES: usize = 256;
/// A batch stops taking requests once its replies reach this size.
pub const MAX_BATCH_REPLY_BYTES: usize = 256 * 1024;
/// An output buffer grown past this by large replies is not kept for the next batch.
pub const MAX_KEPT_OUTPUT_BYTES: usize = 2 * MAX_BATCH_REPLY_BYTES;
/// A TCP connection must complete the WebSocket upgrade within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest we spend on a closing handshake (close frame out, peer's data drained).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-connection read buffer. Small, because it is allocated for every connection (10,000
/// idle connections × 8 KiB = 80 MiB); it grows for a larger message and shrinks back after.
pub const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Serves one accepted TCP connection with `handler` until it closes or `stop` turns true.
/// `_done` is held until then, so that whoever keeps its receiver can wait for every
/// connection to end.
pub async fn serve<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    settings: ConnectionSettings,
    stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let mut shutdown = shutdown_signal(stop);
    // Replies are written once per batch, so Nagle's delay would only add latency.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let handshake =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handler.upgrade(stream, peer, &settings));
    let upgraded = tokio::select! {
        () = &mut shutdown => return,
        r = handshake => match r {
            Ok(Ok(Some(upgraded))) => upgraded,
            // Answered over plain HTTP, or refused.
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "WebSocket upgrade failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "WebSocket upgrade timed out");
                return;
            }
        },
    };
    let Upgraded {
        stream,
        early,
        conn,
    } = upgraded;
    let mut connection = Connection {
        stream,
        reader: FrameReader::new(READ_BUFFER_BYTES, settings.max_message_bytes, &early),
        // Bytes that came with the upgrade request may already hold whole frames.
        need_read: early.is_empty(),
        batch: Batch::default(),
        peer,
        conn,
        last_rx: Instant::now(),
        delay: None,
        handler,
        settings,
    };
    let end = connection.run(&mut shutdown).await;
    info!(%peer, reason = ?end, "connection closed");
}
