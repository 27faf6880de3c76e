//! One WebSocket connection: read requests, hand them to the dispatcher, write the replies in
//! request order, one flush per batch (PROTOCOL.md §2).
//!
//! Backpressure comes from the shape of the loop: the next batch is read only after the previous
//! one is flushed, so a client that never reads its replies stops being read and its memory is
//! bounded by one batch.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use sessiondb_proto::{ConnState, DeferredWork, Dispatcher, Handled, ReplyHead};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, error, info};

use crate::auth::UpgradeAuth;
use crate::limits::{ProbeGuard, ProbeVerdict};
use crate::metrics::Refusal;
use crate::ops::Ops;
use crate::tls::ServerStream;
use crate::transport::{wait_shutdown, Stats};

/// Most requests taken into one batch before its replies are written.
const MAX_BATCH_MESSAGES: usize = 256;
/// A batch stops taking requests once its replies reach this size.
const MAX_BATCH_REPLY_BYTES: usize = 256 * 1024;
/// What [`Dispatcher::handle_binary`] replies: `{"ERR":{"st":2}}`.
const BINARY_REPLY_HEAD: ReplyHead = ReplyHead {
    err: true,
    kind: None,
    status: Some(2),
};
/// A TCP connection must complete the WebSocket upgrade within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest we spend on a closing handshake (close frame out, peer's data drained).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What every connection of one server shares.
pub(crate) struct ConnCtx {
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) ws_config: WebSocketConfig,
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
    /// The close frame this ending sends, if the server is the one closing.
    fn close_frame(self) -> Option<(CloseCode, &'static str)> {
        match self {
            End::PeerClosed | End::PeerGone => None,
            End::Shutdown => Some((CloseCode::Away, "server shutting down")),
            End::Idle => Some((CloseCode::Normal, "idle timeout")),
            End::TooBig => Some((CloseCode::Size, "message too big")),
            End::InvalidUtf8 => Some((CloseCode::Invalid, "invalid UTF-8")),
            End::ProtocolViolation => Some((CloseCode::Protocol, "protocol error")),
            End::Internal => Some((CloseCode::Error, "internal error")),
            End::AuthFailures => {
                Some((CloseCode::Policy, "too many failed authentication attempts"))
            }
            End::Probing => Some((CloseCode::Policy, "too many requests for unknown sessions")),
        }
    }

    /// Maps a read error to how the connection ends.
    fn from_read_error(e: &WsError) -> Self {
        match e {
            WsError::Capacity(_) => End::TooBig,
            WsError::Utf8(_) => End::InvalidUtf8,
            WsError::Protocol(
                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ) => End::PeerGone,
            WsError::Protocol(_) => End::ProtocolViolation,
            _ => End::PeerGone,
        }
    }
}

/// "Now" for one batch: read once when it starts (and again after deferred work, which can take
/// long), not once per request: clock reads were 4% of the server's time at pipeline 16.
#[derive(Debug, Clone, Copy)]
struct BatchClock {
    /// Monotonic time, for the idle timeout, the brute-force guard and latency.
    at: Instant,
    /// The dispatcher's wall clock in Unix ms, for expiry.
    now_ms: u64,
}

impl BatchClock {
    fn read(dispatcher: &Dispatcher) -> Self {
        Self {
            at: Instant::now(),
            now_ms: dispatcher.settings().clock.now_ms(),
        }
    }
}

/// One reply of a batch: where it ends, what it was, and (for deferred work, timed on its
/// own) how long it took.
struct ReplyMark {
    end: usize,
    head: ReplyHead,
    took: Option<Duration>,
}

/// The replies of one batch: concatenated JSON objects and what each one was.
#[derive(Default)]
struct Batch {
    out: Vec<u8>,
    replies: Vec<ReplyMark>,
}

impl Batch {
    /// Marks everything appended since the previous reply as one reply, described by `head`.
    fn end_reply(&mut self, head: ReplyHead, took: Option<Duration>) {
        self.replies.push(ReplyMark {
            end: self.out.len(),
            head,
            took,
        });
    }

    fn is_full(&self) -> bool {
        self.replies.len() >= MAX_BATCH_MESSAGES || self.out.len() >= MAX_BATCH_REPLY_BYTES
    }

