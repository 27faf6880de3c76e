//! One WebSocket connection: read requests, hand them to the dispatcher, write the replies in
//! request order, one write per batch (docs/PROTOCOL.md §2).
//!
//! tungstenite performs the HTTP upgrade (with the connection limit and the credential check);
//! after it, frames are read and written by [`crate::frame`]: requests are parsed in place in one
//! reusable read buffer and replies are framed straight into the batch's output buffer.
//!
//! Backpressure comes from the shape of the loop: the next batch is read only after the previous
//! one is written, so a client that never reads its replies stops being read and its memory is
//! bounded by one batch.
//!
//! The buffer, batch and timeout constants are public so that the benchmark's echo floor
//! (`sessiondb-echo`, which mirrors this loop without a dispatcher) uses the same values.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiondb_service::{ConnState, DeferredWork, Handled, ReplyHead, Service, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tracing::{debug, error, info};

use crate::auth::UpgradeAuth;
use crate::frame::{self, Event, FrameReader, ReadError};
use crate::http::{self, HeadError};
use crate::limits::{ConnectionPermit, ProbeGuard, ProbeVerdict};
use crate::metrics::{Metrics, Refusal};
use crate::ops::Ops;
use crate::shutdown::{shutdown_signal, Shutdown};
use crate::stats::Stats;
use crate::tls::ServerStream;
use crate::upgrade::HeadOnly;

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
/// Close code a peer's close frame gets back when its own code may not be echoed.
const CLOSE_PROTOCOL: u16 = 1002;

/// What every connection of one server shares.
pub(crate) struct ConnCtx {
    pub(crate) dispatcher: Arc<Service>,
    pub(crate) stats: Arc<Stats>,
    /// Settings of the HTTP upgrade (tungstenite's; frames are ours after it).
    pub(crate) ws_config: WebSocketConfig,
    /// Largest whole message accepted (`--max-message-bytes`).
    pub(crate) max_message_bytes: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) ping_interval: Duration,
    pub(crate) ops: Ops,
}

/// Why a connection ended (logged at close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
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
    /// Too many failed authentication attempts (closed with 1008).
    AuthFailures,
    /// Too many requests naming unknown tokens or names (closed with 1008).
    Probing,
}

impl End {
    /// The close frame (code, reason) this ending sends, if the server is the one closing.
    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::PeerClosed | End::PeerGone => None,
            End::Shutdown => Some((1001, "server shutting down")),
            End::Idle => Some((1000, "idle timeout")),
            End::TooBig => Some((1009, "message too big")),
            End::InvalidUtf8 => Some((1007, "invalid UTF-8")),
            End::ProtocolViolation => Some((CLOSE_PROTOCOL, "protocol error")),
            End::Internal => Some((1011, "internal error")),
            End::AuthFailures => Some((1008, "too many failed authentication attempts")),
            End::Probing => Some((1008, "too many requests for unknown sessions")),
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

/// "Now" for one batch: read once when it starts (and again after deferred work, which can take
/// long), not once per request: at high pipelining, clock reads were a visible share of the
/// server's time (BENCHMARKS.md, transport hot path).
#[derive(Debug, Clone, Copy)]
struct BatchClock {
    /// Monotonic time, for the idle timeout, the brute-force guard and latency.
    at: Instant,
    /// The dispatcher's wall clock in Unix ms, for expiry.
    now_ms: u64,
}

impl BatchClock {
    fn read(dispatcher: &Service) -> Self {
        Self {
            at: Instant::now(),
            now_ms: dispatcher.settings().clock.now_ms(),
        }
    }
}

/// One reply of a batch: what it was, and (for deferred work, timed on its own) how long it
/// took.
struct ReplyMark {
    head: ReplyHead,
    took: Option<Duration>,
}

/// One batch's output: reply frames (and pongs, and a close echo) ready to be written as they
/// are, and what each reply was.
#[derive(Default)]
struct Batch {
    out: Vec<u8>,
    replies: Vec<ReplyMark>,
}

impl Batch {
    /// Empties the batch for reuse, dropping an output buffer that large replies grew.
    fn clear(&mut self) {
        if self.out.capacity() > MAX_KEPT_OUTPUT_BYTES {
            self.out = Vec::new();
        }
        self.out.clear();
        self.replies.clear();
    }

    /// Starts a reply frame; the reply's JSON is appended to `out` after this.
    fn begin_reply(&mut self) -> usize {
        frame::begin_text(&mut self.out)
    }

