//! The server's [`Handler`]: requests go to the [`Service`], under the connection policies
//! (TLS, the connection limit, authentication, brute-force protection), with every reply
//! counted in the metrics and held until the changes it acknowledges are in the journal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiondb_service::{
    ConnState, DeferredWork, Handled, PendingReply, ReplyHead, Service, Status,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, StatusCode};
use tokio_tungstenite::tungstenite::Error as WsError;
use tracing::{debug, error, info};

use crate::auth::UpgradeAuth;
use crate::connection::{Close, ConnectionSettings, Handler, Reply, ReplyMark, Upgraded};
use crate::http::{self, HeadError};
use crate::limits::{ConnectionPermit, ProbeGuard, ProbeVerdict};
use crate::metrics::{ConnectionTracker, Metrics, Refusal};
use crate::policies::ConnectionPolicies;
use crate::stats::{ConnectionGuard, Stats};
use crate::tls::ServerStream;
use crate::upgrade::HeadOnly;

/// Close after too many failed `SV_AUTH` attempts.
const CLOSE_AUTH_FAILURES: Close = Close {
    code: 1008,
    reason: "too many failed authentication attempts",
};
/// Close after too many requests naming unknown tokens or names.
const CLOSE_PROBING: Close = Close {
    code: 1008,
    reason: "too many requests for unknown sessions",
};

/// Serves requests with the [`Service`] under the server's connection policies.
pub(crate) struct ServiceHandler {
    pub(crate) service: Arc<Service>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) policies: ConnectionPolicies,
}

/// What the server keeps for one connection.
pub(crate) struct ServiceConn {
    peer: SocketAddr,
    state: ConnState,
    /// Brute-force score of this connection.
    probe: ProbeGuard,
    /// `state.probe_misses()` already fed to `probe`.
    misses_seen: u64,
    /// Held while the connection is open: its place under `--max-connections` and its share
    /// of the open-connection counts.
    _permit: ConnectionPermit,
    _counted: ConnectionGuard,
    _tracked: ConnectionTracker,
}

impl Handler for ServiceHandler {
    type Conn = ServiceConn;
    type Mark = ReplyHead;
    type Deferred = Later;

    fn upgrade(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        settings: &ConnectionSettings,
    ) -> impl Future<Output = Result<Option<Upgraded<ServiceConn>>, WsError>> + Send {
        let ws_config = settings.ws_config;
        async move {
            let mut upgrade = UpgradeAuth::Anonymous;
            let Some((stream, early, permit)) =
                upgrade_connection(stream, &self.policies, ws_config, &mut upgrade).await?
            else {
                return Ok(None);
            };
            info!(%peer, "connection open");
            let state = match upgrade {
                UpgradeAuth::Authenticated => ConnState::authenticated(),
                UpgradeAuth::Anonymous | UpgradeAuth::Rejected => ConnState::default(),
            };
            let conn = ServiceConn {
                peer,
                state,
                probe: ProbeGuard::new(
                    self.policies.probe_policy.unwrap_or_default(),
                    Instant::now(),
                ),
                misses_seen: 0,
                _permit: permit,
                _counted: self.stats.open_connection(),
                _tracked: self.policies.metrics.track_connection(),
            };
            Ok(Some(Upgraded {
                stream,
                early,
                conn,
            }))
        }
    }

    fn now_ms(&self) -> u64 {
        self.service.settings().clock.now_ms()
    }

