//! The WebSocket echo floor: sessiondb's transport with the dispatcher replaced by "reply with
//! the request's payload, same opcode".
//!
//! What a request costs in sessiondb's transport is here, rule for rule, and nothing else:
//! - the upgrade: tungstenite's handshake over [`HeadOnly`] on a [`ServerStream`], with the
//!   server's [`websocket_config`] (`sessiondb_server::connection::upgrade_connection`);
//! - frames: [`FrameReader`] over one reusable read buffer of the server's size, replies framed
//!   with [`frame::begin_text`]/[`frame::finish_text`] into the batch's output buffer;
//! - the connection loop (`connection::Connection::run`): read only when every complete frame
//!   has been taken, answer every complete request already received up to the server's batch
//!   bounds, one write per batch, the next read only after that write (backpressure), the same
//!   keep-alive pings, idle timeout and closing handshake;
//! - the runtime model (`transport::serve` and the `sessiondb` binary's `main`): one acceptor
//!   handing connections round-robin to `threads` current-thread runtimes, or serving them
//!   itself on a multi-thread runtime with `threads` = 0.
//!
//! Not here, because it is the server's work rather than transport: parsing, executing and
//! rendering requests, the store clock, per-reply metrics, the authentication and brute-force
//! policies, the connection limit, the durability wait, TLS and logging.
//!
//! The server's loop lives in private types built around its dispatcher; a hook general enough
//! for this loop would have to abstract the clock, policies, metrics and durability too, so the
//! loop is mirrored here instead and each part names the server function it follows.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sessiondb_server::connection::{
    close_and_drain, HANDSHAKE_TIMEOUT, MAX_BATCH_MESSAGES, MAX_BATCH_REPLY_BYTES,
    MAX_KEPT_OUTPUT_BYTES, READ_BUFFER_BYTES,
};
use sessiondb_server::frame::{self, Event, FrameReader, ReadError};
use sessiondb_server::shutdown::{shutdown_signal, Shutdown};
use sessiondb_server::tls::ServerStream;
use sessiondb_server::transport::{ping_interval, websocket_config};
use sessiondb_server::upgrade::HeadOnly;
use sessiondb_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Pause after a failed accept so the loop does not spin (as `transport::serve`).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Close code a peer's close frame gets back when its own code may not be echoed.
const CLOSE_PROTOCOL: u16 = 1002;

/// The server's default settings that shape a connection (`transport::serve` builds them from
/// its `Config` the same way).
#[derive(Clone, Copy)]
struct Settings {
    ws_config: WebSocketConfig,
    max_message_bytes: usize,
    idle_timeout: Option<Duration>,
    ping_interval: Duration,
}

impl Settings {
    fn server_defaults() -> Self {
        let config = Config::default();
        let idle_timeout =
            (config.idle_timeout_secs > 0).then(|| Duration::from_secs(config.idle_timeout_secs));
        Self {
            ws_config: websocket_config(&config),
            max_message_bytes: config.max_message_bytes,
            idle_timeout,
            ping_interval: ping_interval(idle_timeout),
        }
    }
}

/// Echoes on `listener` until `shutdown` completes, then closes every connection with 1001 and
/// waits for them. `threads` connection threads each run a current-thread runtime; with 0 the
/// connections run on the caller's runtime. Mirrors `sessiondb_server::transport::serve`.
pub async fn serve(
    listener: TcpListener,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let settings = Settings::server_defaults();
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all of them are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut workers = Workers::start(threads, settings, &stop_rx, &done_tx);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some((stream, peer)) = workers.hand_over(stream, peer) {
                        tokio::spawn(serve_connection(
                            stream,
                            peer,
                            settings,
                            stop_rx.clone(),
                            done_tx.clone(),
                        ));
                    }
                }
                Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
            },
        }
    }

    drop(listener);
    // Ignoring the error is right: it only means no receiver is left to tell.
    let _ = stop_tx.send(true);
    let threads = workers.finish();
    drop(done_tx);
    let _ = done_rx.recv().await;
    // The threads end once their connections have; joining them is a blocking call.
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count()
    })
    .await?;
    if joined > 0 {
        anyhow::bail!("{joined} connection thread(s) panicked");
    }
    Ok(())
}

/// A connection handed to a connection thread. The socket leaves the accepting runtime's
/// reactor and joins the thread's.
type Handoff = (std::net::TcpStream, SocketAddr);