    /// Completes the reply frame begun at `at`, described by `head`.
    fn end_reply(&mut self, at: usize, head: ReplyHead, took: Option<Duration>) {
        frame::finish_text(&mut self.out, at);
        self.replies.push(ReplyMark { head, took });
    }

    fn is_full(&self) -> bool {
        self.replies.len() >= MAX_BATCH_MESSAGES || self.out.len() >= MAX_BATCH_REPLY_BYTES
    }

    /// Counts every reply in `metrics`. Requests answered inline share the batch's time
    /// (`elapsed`, less what deferred work took) equally: two clock reads per batch instead of
    /// two per request.
    fn observe(&self, metrics: &Metrics, elapsed: Duration) {
        let deferred: Duration = self.replies.iter().filter_map(|r| r.took).sum();
        let inline = self.replies.iter().filter(|r| r.took.is_none()).count();
        let each = elapsed
            .saturating_sub(deferred)
            .checked_div(u32::try_from(inline).unwrap_or(u32::MAX))
            .unwrap_or_default();
        for r in &self.replies {
            metrics.observe(&r.head, r.took.unwrap_or(each));
        }
    }
}

/// What the connection does once a batch is written, as filling it decided.
enum AfterBatch {
    /// Every complete frame was taken: read more before the next batch.
    Read,
    /// The batch is full (or delayed) with frames still buffered: next batch without reading.
    NextBatch,
    /// The connection ends after this batch's output is written.
    End(End),
}

/// Serves one accepted TCP connection until it closes or the server shuts down.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ConnCtx>,
    stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let mut shutdown = shutdown_signal(stop);
    // Replies are written once per batch, so Nagle's delay would only add latency.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let mut upgrade = UpgradeAuth::Anonymous;
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        upgrade_connection(stream, &ctx, &mut upgrade),
    );
    let (stream, early, _permit) = tokio::select! {
        () = &mut shutdown => return,
        r = handshake => match r {
            Ok(Ok(Some(upgraded))) => upgraded,
            // Answered over plain HTTP.
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
    let _counted = ctx.stats.open_connection();
    let _tracked = ctx.ops.metrics.track_connection();
    info!(%peer, "connection open");
    let state = match upgrade {
        UpgradeAuth::Authenticated => ConnState::authenticated(),
        UpgradeAuth::Anonymous | UpgradeAuth::Rejected => ConnState::default(),
    };
    let mut conn = Connection {
        stream,
        reader: FrameReader::new(READ_BUFFER_BYTES, ctx.max_message_bytes, &early),
        // Bytes that came with the upgrade request may already hold whole frames.
        need_read: early.is_empty(),
        batch: Batch::default(),
        peer,
        state,
        last_rx: Instant::now(),
        probe: ProbeGuard::new(ctx.ops.probe_policy, Instant::now()),
        misses_seen: 0,
        delay: None,
        ctx,
    };
    let end = conn.run(&mut shutdown).await;
    info!(%peer, reason = ?end, "connection closed");
}

/// Completes TLS (when configured) and the WebSocket upgrade, and returns the stream with any
/// bytes that followed the request head and the connection's place under `--max-connections`;
/// `None` when the request was not an upgrade and was answered over HTTP (see [`crate::http`]).
/// The upgrade is refused with HTTP 503 when the connection limit is reached and with 401 on a
/// wrong credential; otherwise `upgrade` says whether the request's credentials authenticated
/// the connection.
async fn upgrade_connection(
    stream: TcpStream,
    ctx: &ConnCtx,
    upgrade: &mut UpgradeAuth,
) -> Result<Option<(ServerStream, Vec<u8>, ConnectionPermit)>, WsError> {
    let mut stream = match &ctx.ops.tls {
        Some(acceptor) => ServerStream::Tls(Box::new(acceptor.accept(stream).await?)),
        None => ServerStream::Plain(stream),
    };
    let mut read = Vec::new();
    let checked = match http::read_head(&mut stream, &mut read).await {
        Ok(len) => http::classify(&read[..len]),
        Err(HeadError::Gone) => return Ok(None),
        Err(HeadError::Refused(answer)) => Err(answer),
    };
    // Taken once a complete upgrade request is in, so that sockets which never send one (a
    // flood of them) cannot hold the places of real clients.
    let permit = match checked {
        Ok(http::Request::Upgrade) => ctx.ops.limiter.try_acquire(),
        Ok(http::Request::Health { head_only }) => {
            http::answer(&mut stream, &http::Answer::health(true, head_only)).await;
            return Ok(None);
        }
        Err(answer) => {
            http::answer(&mut stream, &answer).await;
            return Ok(None);
        }
    };
    let admitted = permit.is_some();
    let ops = &ctx.ops;
    // The error type is tungstenite's (an HTTP response); its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if !admitted {
            ops.metrics.refused(Refusal::ConnectionLimit);
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "connection limit reached",
            ));
        }
        let headers = request.headers().get_all(header::AUTHORIZATION);
        let verdict = ops.auth.check_upgrade(headers.iter().map(|v| v.as_bytes()));
        if verdict == UpgradeAuth::Rejected {
            ops.metrics.refused(Refusal::Unauthorized);
            return Err(refusal(StatusCode::UNAUTHORIZED, "wrong secret"));
        }
        *upgrade = verdict;
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        HeadOnly::with_read(stream, read),
        check,
        Some(ctx.ws_config),
    )
    .await?;
    let (stream, early) = ws.into_inner().into_parts();
    match permit {
        Some(permit) => Ok(Some((stream, early, permit))),
        // Refused with 503 by `check`, which makes the handshake fail.
        None => Ok(None),
    }
}

