//! The WebSocket echo floor: sessiondb's transport with the service replaced by "reply with the
//! request's payload, same opcode".
//!
//! It is the server's own connection loop and accept loop
//! ([`sessiondb_server::connection`], [`sessiondb_server::transport`]) with [`Echo`] as the
//! handler, so everything a request costs in the transport is here and nothing else: the
//! upgrade (tungstenite's handshake on a [`ServerStream`], with the server's default settings),
//! frames read in place and replies framed into the batch's buffer, the batch bounds, one write
//! per batch, the next read only after it (backpressure), keep-alive pings, the idle timeout,
//! the closing handshake, and the runtime model (one acceptor handing connections round-robin
//! to `threads` current-thread runtimes, or serving them itself with `threads` = 0).
//!
//! Not here, because it is the server's work rather than transport: parsing, executing and
//! rendering requests, the store clock, per-reply metrics, the authentication and brute-force
//! policies, the connection limit, the durability wait, TLS and logging.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use sessiondb_server::connection::{Close, ConnectionSettings, Handler, Reply, Upgraded};
use sessiondb_server::tls::ServerStream;
use sessiondb_server::transport;
use sessiondb_server::upgrade::HeadOnly;
use sessiondb_server::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;

/// The frame reader does not keep binary payloads (the server never needs them), so there is
/// nothing to echo: a binary message closes the connection with 1003 (RFC 6455 §7.4.1).
const CLOSE_BINARY: Close = Close {
    code: 1003,
    reason: "binary messages are not echoed",
};

/// Echoes on `listener` until `shutdown` completes, then closes every connection with 1001 and
/// waits for them. `threads` connection threads each run a current-thread runtime; with 0 the
/// connections run on the caller's runtime.
pub async fn serve(
    listener: TcpListener,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let settings = ConnectionSettings::from_config(&Config::default());
    transport::serve(listener, Arc::new(Echo), settings, threads, shutdown).await?;
    Ok(())
}

/// The handler of the echo floor: every text message comes back as it is.
#[derive(Debug, Clone, Copy)]
pub struct Echo;

impl Handler for Echo {
    type Conn = ();
    type Mark = ();
    type Deferred = Infallible;

    /// The plain WebSocket upgrade, without the server's TLS, connection limit and credentials.
    fn upgrade(
        &self,
        stream: TcpStream,
        _peer: SocketAddr,
        settings: &ConnectionSettings,
    ) -> impl Future<Output = Result<Option<Upgraded<()>>, WsError>> + Send {
        let ws_config = settings.ws_config;
        async move {
            let ws = tokio_tungstenite::accept_async_with_config(
                HeadOnly::new(ServerStream::Plain(stream)),
                Some(ws_config),
            )
            .await?;
            let (stream, early) = ws.into_inner().into_parts();
            Ok(Some(Upgraded {
                stream,
                early,
                conn: (),
            }))
        }
    }

    /// Nothing expires here.
    fn now_ms(&self) -> u64 {
        0
    }

    fn text(
        &self,
        _conn: &mut (),
        text: &str,
        _now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Reply<(), Infallible> {
        out.extend_from_slice(text.as_bytes());
        Reply::Done(())
    }

    fn binary(&self, _conn: &mut (), _out: &mut Vec<u8>) -> Result<(), Close> {
        Err(CLOSE_BINARY)
    }

    async fn run_deferred(&self, work: Infallible, _mark: ()) -> Option<(Vec<u8>, ())> {
        match work {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_comes_back_as_it_is() {
        let mut out = b"head".to_vec();
        assert!(matches!(
            Echo.text(&mut (), r#"{"SH_GET":{"tkn":1}}"#, 0, &mut out),
            Reply::Done(())
        ));
        assert_eq!(out, br#"head{"SH_GET":{"tkn":1}}"#);
    }

    #[test]
    fn binary_closes_with_1003() {
        let mut out = Vec::new();
        assert_eq!(Echo.binary(&mut (), &mut out), Err(CLOSE_BINARY));
        assert_eq!(CLOSE_BINARY.code, 1003);
        assert!(out.is_empty());
    }
}