/// Thread per core, as `transport::Workers`: connections are handed round-robin to threads
/// each running a single-threaded runtime.
struct Workers {
    senders: Vec<mpsc::UnboundedSender<Handoff>>,
    threads: Vec<JoinHandle<()>>,
    next: usize,
}

impl Workers {
    /// Starts `n` connection threads (none for 0); one that cannot start is left out.
    fn start(
        n: usize,
        settings: Settings,
        stop: &watch::Receiver<bool>,
        done: &mpsc::Sender<()>,
    ) -> Self {
        let mut workers = Self {
            senders: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let (stop, done) = (stop.clone(), done.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("echo-conn-{i}"))
                .spawn(move || connection_thread(rx, settings, stop, done));
            match spawned {
                Ok(thread) => {
                    workers.senders.push(tx);
                    workers.threads.push(thread);
                }
                Err(e) => eprintln!("sessiondb-echo: cannot start a connection thread: {e}"),
            }
        }
        workers
    }

    /// Hands a connection to the next thread; gives it back if there is none to take it.
    fn hand_over(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TcpStream, SocketAddr)> {
        let mut handoff = (stream.into_std().ok()?, peer);
        while !self.senders.is_empty() {
            let i = self.next % self.senders.len();
            self.next = self.next.wrapping_add(1);
            match self.senders[i].send(handoff) {
                Ok(()) => return None,
                Err(mpsc::error::SendError(back)) => {
                    // That thread's runtime is gone; stop handing it connections.
                    self.senders.swap_remove(i);
                    handoff = back;
                }
            }
        }
        let (std_stream, peer) = handoff;
        TcpStream::from_std(std_stream).ok().map(|s| (s, peer))
    }

    /// Stops handing out connections and returns the threads to join.
    fn finish(self) -> Vec<JoinHandle<()>> {
        drop(self.senders);
        self.threads
    }
}

/// Body of a connection thread (`transport::connection_thread`): serves what it is handed
/// until the accept loop is done, then until its connections have closed.
fn connection_thread(
    mut handed: mpsc::UnboundedReceiver<Handoff>,
    settings: Settings,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        // Dropping `handed` makes the accept loop serve this thread's share itself.
        Err(e) => return eprintln!("sessiondb-echo: cannot start a runtime: {e}"),
    };
    runtime.block_on(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                next = handed.recv() => {
                    let Some((std_stream, peer)) = next else { break };
                    if let Ok(stream) = TcpStream::from_std(std_stream) {
                        conns.spawn(serve_connection(
                            stream,
                            peer,
                            settings,
                            stop.clone(),
                            done.clone(),
                        ));
                    }
                }
                // Reaps finished connections so the set does not grow with every one served.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        while conns.join_next().await.is_some() {}
    });
}

/// Why a connection ended (`connection::End`, less the server's policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent a close frame.
    PeerClosed,
    /// The TCP connection broke or ended without a closing handshake.
    PeerGone,
    /// Shutting down (closed with 1001).
    Shutdown,
    /// Nothing arrived for the idle timeout (closed with 1000).
    Idle,
    /// A message exceeded the size limit (closed with 1009).
    TooBig,
    /// A text message was not valid UTF-8 (closed with 1007).
    InvalidUtf8,
    /// The client broke the WebSocket protocol (closed with 1002).
    ProtocolViolation,
    /// A binary message: the frame reader does not keep binary payloads (the server never
    /// needs them), so there is nothing to echo; closed with 1003 (RFC 6455 §7.4.1).
    Binary,
}

impl End {
    /// The close frame (code, reason) this ending sends, if we are the one closing.
    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::PeerClosed | End::PeerGone => None,
            End::Shutdown => Some((1001, "server shutting down")),
            End::Idle => Some((1000, "idle timeout")),
            End::TooBig => Some((1009, "message too big")),
            End::InvalidUtf8 => Some((1007, "invalid UTF-8")),
            End::ProtocolViolation => Some((CLOSE_PROTOCOL, "protocol error")),
            End::Binary => Some((1003, "binary messages are not echoed")),
        }
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

/// One batch's output (`connection::Batch`): echo frames, pongs and a close echo, written as
/// they are with one write; the server also keeps a mark per reply for its metrics, here only
/// their count is needed for the batch bound.
#[derive(Default)]
struct Batch {
    out: Vec<u8>,
    replies: usize,
}

impl Batch {
    /// Empties the batch for reuse, dropping an output buffer that large replies grew.
    fn clear(&mut self) {
        if self.out.capacity() > MAX_KEPT_OUTPUT_BYTES {
            self.out = Vec::new();
        }
        self.out.clear();
        self.replies = 0;
    }