/// An HTTP error response refusing an upgrade.
fn refusal(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

struct Connection {
    stream: ServerStream,
    reader: FrameReader,
    /// Whether every complete frame has been taken, so the next batch needs a read first.
    need_read: bool,
    /// Reused from batch to batch.
    batch: Batch,
    peer: SocketAddr,
    state: ConnState,
    /// When anything (a request, a ping, a pong) last arrived.
    last_rx: Instant,
    /// Brute-force score of this connection.
    probe: ProbeGuard,
    /// `state.probe_misses()` already fed to `probe`.
    misses_seen: u64,
    /// Pause before reading the next request, set by the brute-force protection.
    delay: Option<Duration>,
    ctx: Arc<ConnCtx>,
}

impl Connection {
    async fn run(&mut self, shutdown: &mut Shutdown) -> End {
        let start = tokio::time::Instant::now() + self.ctx.ping_interval;
        let mut keepalive = tokio::time::interval_at(start, self.ctx.ping_interval);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.need_read {
                tokio::select! {
                    biased;
                    () = &mut *shutdown => return self.close(End::Shutdown).await,
                    read = self.stream.read(self.reader.spare()) => match read {
                        Ok(0) => return End::PeerGone,
                        Ok(n) => self.reader.filled(n),
                        Err(e) => {
                            debug!(peer = %self.peer, error = %e, "read failed");
                            return End::PeerGone;
                        }
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
            let clock = BatchClock::read(&self.ctx.dispatcher);
            self.last_rx = clock.at;
            let after = self.fill_batch(clock).await;
            self.batch
                .observe(&self.ctx.ops.metrics, clock.at.elapsed());
            self.need_read = matches!(after, AfterBatch::Read);
            // No reply leaves before the changes it acknowledges are in the journal file (with
            // --fsync always, on disk).
            if !self.batch.replies.is_empty() {
                self.ctx.ops.durability.wait().await;
            }
            if let Err(end) = self.write_batch(shutdown).await {
                return end;
            }
            if let Some(delay) = self.delay.take() {
                tokio::select! {
                    () = &mut *shutdown => return self.close(End::Shutdown).await,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            if let AfterBatch::End(end) = after {
                return self.close(end).await;
            }
        }
    }

    /// Handles the complete frames already read, up to the batch bounds, appending replies
    /// (and pongs, and the echo of a close) to the batch.
    async fn fill_batch(&mut self, mut clock: BatchClock) -> AfterBatch {
        loop {
            // A delayed connection gets one request per batch, so the delay applies to each.
            if self.batch.is_full() || self.delay.is_some() {
                return AfterBatch::NextBatch;
            }
            let event = match self.reader.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return AfterBatch::Read,
                Err(e) => {
                    debug!(peer = %self.peer, error = ?e, "read failed");
                    return AfterBatch::End(e.into());
                }
            };
            match event {
                Event::Text(text) => {
                    debug!(peer = %self.peer, cmd = command_name(text), bytes = text.len(), "request");
                    let at = self.batch.begin_reply();
                    let (handled, mut head) = self.ctx.dispatcher.handle_text_at(
                        &mut self.state,
                        text,
                        clock.now_ms,
                        &mut self.batch.out,
                    );
                    let took = match handled {
                        Handled::Replied => None,
                        Handled::Deferred(work) => {
                            let began = Instant::now();
                            let Some((reply, status)) = run_deferred(work).await else {
                                // The request gets no reply: drop its frame header.
                                self.batch.out.truncate(at);
                                return AfterBatch::End(End::Internal);
                            };
                            self.batch.out.extend_from_slice(&reply);
                            head.status = Some(status);
                            // Disk work can take seconds: later requests get a fresh "now".
                            clock = BatchClock::read(&self.ctx.dispatcher);
                            Some(clock.at.saturating_duration_since(began))
                        }
                        Handled::Pending(reply) => {
                            let began = Instant::now();
                            let (reply, status) = reply.await;
                            self.batch.out.extend_from_slice(&reply);
                            head.status = Some(status);
                            // A backend's answer takes a round trip: later requests get a fresh "now".
                            clock = BatchClock::read(&self.ctx.dispatcher);
                            Some(clock.at.saturating_duration_since(began))
                        }
                    };
                    self.batch.end_reply(at, head, took);
                    if let Err(end) = self.apply_policies(clock.at) {
                        return AfterBatch::End(end);
                    }
                }
                Event::Binary => {
                    let at = self.batch.begin_reply();
                    let head = self.ctx.dispatcher.handle_binary(&mut self.batch.out);
                    self.batch.end_reply(at, head, None);
                }
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
                    return AfterBatch::End(End::PeerClosed);
                }
            }
        }
    }

    /// After a request's reply: closes (1008) after too many failed authentication attempts,
    /// and feeds the brute-force guard the request's misses (see [`crate::limits`]).
    fn apply_policies(&mut self, now: Instant) -> Result<(), End> {
        if self.state.must_close() {
            info!(peer = %self.peer, "closing: too many failed authentication attempts");
            self.ctx.ops.metrics.refused(Refusal::AuthFailures);
            return Err(End::AuthFailures);
        }
        let total = self.state.probe_misses();
        let misses = total.saturating_sub(self.misses_seen);
        self.misses_seen = total;
        match self.probe.record(misses, now) {
            ProbeVerdict::Proceed => {}
            ProbeVerdict::Delay(d) => self.delay = Some(d),
            ProbeVerdict::Close => {
                info!(peer = %self.peer, score = self.probe.score(), "closing: probing for sessions");
                self.ctx.ops.metrics.refused(Refusal::Probing);
                return Err(End::Probing);
            }
        }
        Ok(())
    }

    /// Writes the batch's output with one write. A client that does not read holds us here
    /// (and is not read meanwhile) until it does or the server shuts down.
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
            r = send => r.map_err(|e| {
                debug!(peer = %self.peer, error = %e, "write failed");
                End::PeerGone
            }),
            // The client is not reading; it cannot receive a close frame either.
            () = &mut *shutdown => Err(End::Shutdown),
        }
    }

    /// On each keep-alive tick: close a connection silent for the idle timeout, else ping it.
    async fn keepalive(&mut self, shutdown: &mut Shutdown) -> Option<End> {
        if let Some(idle) = self.ctx.idle_timeout {
            if self.last_rx.elapsed() >= idle {
                self.ctx.ops.metrics.refused(Refusal::Idle);
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

    /// Sends the close frame for `end` and drains the client (see [`close_and_drain`]).
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

/// Sends a close frame (`code`, `reason`), then drains what the client still sends until it
/// closes, so our close frame is not destroyed by a TCP reset (closing a socket with unread data
/// resets it, and an oversized message is mostly unread). `framed`: the stream is still at a
/// frame boundary, so the drain ends at the client's close frame; otherwise raw bytes are
/// discarded until EOF. Bounded by [`CLOSE_TIMEOUT`]. Public for the benchmark's echo floor.
pub async fn close_and_drain(
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

/// Runs disk-bound work on a blocking thread: its reply and the reply's status, or `None` if
/// it panicked.
async fn run_deferred(work: DeferredWork) -> Option<(Vec<u8>, Status)> {
    let joined = tokio::task::spawn_blocking(move || {
        let mut reply = Vec::new();
        let status = work(&mut reply);
        (reply, status)
    })
    .await;
    match joined {
        Ok(reply) => Some(reply),
        Err(e) => {
            error!(error = %e, "deferred command failed without a reply");
            None
        }
    }
}

/// The command name of a request, for debug logs: the first JSON string in it, at most 64
/// bytes, never the request's values.
fn command_name(msg: &str) -> &str {
    let Some(open) = msg.find('"') else {
        return "";
    };
    let rest = &msg[open + 1..];
    let name = rest.find('"').map_or(rest, |close| &rest[..close]);
    let mut cut = name.len().min(64);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    &name[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`Service::handle_binary`] replies: `{"ERR":{"st":2}}`.
    const BINARY_REPLY_HEAD: ReplyHead = ReplyHead {
        err: true,
        kind: None,
        status: Some(Status::OpCodeInvalid),
    };

    #[test]
    fn command_name_is_the_first_string() {
        assert_eq!(command_name(r#"{"KV_SET":{"keys":{"a":1}}}"#), "KV_SET");
        assert_eq!(command_name(r#" { "SH_NEW" : {}}"#), "SH_NEW");
        assert_eq!(command_name("[]"), "");
        assert_eq!(command_name(r#"{"unterminated"#), "unterminated");
        let long = format!("{{\"{}é\":1}}", "x".repeat(63));
        assert_eq!(command_name(&long), "x".repeat(63));
    }

    #[test]
    fn batch_frames_replies_in_order() {
        let mut batch = Batch::default();
        let at = batch.begin_reply();
        batch.out.extend_from_slice(br#"{"A_RSP":{"st":1}}"#);
        batch.end_reply(at, BINARY_REPLY_HEAD, None);
        let at = batch.begin_reply();
        let long = format!(r#"{{"B_RSP":{{"st":2,"v":"{}"}}}}"#, "x".repeat(200));
        batch.out.extend_from_slice(long.as_bytes());
        batch.end_reply(at, BINARY_REPLY_HEAD, None);
        let mut expected = vec![0x81, 18];
        expected.extend_from_slice(br#"{"A_RSP":{"st":1}}"#);
        // 126..=255 bytes: the 16-bit length form.
        assert_eq!(long.len(), 225);
        expected.extend_from_slice(&[0x81, 126, 0, 225]);
        expected.extend_from_slice(long.as_bytes());
        assert_eq!(batch.out, expected);
        assert_eq!(batch.replies.len(), 2);
        batch.clear();
        assert!(batch.out.is_empty() && batch.replies.is_empty());
    }

    #[test]
    fn batch_latency_is_shared_by_inline_requests() {
        let metrics = Metrics::new("0", None);
        let mut batch = Batch::default();
        for _ in 0..4 {
            let at = batch.begin_reply();
            batch.out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
            batch.end_reply(at, BINARY_REPLY_HEAD, None);
        }
        // A deferred reply brings its own time, which the inline ones do not share.
        let at = batch.begin_reply();
        batch.out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
        batch.end_reply(at, BINARY_REPLY_HEAD, Some(Duration::from_millis(500)));
        batch.observe(&metrics, Duration::from_micros(500_040));
        let text = metrics.render();
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            line("sessiondb_command_duration_seconds_count"),
            "sessiondb_command_duration_seconds_count 5"
        );
        // 4 × 10 µs + 500 ms.
        assert_eq!(
            line("sessiondb_command_duration_seconds_sum"),
            "sessiondb_command_duration_seconds_sum 0.50004"
        );
        assert_eq!(
            line(r#"sessiondb_command_duration_seconds_bucket{le="0.00001"}"#),
            r#"sessiondb_command_duration_seconds_bucket{le="0.00001"} 4"#
        );
        assert_eq!(
            line(r#"sessiondb_commands_total{command="ERR",status="2"}"#),
            r#"sessiondb_commands_total{command="ERR",status="2"} 5"#
        );
    }

    #[test]
    fn batch_is_full_at_either_bound() {
        let mut batch = Batch::default();
        for _ in 0..MAX_BATCH_MESSAGES - 1 {
            let at = batch.begin_reply();
            batch.end_reply(at, BINARY_REPLY_HEAD, None);
        }
        assert!(!batch.is_full());
        let at = batch.begin_reply();
        batch.end_reply(at, BINARY_REPLY_HEAD, None);
        assert!(batch.is_full());
        let mut big = Batch::default();
        let at = big.begin_reply();
        big.out.resize(MAX_BATCH_REPLY_BYTES, b' ');
        big.end_reply(at, BINARY_REPLY_HEAD, None);
        assert!(big.is_full());
    }

    #[test]
    fn read_errors_map_to_close_codes() {
        let code = |e: ReadError| End::from(e).close_frame().map(|f| f.0);
        assert_eq!(code(ReadError::TooBig), Some(1009));
        assert_eq!(code(ReadError::InvalidUtf8), Some(1007));
        assert_eq!(code(ReadError::Protocol), Some(1002));
        assert_eq!(End::Shutdown.close_frame().map(|f| f.0), Some(1001));
        assert_eq!(End::Idle.close_frame().map(|f| f.0), Some(1000));
        assert_eq!(End::PeerGone.close_frame(), None);
    }
}
