//! Helpers for the operations tests (`ops_*.rs`): start the real server in-process (through
//! `Server::new`, with a metrics listener when configured) on `127.0.0.1:0`, connect over
//! `ws://` or `wss://` with chosen headers, exchange messages as `TestResult`s, scrape metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sessiondb_server::Config;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Result type of the tests: any error fails the test with its message.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Longest any single wait in these tests may take; generous so a loaded machine does not
/// fail a test, and never reached when the server behaves.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in this process; stopped when dropped.
pub struct TestServer {
    /// Where it listens for WebSocket connections.
    pub addr: SocketAddr,
    /// Where its metrics endpoint listens, if it has one.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _data: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A configuration for tests: loopback, any port, persistence in a fresh temporary directory.
pub fn config() -> TestResult<(Config, tempfile::TempDir)> {
    let data = tempfile::tempdir()?;
    let config = Config {
        ip: "127.0.0.1".parse()?,
        port: 0,
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    Ok((config, data))
}

/// Starts a server with `edit` applied to the test configuration.
pub async fn start(edit: impl FnOnce(&mut Config)) -> TestResult<TestServer> {
    let (mut config, data) = config()?;
    edit(&mut config);
    let listener = TcpListener::bind((config.ip, 0)).await?;
    let addr = listener.local_addr()?;
    // The metrics endpoint is bound by the test (port 0) and handed to the server, so no port
    // is guessed.
    let metrics_listener = match config.metrics_addr {
        Some(_) => Some(TcpListener::bind("127.0.0.1:0").await?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let server = sessiondb_server::Server::new(config)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = server.run_with(listener, metrics_listener, shutdown).await {
            eprintln!("server failed: {e}");
        }
    });
    Ok(TestServer {
        addr,
        metrics_addr,
        stop: Some(stop),
        task: Some(task),
        _data: data,
    })
}

/// A WebSocket client over any stream.
pub type Ws<S> = WebSocketStream<S>;

/// Connects over `ws://` with extra request headers.
pub async fn connect_with(
    addr: SocketAddr,
    headers: &[(&str, &str)],
) -> Result<Ws<TcpStream>, WsError> {
    let mut request = format!("ws://{addr}/").into_client_request()?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .map_err(|e| WsError::Io(std::io::Error::other(e.to_string())))?;
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().map_err(
            |e: tokio_tungstenite::tungstenite::http::header::InvalidHeaderName| {
                WsError::Io(std::io::Error::other(e.to_string()))
            },
        )?;
        request.headers_mut().append(name, value);
    }
    let tcp = TcpStream::connect(addr).await?;
    let (ws, _) = tokio_tungstenite::client_async(request, tcp).await?;
    Ok(ws)
}

/// Connects over `ws://` without credentials.
pub async fn connect(addr: SocketAddr) -> TestResult<Ws<TcpStream>> {
    Ok(connect_with(addr, &[]).await?)
}

/// The HTTP status of a refused upgrade, or `None` if the upgrade succeeded.
pub async fn upgrade_status(addr: SocketAddr, headers: &[(&str, &str)]) -> TestResult<Option<u16>> {
    match connect_with(addr, headers).await {
        Ok(_) => Ok(None),
        Err(WsError::Http(response)) => Ok(Some(response.status().as_u16())),
        Err(e) => Err(e.into()),
    }
}

/// Sends one text message and returns the next text reply.
pub async fn ask<S>(ws: &mut Ws<S>, request: &str) -> TestResult<String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::text(request)).await?;
    next_text(ws).await
}

/// Sends `request` and asserts the reply text is exactly `want`, byte for byte.
pub async fn ask_expect<S>(ws: &mut Ws<S>, request: &str, want: &str) -> TestResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    assert_eq!(ask(ws, request).await?, want, "{request}");
    Ok(())
}