    /// Counts every reply in `metrics`. Requests answered inline share the batch's time
    /// (`elapsed`, less what deferred work took) equally: two clock reads per batch instead of
    /// two per request.
    fn observe(&self, metrics: &crate::metrics::Metrics, elapsed: Duration) {
        let deferred: Duration = self.replies.iter().filter_map(|r| r.took).sum();
        let inline = self.replies.iter().filter(|r| r.took.is_none()).count();
        let each = elapsed
            .saturating_sub(deferred)
            .checked_div(u32::try_from(inline).unwrap_or(u32::MAX))
            .unwrap_or_default();
        let mut start = 0;
        for r in &self.replies {
            let reply = self.out.get(start..r.end).unwrap_or_default();
            metrics.observe(&r.head, reply, r.took.unwrap_or(each));
            start = r.end;
        }
    }

    /// Splits into one text message per reply, sharing a single buffer.
    fn into_messages(self) -> impl Iterator<Item = Message> {
        let bytes = Bytes::from(self.out);
        let mut start = 0;
        self.replies.into_iter().map(move |ReplyMark { end, .. }| {
            let reply = bytes.slice(start..end);
            start = end;
            // Cloning `Bytes` only bumps a reference count.
            let text = Utf8Bytes::try_from(reply.clone()).unwrap_or_else(|e| {
                // The protocol layer renders UTF-8; if it ever did not, the client still gets
                // exactly one reply for its request.
                error!(error = %e, "reply is not UTF-8; sending it lossily converted");
                Utf8Bytes::from(String::from_utf8_lossy(&reply).into_owned())
            });
            Message::Text(text)
        })
    }
}

/// Serves one accepted TCP connection until it closes or the server shuts down.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ConnCtx>,
    mut stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    // Replies are flushed once per batch, so Nagle's delay would only add latency.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    // Taken before the upgrade so that a refused connection gets a clean HTTP 503.
    let permit = ctx.ops.limiter.try_acquire();
    let mut upgrade = UpgradeAuth::Anonymous;
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        upgrade_connection(stream, &ctx, permit.is_some(), &mut upgrade),
    );
    let ws = tokio::select! {
        () = wait_shutdown(&mut stop) => return,
        r = handshake => match r {
            Ok(Ok(ws)) => ws,
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
        ws,
        peer,
        state,
        last_rx: Instant::now(),
        probe: ProbeGuard::new(ctx.ops.probe_policy, Instant::now()),
        misses_seen: 0,
        delay: None,
        ctx,
    };
    let end = conn.run(&mut stop).await;
    info!(%peer, reason = ?end, "connection closed");
}

/// Completes TLS (when configured) and the WebSocket upgrade. The upgrade is refused with
/// HTTP 503 when the connection limit is reached and with 401 on a wrong credential; otherwise
/// `upgrade` says whether the request's credentials authenticated the connection.
async fn upgrade_connection(
    stream: TcpStream,
    ctx: &ConnCtx,
    admitted: bool,
    upgrade: &mut UpgradeAuth,
) -> Result<WebSocketStream<ServerStream>, WsError> {
    let stream = match &ctx.ops.tls {
        Some(acceptor) => ServerStream::Tls(Box::new(acceptor.accept(stream).await?)),
        None => ServerStream::Plain(stream),
    };
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
    tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ctx.ws_config)).await
}

