//! The connection: two background tasks own the WebSocket and match replies to callers by position.
//!
//! The writer task takes requests from a channel, records the caller's reply slot at the back of
//! a FIFO, then sends the message; the reader task pops the front slot for every reply. The server
//! answers each request exactly once and in order (docs/PROTOCOL.md §2.4), so position is enough. Reading
//! and writing run in separate tasks so that a large pipelined batch can never deadlock: the
//! server stops reading when we are slow to read, and we keep reading while a write is pending.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::http::uri::{InvalidUri, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{ClientRequestBuilder, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Error, Result};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type ReplySlot = oneshot::Sender<Result<String>>;

/// How many requests may wait for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 4096;

/// Reply slots of requests already written, oldest first, and whether the connection is gone.
#[derive(Default)]
struct Pending {
    slots: VecDeque<ReplySlot>,
    closed: bool,
}

/// State shared by the handle and the two tasks.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled by the reader when the connection ends, so the writer lets go of the socket at
    /// once instead of keeping it half-open until the last handle is dropped.
    ended: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means another task panicked mid-update of a plain queue; the queue
        // itself is still consistent, so keep using it.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the connection closed and fails every request still waiting for a reply.
    fn close(&self) {
        let slots = {
            let mut p = self.lock();
            p.closed = true;
            std::mem::take(&mut p.slots)
        };
        for slot in slots {
            let _ = slot.send(Err(Error::Disconnected));
        }
    }
}

/// The handle side of a connection: sends request text, receives reply text.
#[derive(Clone)]
pub(crate) struct Conn {
    requests: mpsc::Sender<(String, ReplySlot)>,
    shared: Arc<Shared>,
}

impl Conn {
    /// Opens a WebSocket to `url` (credentials in it become HTTP Basic authentication) and starts
    /// the reader and writer tasks.
    pub(crate) async fn open(url: &str) -> Result<Conn> {
        // Replies have no size limit (docs/PROTOCOL.md §2.3): a KV_GET can return far more than the
        // server accepts, so the client does not cap incoming messages.
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let connect_error = |e| Error::Connect(Box::new(e));
        let (url, authorization) = crate::url::split_credentials(url);
        let uri: Uri = url
            .parse()
            .map_err(|e: InvalidUri| connect_error(e.into()))?;
        let mut request = ClientRequestBuilder::new(uri);
        if let Some(value) = authorization {
            request = request.with_header("Authorization", value);
        }
        let (socket, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(connect_error)?;
        let (sink, stream) = socket.split();
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_loop(rx, sink, shared.clone()));
        tokio::spawn(read_loop(stream, shared.clone()));
        Ok(Conn {
            requests: tx,
            shared,
        })
    }

    /// Queues one request for writing and returns the receiver of its reply text. Requests are
    /// written in the order this is called (and completes) on one task.
    pub(crate) async fn enqueue(&self, text: String) -> Result<oneshot::Receiver<Result<String>>> {
        let (slot, reply) = oneshot::channel();
        self.requests
            .send((text, slot))
            .await
            .map_err(|_| Error::Disconnected)?;
        Ok(reply)
    }

    /// Whether the connection is still open.
    pub(crate) fn is_connected(&self) -> bool {
        !self.shared.lock().closed && !self.requests.is_closed()
    }
}

/// Writes queued requests in order, flushing once per burst rather than once per message.
async fn write_loop(
    mut rx: mpsc::Receiver<(String, ReplySlot)>,
    mut sink: SplitSink<Socket, Message>,
    shared: Arc<Shared>,
) {
    loop {
        let first = tokio::select! {
            request = rx.recv() => request,
            () = shared.ended.notified() => None,
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        let mut ok = true;
        while let Some((text, slot)) = next.take() {
            {
                let mut p = shared.lock();
                if p.closed {
                    let _ = slot.send(Err(Error::Disconnected));
                    ok = false;
                    break;
                }
                // The slot goes in before the message leaves, so the reply always finds it.
                p.slots.push_back(slot);
            }
            if sink.feed(Message::text(text)).await.is_err() {
                ok = false;
                break;
            }
            next = rx.try_recv().ok();
        }
        if !ok || sink.flush().await.is_err() {
            break;
        }
    }
    // Every handle is gone, the socket failed, or the server closed: fail what is queued, then
    // finish the closing handshake and drop the socket.
    shared.close();
    rx.close();
    while let Ok((_, slot)) = rx.try_recv() {
        let _ = slot.send(Err(Error::Disconnected));
    }
    let _ = sink.close().await;
}

/// Hands each reply to the oldest waiting request until the connection ends.
async fn read_loop(mut stream: SplitStream<Socket>, shared: Arc<Shared>) {
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text.as_str().to_owned(),
            // Pings are answered by tungstenite itself; pongs and frames carry no reply.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Binary(_)) => {
                // Never sent by a conforming server; hand it over so the caller sees the fault
                // instead of every later reply shifting by one.
                deliver(&shared, Err(Error::Protocol("binary reply".into())));
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => break,
        };
        deliver(&shared, Ok(text));
    }
    shared.close();
    // `notify_one` keeps a permit if the writer is busy, so the wake-up is never lost.
    shared.ended.notify_one();
}

fn deliver(shared: &Shared, reply: Result<String>) {
    let slot = shared.lock().slots.pop_front();
    if let Some(slot) = slot {
        // The caller may have given up waiting (its future was dropped); the reply is still
        // consumed here so later replies stay matched.
        let _ = slot.send(reply);
    }
}