    /// Appends a text frame carrying `text`, the way the server frames a reply: header room
    /// first, the payload appended, then the length filled in.
    fn echo(&mut self, text: &str) {
        let at = frame::begin_text(&mut self.out);
        self.out.extend_from_slice(text.as_bytes());
        frame::finish_text(&mut self.out, at);
        self.replies += 1;
    }

    fn is_full(&self) -> bool {
        self.replies >= MAX_BATCH_MESSAGES || self.out.len() >= MAX_BATCH_REPLY_BYTES
    }
}

/// How filling a batch stopped (`connection::Fill`).
enum Fill {
    /// Every complete frame was taken: read more before the next batch.
    NeedRead,
    /// The batch is full with frames still buffered: next batch without reading.
    Buffered,
    /// The connection ends after this batch's output is written.
    End(End),
}

/// Serves one accepted TCP connection (`connection::serve`) until it closes or shutdown.
async fn serve_connection(
    stream: TcpStream,
    _peer: SocketAddr,
    settings: Settings,
    stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let mut shutdown = shutdown_signal(stop);
    // Replies are written once per batch, so Nagle's delay would only add latency. Failing
    // to set it only costs latency.
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade(stream, settings.ws_config));
    let (stream, early) = tokio::select! {
        () = &mut shutdown => return,
        r = handshake => match r {
            Ok(Ok(upgraded)) => upgraded,
            Ok(Err(_)) | Err(_) => return,
        },
    };
    let mut conn = Connection {
        stream,
        reader: FrameReader::new(READ_BUFFER_BYTES, settings.max_message_bytes, &early),
        // Bytes that came with the upgrade request may already hold whole frames.
        need_read: early.is_empty(),
        batch: Batch::default(),
        last_rx: Instant::now(),
        settings,
    };
    conn.run(&mut shutdown).await;
}

/// The WebSocket upgrade (`connection::upgrade_connection` without TLS, the connection limit
/// and credentials): returns the stream and any bytes that followed the request head.
async fn upgrade(
    stream: TcpStream,
    ws_config: WebSocketConfig,
) -> Result<(ServerStream, Vec<u8>), WsError> {
    let ws = tokio_tungstenite::accept_async_with_config(
        HeadOnly::new(ServerStream::Plain(stream)),
        Some(ws_config),
    )
    .await?;
    Ok(ws.into_inner().into_parts())
}

/// One upgraded connection (`connection::Connection`).
struct Connection {
    stream: ServerStream,
    reader: FrameReader,
    /// Whether every complete frame has been taken, so the next batch needs a read first.
    need_read: bool,
    /// Reused from batch to batch.
    batch: Batch,
    /// When anything (a request, a ping, a pong) last arrived.
    last_rx: Instant,
    settings: Settings,
}