/// An HTTP error response refusing an upgrade.
fn refusal(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

struct Connection {
    ws: WebSocketStream<ServerStream>,
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
    async fn run(&mut self, stop: &mut watch::Receiver<bool>) -> End {
        let start = tokio::time::Instant::now() + self.ctx.ping_interval;
        let mut keepalive = tokio::time::interval_at(start, self.ctx.ping_interval);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                () = wait_shutdown(stop) => return self.close(End::Shutdown).await,
                msg = self.ws.next() => msg,
                _ = keepalive.tick() => {
                    if let Some(end) = self.keepalive(stop).await {
                        return end;
                    }
                    continue;
                }
            };
            let mut batch = Batch::default();
            let clock = BatchClock::read(&self.ctx.dispatcher);
            let outcome = self.fill_batch(first, &mut batch, clock).await;
            batch.observe(&self.ctx.ops.metrics, clock.at.elapsed());
            // A peer that vanished cannot receive replies; one that sent a close frame may not
            // be sent data any more (RFC 6455 §5.5.1): only the close reply goes out.
            if let Some(end @ (End::PeerGone | End::PeerClosed)) = outcome {
                if end == End::PeerClosed {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.flush()).await;
                }
                return end;
            }
            // With --fsync always, no reply leaves before the changes it acknowledges are on disk.
            self.ctx.ops.durability.wait().await;
            if let Err(end) = self.write(batch, stop).await {
                return end;
            }
            if let Some(delay) = self.delay.take() {
                tokio::select! {
                    () = wait_shutdown(stop) => return self.close(End::Shutdown).await,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            if let Some(end) = outcome {
                return self.close(end).await;
            }
        }
    }

    /// Handles `first` and then every message already buffered, up to the batch bounds.
    /// Returns how the connection must end after this batch's replies are written, if it must.
    async fn fill_batch(
        &mut self,
        first: Option<Result<Message, WsError>>,
        batch: &mut Batch,
        mut clock: BatchClock,
    ) -> Option<End> {
        // Everything in a batch arrived together.
        self.last_rx = clock.at;
        let mut next = first;
        loop {
            match next {
                None => return Some(End::PeerGone),
                Some(Err(e)) => {
                    let end = End::from_read_error(&e);
                    debug!(peer = %self.peer, error = %e, ?end, "read failed");
                    return Some(end);
                }
                Some(Ok(msg)) => {
                    if let Err(end) = self.handle(msg, batch, &mut clock).await {
                        return Some(end);
                    }
                }
            }
            // A delayed connection gets one request per batch, so the delay applies to each.
            if batch.is_full() || self.delay.is_some() {
                return None;
            }
            // `now_or_never` takes only what is already buffered: it never waits for the
            // client, so a batch is exactly what arrived together.
            match self.ws.next().now_or_never() {
                Some(msg) => next = msg,
                None => return None,
            }
        }
    }

    /// Appends the reply to one message, if it gets one.
    async fn handle(
        &mut self,
        msg: Message,
        batch: &mut Batch,
        clock: &mut BatchClock,
    ) -> Result<(), End> {
        match msg {
            Message::Text(text) => {
                debug!(peer = %self.peer, cmd = command_name(&text), bytes = text.len(), "request");
                let (handled, head) = self.ctx.dispatcher.handle_text_at(
                    &mut self.state,
                    text.as_str(),
                    clock.now_ms,
                    &mut batch.out,
                );
                let took = match handled {
                    Handled::Replied => None,
                    Handled::Deferred(work) => {
                        let began = Instant::now();
                        let reply = run_deferred(work).await.ok_or(End::Internal)?;
                        batch.out.extend_from_slice(&reply);
                        // Disk work can take seconds: later requests get a fresh "now".
                        *clock = BatchClock::read(&self.ctx.dispatcher);
                        Some(clock.at.saturating_duration_since(began))
                    }
                };
                batch.end_reply(head, took);
                self.apply_policies(clock.at)?;
            }
            Message::Binary(_) => {
                self.ctx.dispatcher.handle_binary(&mut batch.out);
                batch.end_reply(BINARY_REPLY_HEAD, None);
            }
            // tungstenite queues the pong itself; it goes out with the batch's flush.
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Close(_) => return Err(End::PeerClosed),
            // Only produced when writing raw frames, never by reading.
            Message::Frame(_) => {}
        }
        Ok(())
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

    /// Writes a batch's replies in order with a single flush. A client that does not read
    /// holds us here (and is not read meanwhile) until it does or the server shuts down.
    async fn write(&mut self, batch: Batch, stop: &mut watch::Receiver<bool>) -> Result<(), End> {
        let ws = &mut self.ws;
        let send = async move {
            for msg in batch.into_messages() {
                ws.feed(msg).await?;
            }
            ws.flush().await
        };
        tokio::select! {
            r = send => r.map_err(|e| {
                debug!(peer = %self.peer, error = %e, "write failed");
                End::PeerGone
            }),
            // The client is not reading; it cannot receive a close frame either.
            () = wait_shutdown(stop) => Err(End::Shutdown),
        }
    }

    /// On each keep-alive tick: close a connection silent for the idle timeout, else ping it.
    async fn keepalive(&mut self, stop: &mut watch::Receiver<bool>) -> Option<End> {
        if let Some(idle) = self.ctx.idle_timeout {
            if self.last_rx.elapsed() >= idle {
                self.ctx.ops.metrics.refused(Refusal::Idle);
                return Some(self.close(End::Idle).await);
            }
        }
        let ws = &mut self.ws;
        tokio::select! {
            r = ws.send(Message::Ping(Bytes::new())) => r.err().map(|_| End::PeerGone),
            () = wait_shutdown(stop) => Some(End::Shutdown),
        }
    }

    /// Sends the close frame for `end`, then drains what the client still sends until it
    /// closes, so our close frame is not destroyed by a TCP reset (closing a socket with
    /// unread data resets it, and an oversized message is mostly unread). Bounded in time.
    async fn close(&mut self, end: End) -> End {
        let Some((code, reason)) = end.close_frame() else {
            return end;
        };
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // After an oversized frame or a framing error the stream is no longer at a frame
        // boundary, so what follows can only be discarded as raw bytes.
        let framed = !matches!(end, End::TooBig | End::ProtocolViolation);
        let ws = &mut self.ws;
        let closing = async move {
            if ws.close(Some(frame)).await.is_err() {
                return;
            }
            // Nothing more goes out after a close frame (tungstenite does not even answer
            // pings once closing), so half-closing tells the client at once.
            if ws.get_mut().shutdown().await.is_err() {
                return;
            }
            if framed {
                // Ends at the client's close frame (the handshake is complete) or its EOF.
                while let Some(Ok(_)) = ws.next().await {}
            } else {
                let mut sink = [0u8; 4096];
                while let Ok(n) = ws.get_mut().read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
        end
    }
}

/// Runs disk-bound work on a blocking thread; `None` if it panicked.
async fn run_deferred(work: DeferredWork) -> Option<Vec<u8>> {
    let joined = tokio::task::spawn_blocking(move || {
        let mut reply = Vec::new();
        work(&mut reply);
        reply
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
    fn batch_splits_replies_in_order() {
        let mut batch = Batch::default();
        batch.out.extend_from_slice(br#"{"A_RSP":{"st":1}}"#);
        batch.end_reply(BINARY_REPLY_HEAD, None);
        batch.out.extend_from_slice(br#"{"B_RSP":{"st":2}}"#);
        batch.end_reply(BINARY_REPLY_HEAD, None);
        let texts: Vec<String> = batch
            .into_messages()
            .map(|m| match m {
                Message::Text(t) => t.as_str().to_owned(),
                other => panic!("not text: {other:?}"),
            })
            .collect();
        assert_eq!(texts, [r#"{"A_RSP":{"st":1}}"#, r#"{"B_RSP":{"st":2}}"#]);
    }

    #[test]
    fn batch_latency_is_shared_by_inline_requests() {
        use crate::metrics::Metrics;
        let metrics = Metrics::new("0", None);
        let mut batch = Batch::default();
        for _ in 0..4 {
            batch.out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
            batch.end_reply(BINARY_REPLY_HEAD, None);
        }
        // A deferred reply brings its own time, which the inline ones do not share.
        batch.out.extend_from_slice(br#"{"ERR":{"st":2}}"#);
        batch.end_reply(BINARY_REPLY_HEAD, Some(Duration::from_millis(500)));
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
            batch.end_reply(BINARY_REPLY_HEAD, None);
        }
        assert!(!batch.is_full());
        batch.end_reply(BINARY_REPLY_HEAD, None);
        assert!(batch.is_full());
        let mut big = Batch::default();
        big.out.resize(MAX_BATCH_REPLY_BYTES, b' ');
        big.end_reply(BINARY_REPLY_HEAD, None);
        assert!(big.is_full());
    }

    #[test]
    fn read_errors_map_to_close_codes() {
        use tokio_tungstenite::tungstenite::error::CapacityError;
        let too_big = WsError::Capacity(CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        });
        assert_eq!(End::from_read_error(&too_big), End::TooBig);
        assert_eq!(
            End::TooBig.close_frame().map(|f| f.0),
            Some(CloseCode::Size)
        );
        let utf8 = WsError::Utf8("bad".into());
        assert_eq!(End::from_read_error(&utf8), End::InvalidUtf8);
        assert_eq!(
            End::InvalidUtf8.close_frame().map(|f| f.0),
            Some(CloseCode::Invalid)
        );
        assert_eq!(
            End::from_read_error(&WsError::ConnectionClosed),
            End::PeerGone
        );
        assert_eq!(
            End::Shutdown.close_frame().map(|f| f.0),
            Some(CloseCode::Away)
        );
    }
}