    fn text(
        &self,
        conn: &mut ServiceConn,
        text: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Reply<ReplyHead, Later> {
        debug!(peer = %conn.peer, cmd = command_name(text), bytes = text.len(), "request");
        match self
            .service
            .handle_text_at(&mut conn.state, text, now_ms, out)
        {
            (Handled::Replied, head) => Reply::Done(head),
            (Handled::Deferred(work), head) => Reply::Deferred(Later::Disk(work), head),
            (Handled::Pending(reply), head) => Reply::Deferred(Later::Backend(reply), head),
        }
    }

    fn binary(&self, _conn: &mut ServiceConn, out: &mut Vec<u8>) -> Result<ReplyHead, Close> {
        Ok(self.service.handle_binary(out))
    }

    async fn run_deferred(&self, work: Later, mut head: ReplyHead) -> Option<(Vec<u8>, ReplyHead)> {
        let (reply, status) = match work {
            Later::Disk(work) => run_deferred(work).await?,
            Later::Backend(reply) => reply.await,
        };
        head.status = Some(status);
        Some((reply, head))
    }

    /// Closes after too many failed authentication attempts, and feeds the brute-force guard
    /// the request's misses (see [`crate::limits`]).
    fn after_reply(&self, conn: &mut ServiceConn, now: Instant) -> Result<Option<Duration>, Close> {
        if conn.state.must_close() {
            info!(peer = %conn.peer, "closing: too many failed authentication attempts");
            self.policies.metrics.refused(Refusal::AuthFailures);
            return Err(CLOSE_AUTH_FAILURES);
        }
        // Misses are counted only where they could be guessing: not with the guard off, and not
        // on a connection that proved it holds the secret, which may do anything a guess could
        // find (an application server's pooled connection misses at every expired cookie).
        if self.policies.probe_policy.is_none()
            || (self.policies.auth.enabled() && conn.state.is_authenticated())
        {
            return Ok(None);
        }
        let total = conn.state.probe_misses();
        let misses = total.saturating_sub(conn.misses_seen);
        conn.misses_seen = total;
        match conn.probe.record(misses, now) {
            ProbeVerdict::Proceed => Ok(None),
            ProbeVerdict::Delay(d) => Ok(Some(d)),
            ProbeVerdict::Close => {
                info!(peer = %conn.peer, score = conn.probe.score(), "closing: probing for sessions");
                self.policies.metrics.refused(Refusal::Probing);
                Err(CLOSE_PROBING)
            }
        }
    }

    fn observe(&self, replies: &[ReplyMark<ReplyHead>], started: Instant) {
        observe_batch(&self.policies.metrics, replies, started.elapsed());
    }

    /// No reply leaves before the changes it acknowledges are in the journal file (with
    /// `--fsync always`, on disk).
    fn replies_ready(&self) -> impl Future<Output = ()> + Send {
        self.policies.durability.wait()
    }

    fn idle_closed(&self) {
        self.policies.metrics.refused(Refusal::Idle);
    }
}

/// Counts a batch's replies in `metrics`. Requests answered inline share the batch's time
/// (`elapsed`, less what deferred work took) equally: two clock reads per batch instead of
/// two per request.
fn observe_batch(metrics: &Metrics, replies: &[ReplyMark<ReplyHead>], elapsed: Duration) {
    let deferred: Duration = replies.iter().filter_map(|r| r.took).sum();
    let inline = replies.iter().filter(|r| r.took.is_none()).count();
    let each = elapsed
        .saturating_sub(deferred)
        .checked_div(u32::try_from(inline).unwrap_or(u32::MAX))
        .unwrap_or_default();
    for r in replies {
        metrics.observe(&r.mark, r.took.unwrap_or(each));
    }
}

/// Completes TLS (when configured) and the WebSocket upgrade, and returns the stream with any
/// bytes that followed the request head and the connection's place under `--max-connections`;
/// `None` when the request was not an upgrade and was answered over HTTP (see [`crate::http`]).
/// The upgrade is refused with HTTP 503 when the connection limit is reached and with 401 on a
/// wrong credential; otherwise `upgrade` says whether the request's credentials authenticated
/// the connection.
async fn upgrade_connection(
    stream: TcpStream,
    policies: &ConnectionPolicies,
    ws_config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    upgrade: &mut UpgradeAuth,
) -> Result<Option<(ServerStream, Vec<u8>, ConnectionPermit)>, WsError> {
    let mut stream = match &policies.tls {
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
        Ok(http::Request::Upgrade) => policies.limiter.try_acquire(),
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
    // The error type is tungstenite's (an HTTP response); its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if !admitted {
            policies.metrics.refused(Refusal::ConnectionLimit);
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "connection limit reached",
            ));
        }
        let headers = request.headers().get_all(header::AUTHORIZATION);
        let verdict = policies
            .auth
            .check_upgrade(headers.iter().map(|v| v.as_bytes()));
        if verdict == UpgradeAuth::Rejected {
            policies.metrics.refused(Refusal::Unauthorized);
            return Err(refusal(StatusCode::UNAUTHORIZED, "wrong secret"));
        }
        *upgrade = verdict;
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        HeadOnly::with_read(stream, read),
        check,
        Some(ws_config),
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

/// A reply that is not ready when its request is read.
pub(crate) enum Later {
    /// Disk work (a save or a load), run on a blocking thread.
    Disk(DeferredWork),
    /// A backend engine's answer (`--backend`), awaited on the connection's thread.
    Backend(PendingReply),
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
    fn batch_latency_is_shared_by_inline_requests() {
        let metrics = Metrics::new("0", None);
        let mark = |took| ReplyMark {
            mark: BINARY_REPLY_HEAD,
            took,
        };
        // A deferred reply brings its own time, which the inline ones do not share.
        let replies = [
            mark(None),
            mark(None),
            mark(None),
            mark(None),
            mark(Some(Duration::from_millis(500))),
        ];
        observe_batch(&metrics, &replies, Duration::from_micros(500_040));
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
}