impl Connection {
    /// The loop of `Connection::run`: read when needed, fill a batch from what is buffered,
    /// write it with one write, repeat.
    async fn run(&mut self, shutdown: &mut Shutdown) -> End {
        let start = tokio::time::Instant::now() + self.settings.ping_interval;
        let mut keepalive = tokio::time::interval_at(start, self.settings.ping_interval);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.need_read {
                tokio::select! {
                    biased;
                    () = &mut *shutdown => return self.close(End::Shutdown).await,
                    read = self.stream.read(self.reader.spare()) => match read {
                        Ok(0) | Err(_) => return End::PeerGone,
                        Ok(n) => self.reader.filled(n),
                    },
                    _ = keepalive.tick() => {
                        if let Some(end) = self.keepalive(shutdown).await {
                            return end;
                        }
                        continue;
                    }
                }
            }
            self.batch.clear();
            // The server reads its batch clock here; the monotonic half is what the idle
            // timeout needs.
            self.last_rx = Instant::now();
            let fill = self.fill_batch();
            self.need_read = matches!(fill, Fill::NeedRead);
            if let Err(end) = self.write_batch(shutdown).await {
                return end;
            }
            if let Fill::End(end) = fill {
                return self.close(end).await;
            }
        }
    }

    /// `Connection::fill_batch` with the dispatcher replaced by an echo: handles the complete
    /// frames already read, up to the batch bounds.
    fn fill_batch(&mut self) -> Fill {
        loop {
            if self.batch.is_full() {
                return Fill::Buffered;
            }
            let event = match self.reader.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return Fill::NeedRead,
                Err(e) => return Fill::End(e.into()),
            };
            match event {
                Event::Text(text) => self.batch.echo(text),
                Event::Binary => return Fill::End(End::Binary),
                Event::Ping(payload) => frame::pong(&mut self.batch.out, payload),
                Event::Pong => {}
                Event::Close { code, payload } => {
                    // Echo the peer's close (RFC 6455 §5.5.1) after the replies to what it sent
                    // before it; a code that may not be sent back is answered with 1002.
                    match code {
                        Some(code) if !frame::close_code_allowed(code) => {
                            frame::close(&mut self.batch.out, CLOSE_PROTOCOL, "Protocol violation");
                        }
                        _ => frame::close_raw(&mut self.batch.out, payload),
                    }
                    return Fill::End(End::PeerClosed);
                }
            }
        }
    }

    /// `Connection::write_batch`: the batch's output with one write; a client that does not
    /// read holds us here (and is not read meanwhile) until it does or shutdown.
    async fn write_batch(&mut self, shutdown: &mut Shutdown) -> Result<(), End> {
        if self.batch.out.is_empty() {
            return Ok(());
        }
        let stream = &mut self.stream;
        let out = &self.batch.out;
        let send = async move {
            stream.write_all(out).await?;
            stream.flush().await
        };
        tokio::select! {
            // The write almost always completes at once: try it first (and skip the random
            // start an unbiased select draws each time).
            biased;
            r = send => r.map_err(|_| End::PeerGone),
            // The client is not reading; it cannot receive a close frame either.
            () = &mut *shutdown => Err(End::Shutdown),
        }
    }

    /// `Connection::keepalive`: close a connection silent for the idle timeout, else ping it.
    async fn keepalive(&mut self, shutdown: &mut Shutdown) -> Option<End> {
        if let Some(idle) = self.settings.idle_timeout {
            if self.last_rx.elapsed() >= idle {
                return Some(self.close(End::Idle).await);
            }
        }
        let mut ping = Vec::with_capacity(2);
        frame::ping(&mut ping);
        let stream = &mut self.stream;
        let send = async move {
            stream.write_all(&ping).await?;
            stream.flush().await
        };
        tokio::select! {
            r = send => r.err().map(|_| End::PeerGone),
            () = &mut *shutdown => Some(End::Shutdown),
        }
    }

    /// `Connection::close`: the close frame for `end`, then the server's own drain.
    async fn close(&mut self, end: End) -> End {
        let Some((code, reason)) = end.close_frame() else {
            return end;
        };
        // After an oversized frame or a framing error the stream is no longer at a frame
        // boundary, so what follows can only be discarded as raw bytes.
        let framed = !matches!(end, End::TooBig | End::ProtocolViolation);
        close_and_drain(&mut self.stream, &mut self.reader, code, reason, framed).await;
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_frames_use_the_shortest_length_encoding() {
        let mut batch = Batch::default();
        batch.echo("");
        batch.echo(&"a".repeat(125));
        batch.echo(&"b".repeat(126));
        let mut expected = vec![0x81, 0, 0x81, 125];
        expected.extend_from_slice("a".repeat(125).as_bytes());
        expected.extend_from_slice(&[0x81, 126, 0, 126]);
        expected.extend_from_slice("b".repeat(126).as_bytes());
        assert_eq!(batch.out, expected);
        assert_eq!(batch.replies, 3);
        batch.clear();
        assert!(batch.out.is_empty() && batch.replies == 0);
    }

    #[test]
    fn batch_is_full_at_either_bound() {
        let mut batch = Batch::default();
        for _ in 0..MAX_BATCH_MESSAGES - 1 {
            batch.echo("x");
        }
        assert!(!batch.is_full());
        batch.echo("x");
        assert!(batch.is_full());
        let mut big = Batch::default();
        // 10-byte header: one byte short of the bound.
        big.echo(&"x".repeat(MAX_BATCH_REPLY_BYTES - 11));
        assert_eq!(big.out.len(), MAX_BATCH_REPLY_BYTES - 1);
        assert!(!big.is_full());
        big.echo("x");
        assert!(big.is_full());
    }

    #[test]
    fn read_errors_map_to_close_codes() {
        let code = |e: ReadError| End::from(e).close_frame().map(|f| f.0);
        assert_eq!(code(ReadError::TooBig), Some(1009));
        assert_eq!(code(ReadError::InvalidUtf8), Some(1007));
        assert_eq!(code(ReadError::Protocol), Some(1002));
        assert_eq!(End::Binary.close_frame().map(|f| f.0), Some(1003));
        assert_eq!(End::PeerClosed.close_frame(), None);
    }
}