/// Asks `KV_COUNT` and asserts the reply is exactly `{"KV_COUNT_RSP":{"st":1,"cnt":CNT}}`.
pub async fn ask_kv_count<S>(ws: &mut Ws<S>, cnt: u64) -> TestResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let want = format!(r#"{{"KV_COUNT_RSP":{{"st":1,"cnt":{cnt}}}}}"#);
    ask_expect(ws, r#"{"KV_COUNT":{}}"#, &want).await
}

/// Asks `KV_COUNT` on an unauthenticated connection and asserts the exact refusal
/// `{"KV_COUNT_RSP":{"st":200}}`.
pub async fn ask_kv_count_refused<S>(ws: &mut Ws<S>) -> TestResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ask_expect(ws, r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"st":200}}"#).await
}

/// Sends `{"SV_AUTH":{"secret":SECRET}}` (the secret needs no JSON escaping) and asserts the
/// reply is exactly `{"SV_AUTH_RSP":{"st":ST}}`.
pub async fn ask_sv_auth<S>(ws: &mut Ws<S>, secret: &str, st: u64) -> TestResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(r#"{{"SV_AUTH":{{"secret":"{secret}"}}}}"#);
    ask_expect(ws, &request, &format!(r#"{{"SV_AUTH_RSP":{{"st":{st}}}}}"#)).await
}

/// Sends one text message and returns the next reply parsed as JSON.
pub async fn ask_json<S>(ws: &mut Ws<S>, request: &str) -> TestResult<serde_json::Value>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Ok(serde_json::from_str(&ask(ws, request).await?)?)
}

/// The next text message (pings and pongs skipped); an error if the connection closes first.
pub async fn next_text<S>(ws: &mut Ws<S>) -> TestResult<String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await?
            .ok_or("connection ended")??;
        match msg {
            Message::Text(t) => return Ok(t.as_str().to_owned()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("expected a text reply, got {other:?}").into()),
        }
    }
}

/// Reads until the server closes; returns the close code (`None` if it closed without one).
pub async fn close_code<S>(ws: &mut Ws<S>) -> TestResult<Option<CloseCode>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await? {
            Some(Ok(Message::Close(frame))) => return Ok(frame.map(|f| f.code)),
            Some(Ok(Message::Text(t))) => {
                return Err(format!("expected a close, got the reply {t}").into())
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Ok(None),
        }
    }
}

/// The `st` of a reply object `{"NAME":{"st":N,…}}`, with its name.
pub fn status(reply: &serde_json::Value) -> Option<(String, u64)> {
    let (name, body) = reply.as_object()?.iter().next()?;
    Some((name.clone(), body.get("st")?.as_u64()?))
}

/// Scrapes `GET /metrics` and returns the body.
pub async fn scrape(addr: SocketAddr) -> TestResult<String> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, conn.read_to_string(&mut response)).await??;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("no end of HTTP head")?;
    if !head.starts_with("HTTP/1.1 200 ") {
        return Err(format!("scrape failed: {head}").into());
    }
    Ok(body.to_owned())
}

/// The value of one sample (`name{labels}` exactly as rendered) in a scrape, if present.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}

/// A self-signed certificate for `localhost`, written as PEM files in a temporary directory,
/// with the certificate's DER for the client's trust store.
pub struct TestCert {
    /// Directory holding the files.
    pub dir: tempfile::TempDir,
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem`.
    pub key: PathBuf,
    /// The certificate, DER-encoded.
    pub der: Vec<u8>,
}

/// Generates a fresh self-signed certificate with rcgen.
pub fn self_signed() -> TestResult<TestCert> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let dir = tempfile::tempdir()?;
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;
    Ok(TestCert {
        der: certified.cert.der().to_vec(),
        dir,
        cert,
        key,
    })
}

/// A TLS connection to `localhost` at `addr` trusting only `cert`, before any WebSocket bytes.
pub async fn tls_socket(
    addr: SocketAddr,
    cert: &TestCert,
) -> TestResult<tokio_rustls::client::TlsStream<TcpStream>> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(cert.der.clone()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    Ok(connector.connect(name, tcp).await?)
}

/// Connects over `wss://localhost` trusting only `cert`.
pub async fn connect_tls(
    addr: SocketAddr,
    cert: &TestCert,
) -> TestResult<Ws<tokio_rustls::client::TlsStream<TcpStream>>> {
    let tls = tls_socket(addr, cert).await?;
    let request = format!("wss://localhost:{}/", addr.port()).into_client_request()?;
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await?;
    Ok(ws)
}
