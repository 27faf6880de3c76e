//! The loop of one upgraded connection: read when every complete frame has been taken, answer
//! the complete requests already received up to the batch bounds, write the batch, repeat.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use super::batch::Batch;
use super::end::{End, CLOSE_PROTOCOL};
use super::handler::{Handler, Reply};
use super::settings::ConnectionSettings;
use super::write;
use crate::frame::{self, Event, FrameReader};
use crate::shutdown::Shutdown;
use crate::tls::ServerStream;

/// "Now" for one batch: read once when it starts (and again after deferred work, which can take
/// long), not once per request, because at high pipelining clock reads are a visible share of
/// a request's cost.
#[derive(Debug, Clone, Copy)]
struct BatchClock {
    /// Monotonic time, for the idle timeout, the handler's policies and latency.
    at: Instant,
    /// The handler's wall clock in Unix ms, for expiry.
    now_ms: u64,
}

impl BatchClock {
    fn read(handler: &impl Handler) -> Self {
        Self {
            at: Instant::now(),
            now_ms: handler.now_ms(),
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

/// How [`Connection::fill_batch`] stopped.
enum Filled<H: Handler> {
    /// The batch is filled.
    After(AfterBatch),
    /// A request's reply is deferred: its frame was begun at `at`.
    Deferred {
        at: usize,
        work: H::Deferred,
        mark: H::Mark,
    },
}

/// One upgraded connection.
pub(super) struct Connection<H: Handler> {
    pub(super) stream: ServerStream,
    pub(super) reader: FrameReader,
    /// Whether every complete frame has been taken, so the next batch needs a read first.
    pub(super) need_read: bool,
    /// Reused from batch to batch.
    pub(super) batch: Batch<H::Mark>,
    pub(super) peer: SocketAddr,
    /// The handler's state for this connection.
    pub(super) conn: H::Conn,
    /// When anything (a request, a ping, a pong) last arrived.
    pub(super) last_rx: Instant,
    /// Pause before reading the next request, as the handler asked.
    pub(super) delay: Option<Duration>,
    pub(super) handler: Arc<H>,
    pub(super) settings: ConnectionSettings,
}

impl<H: Handler> Connection<H> {
    /// Serves the connection until it ends, and says why.
    pub(super) async fn run(&mut self, shutdown: &mut Shutdown) -> End {
        let start = tokio::time::Instant::now() + self.settings.ping_interval;
        let mut keepalive = tokio::time::interval_at(start, self.settings.ping_interval);
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
            let clock = BatchClock::read(&*self.handler);
            self.last_rx = clock.at;
            let after = match self.fill_batch(clock) {
                Filled::After(after) => after,
                Filled::Deferred { at, work, mark } => self.defer(at, work, mark).await,
            };
            self.handler.observe(&self.batch.replies, clock.at);
            self.need_read = matches!(after, AfterBatch::Read);
            if !self.batch.replies.is_empty() {
                self.handler.replies_ready().await;
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
    /// (and pongs, and the echo of a close) to the batch; stops at a request whose reply is
    /// deferred. Not async, so that the path of every inline request has no await in it.
    fn fill_batch(&mut self, clock: BatchClock) -> Filled<H> {
        loop {
            // A delayed connection gets one request per batch, so the delay applies to each.
            if self.batch.is_full() || self.delay.is_some() {
                return Filled::After(AfterBatch::NextBatch);
            }
            let event = match self.reader.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return Filled::After(AfterBatch::Read),
                Err(e) => {
                    debug!(peer = %self.peer, error = ?e, "read failed");
                    return Filled::After(AfterBatch::End(e.into()));
                }
            };
            match event {
                Event::Text(text) => {
                    let at = self.batch.begin_reply();
                    let reply =
                        self.handler
                            .text(&mut self.conn, text, clock.now_ms, &mut self.batch.out);
                    match reply {
                        Reply::Done(mark) => self.batch.end_reply(at, mark, None),
                        Reply::Deferred(work, mark) => return Filled::Deferred { at, work, mark },
                    }
                    if let Err(end) = self.after_reply(clock.at) {
                        return Filled::After(AfterBatch::End(end));
                    }
                }
                Event::Binary => {
                    let at = self.batch.begin_reply();
                    match self.handler.binary(&mut self.conn, &mut self.batch.out) {
                        Ok(mark) => self.batch.end_reply(at, mark, None),
                        Err(close) => {
                            self.batch.out.truncate(at);
                            return Filled::After(AfterBatch::End(End::Handler(close)));
                        }
                    }
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
                    return Filled::After(AfterBatch::End(End::PeerClosed));
                }
            }
        }
    }

    /// Runs the deferred work that stopped [`Connection::fill_batch`] (the reply frame begun at
    /// `at`), then goes on filling the batch with what follows it.
    async fn defer(
        &mut self,
        mut at: usize,
        mut work: H::Deferred,
        mut mark: H::Mark,
    ) -> AfterBatch {
        loop {
            let began = Instant::now();
            let Some((reply, done)) = self.handler.run_deferred(work, mark).await else {
                // The request gets no reply: drop its frame header.
                self.batch.out.truncate(at);
                return AfterBatch::End(End::Internal);
            };
            self.batch.out.extend_from_slice(&reply);
            // Disk work can take seconds: later requests get a fresh "now".
            let clock = BatchClock::read(&*self.handler);
            let took = clock.at.saturating_duration_since(began);
            self.batch.end_reply(at, done, Some(took));
            if let Err(end) = self.after_reply(clock.at) {
                return AfterBatch::End(end);
            }
            match self.fill_batch(clock) {
                Filled::After(after) => return after,
                Filled::Deferred {
                    at: next_at,
                    work: next,
                    mark: next_mark,
                } => (at, work, mark) = (next_at, next, next_mark),
            }
        }
    }

    /// The handler's policies after a text reply: a pause before the next read, or a close.
    fn after_reply(&mut self, now: Instant) -> Result<(), End> {
        match self.handler.after_reply(&mut self.conn, now) {
            Ok(None) => Ok(()),
            Ok(Some(delay)) => {
                self.delay = Some(delay);
                Ok(())
            }
            Err(close) => Err(End::Handler(close)),
        }
    }

    /// Writes the batch's output with one write.
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
        if let Some(idle) = self.settings.idle_timeout {
            if self.last_rx.elapsed() >= idle {
                self.handler.idle_closed();
                return Some(self.close(End::Idle).await);
            }
        }
        write::ping(&mut self.stream, shutdown).await
    }

    /// Sends the close frame for `end` and drains the client.
    async fn close(&mut self, end: End) -> End {
        write::close(&mut self.stream, &mut self.reader, end).await
    }
}
