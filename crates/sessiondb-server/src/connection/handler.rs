//! The seam between the connection loop and what a server does with requests.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;

use super::settings::ConnectionSettings;
use crate::tls::ServerStream;

/// What a server does with the messages its connections receive. The loop around it (framing,
/// batching, backpressure, keep-alive pings, the closing handshake) is the same for every
/// handler, and generic over it, so each handler gets its own copy of the loop with no dynamic
/// call on the way of a request.
///
/// The methods with a default are the server's bookkeeping (policies, metrics, durability);
/// a handler that has none (the benchmark's echo floor) leaves them out and pays nothing.
pub trait Handler: Send + Sync + 'static {
    /// What one connection keeps between its requests; dropped when the connection ends.
    type Conn: Send;
    /// What a batch keeps of each reply until [`Handler::observe`] sees them.
    type Mark: Send;
    /// Work that must not run on the connection's thread (disk), done by
    /// [`Handler::run_deferred`].
    type Deferred: Send;

    /// Completes the upgrade of an accepted TCP connection to WebSocket; `Ok(None)` when the
    /// connection ends there (answered over plain HTTP, or refused).
    fn upgrade(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        settings: &ConnectionSettings,
    ) -> impl Future<Output = Result<Option<Upgraded<Self::Conn>>, WsError>> + Send;

    /// The wall clock in Unix milliseconds, read once per batch rather than per request.
    fn now_ms(&self) -> u64;

    /// Answers one text message by appending its reply's payload to `out` (the loop frames it),
    /// or defers it.
    fn text(
        &self,
        conn: &mut Self::Conn,
        text: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Reply<Self::Mark, Self::Deferred>;

    /// Answers one binary message by appending its reply's payload to `out`, or asks to close.
    fn binary(&self, conn: &mut Self::Conn, out: &mut Vec<u8>) -> Result<Self::Mark, Close>;

    /// Runs deferred work off the connection's thread: the reply's payload and its mark, or
    /// `None` if the work failed without a reply (the connection then closes with 1011).
    fn run_deferred(
        &self,
        work: Self::Deferred,
        mark: Self::Mark,
    ) -> impl Future<Output = Option<(Vec<u8>, Self::Mark)>> + Send;

    /// After each text reply: a pause before the connection is read again, or a close.
    fn after_reply(
        &self,
        _conn: &mut Self::Conn,
        _now: Instant,
    ) -> Result<Option<Duration>, Close> {
        Ok(None)
    }

    /// Sees every reply of a batch once it is filled; `started` is when the batch began.
    fn observe(&self, _replies: &[ReplyMark<Self::Mark>], _started: Instant) {}

    /// Completes when the replies of a filled batch may be written (for a server with a
    /// journal: once the changes they acknowledge are in it).
    fn replies_ready(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// Called when a connection is closed for its idle timeout.
    fn idle_closed(&self) {}
}

/// An upgraded connection: the stream, the bytes that followed the upgrade request (they may
/// already hold whole frames) and the handler's state for it.
pub struct Upgraded<C> {
    /// The WebSocket stream, frames from here on.
    pub stream: ServerStream,
    /// Bytes read past the upgrade request.
    pub early: Vec<u8>,
    /// The handler's state for this connection.
    pub conn: C,
}

/// How a handler answered a text message.
pub enum Reply<M, D> {
    /// The reply's payload is in the output; `M` describes it.
    Done(M),
    /// Nothing was appended yet: the reply comes from running `D`, and later requests of the
    /// connection wait for it.
    Deferred(D, M),
}

/// A close the handler asks for: the close frame's code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The close code (RFC 6455 §7.4).
    pub code: u16,
    /// The close reason sent with it.
    pub reason: &'static str,
}

/// One reply of a batch: the handler's mark, and how long deferred work took (it is timed on
/// its own; inline replies are not timed one by one).
#[derive(Debug)]
pub struct ReplyMark<M> {
    /// What the handler said of the reply.
    pub mark: M,
    /// For a deferred reply, how long its work took.
    pub took: Option<Duration>,
}
