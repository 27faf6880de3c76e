//! HTTP at the WebSocket port. Every connection's request head is read and checked here (with
//! `httparse`) before the WebSocket handshake: a checked upgrade goes on to the handshake, a
//! plain HTTP request gets an answer instead of a closed socket — `GET /health` for load
//! balancers and container health checks, `426 Upgrade Required` for anything else — and a
//! malformed or ambiguous head gets `400 Bad Request`.
//!
//! The checks are strict where leniency lets a proxy and the server read one request two ways:
//! bare-LF line endings, `Content-Length` with `Transfer-Encoding`, repeated lengths, and a body
//! on an upgrade are refused, and so is a missing, repeated or malformed `Sec-WebSocket-Key`.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest request head accepted; browsers send well under 8 KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in a request head.
const MAX_HEADERS: usize = 64;
/// Longest we spend on an answered request's closing (response out, client's bytes drained).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// What every answer's body says after its first words.
const PROTOCOL: &str = "sessiondb speaks JSON over WebSocket (ws:// or wss://) on this port";

/// What a checked request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A well-formed WebSocket upgrade: the handshake takes the head from here.
    Upgrade,
    /// `GET /health` (`head_only`: `HEAD /health`).
    Health {
        /// Answer without a body.
        head_only: bool,
    },
}

/// An HTTP answer that ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// One line, without its newline.
    pub body: String,
    /// Header fields beyond the ones every answer has.
    pub headers: &'static [(&'static str, &'static str)],
    /// Send the head only (a `HEAD` request).
    pub head_only: bool,
}

impl Answer {
    /// `400 Bad Request`, saying what is wrong.
    pub fn bad_request(what: &str) -> Self {
        Self {
            status: 400,
            reason: "Bad Request",
            body: format!("bad request: {what}; {PROTOCOL}"),
            headers: &[],
            head_only: false,
        }
    }

    /// `426 Upgrade Required`: a plain HTTP request at the WebSocket port.
    pub fn upgrade_required() -> Self {
        Self {
            status: 426,
            reason: "Upgrade Required",
            body: format!("upgrade required: {PROTOCOL}"),
            // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
            headers: &[("Upgrade", "websocket"), ("Connection", "Upgrade, close")],
            head_only: false,
        }
    }

    /// The answer to `/health`: 200 once the server serves, 503 while it loads at startup.
    pub fn health(ready: bool, head_only: bool) -> Self {
        if ready {
            Self {
                status: 200,
                reason: "OK",
                body: "ready".to_owned(),
                headers: &[],
                head_only,
            }
        } else {
            Self::loading(head_only, "loading")
        }
    }

    /// `503 Service Unavailable` while the server loads at startup (`what`: the body).
    pub fn loading(head_only: bool, what: &str) -> Self {
        Self {
            status: 503,
            reason: "Service Unavailable",
            body: what.to_owned(),
            headers: &[("Retry-After", "1")],
            head_only,
        }
    }

    /// The response's bytes. The connection closes after it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = format!("{}\n", self.body);
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        for (name, value) in self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.headers.iter().any(|(name, _)| *name == "Connection") {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        if !self.head_only {
            out.push_str(&body);
        }
        out.into_bytes()
    }
}

/// Why no request head could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The connection broke or ended before the head was complete: nobody to answer.
    Gone,
    /// The bytes are not an HTTP request head (or one too large): answer and close.
    Refused(Answer),
}

/// Reads from `stream` into `buf` until it holds a complete request head (bytes after it may
/// follow in `buf`: frames a client sent without waiting for the upgrade's answer); returns the
/// head's length.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, HeadError> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut headers).parse(buf) {
            Ok(httparse::Status::Complete(len)) => return Ok(len),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::Refused(Answer {
                    status: 431,
                    reason: "Request Header Fields Too Large",
                    body: format!("request head too large; {PROTOCOL}"),
                    headers: &[],
                    head_only: false,
                }));
            }
            Err(e) => {
                return Err(HeadError::Refused(Answer::bad_request(&format!(
                    "malformed HTTP request ({e})"
                ))))
            }
        }
        let room = MAX_HEAD_BYTES
            .saturating_sub(buf.len())
            .clamp(1, chunk.len());
        match stream.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Err(HeadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Checks a complete request head (what [`read_head`] found) and says what it asks for, or
/// how to answer it.
pub fn classify(head: &[u8]) -> Result<Request, Answer> {
    let bare_lf = head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
    if bare_lf {
        return Err(Answer::bad_request("lines must end in CRLF"));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Answer::bad_request("incomplete request")),
        Err(e) => {
            return Err(Answer::bad_request(&format!(
                "malformed HTTP request ({e})"
            )))
        }
    }
    let method = request.method.unwrap_or_default();
    let path = request.path.unwrap_or_default();
    let fields = Fields(request.headers);
    let lengths = fields.count("content-length");
    let chunked = fields.count("transfer-encoding") > 0;
    if lengths > 0 && chunked {
        return Err(Answer::bad_request(
            "Content-Length together with Transfer-Encoding",
        ));
    }
    if lengths > 1 {
        return Err(Answer::bad_request("more than one Content-Length"));
    }
    if !fields.has_token("upgrade", "websocket") {
        let resource = path.split('?').next().unwrap_or_default();
        return match (method, resource) {
            ("GET", "/health") => Ok(Request::Health { head_only: false }),
            ("HEAD", "/health") => Ok(Request::Health { head_only: true }),
            _ => Err(Answer::upgrade_required()),
        };
    }
    if method != "GET" || request.version != Some(1) {
        return Err(Answer::bad_request(
            "a WebSocket upgrade is a GET request in HTTP/1.1",
        ));
    }
    if !fields.has_token("connection", "upgrade") {
        return Err(Answer::bad_request(
            "a WebSocket upgrade needs Connection: Upgrade",
        ));
    }
    let has_body = chunked
        || fields
            .value("content-length")
            .is_some_and(|v| v.trim_ascii() != b"0");
    if has_body {
        return Err(Answer::bad_request("a WebSocket upgrade has no body"));
    }
    match fields.count("sec-websocket-key") {
        0 => return Err(Answer::bad_request("Sec-WebSocket-Key is missing")),
        1 => {}
        _ => return Err(Answer::bad_request("more than one Sec-WebSocket-Key")),
    }
    let key = fields.value("sec-websocket-key").unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim_ascii());
    if decoded.map_or(true, |k| k.len() != 16) {
        return Err(Answer::bad_request(
            "Sec-WebSocket-Key is not 16 bytes in base64",
        ));
    }
    if fields.count("sec-websocket-version") != 1
        || fields
            .value("sec-websocket-version")
            .map(<[u8]>::trim_ascii)
            != Some(b"13")
    {
        // RFC 6455 §4.4: name the version this server speaks.
        return Err(Answer {
            status: 426,
            reason: "Upgrade Required",
            body: format!("WebSocket version 13 required; {PROTOCOL}"),
            headers: &[("Sec-WebSocket-Version", "13")],
            head_only: false,
        });
    }
    Ok(Request::Upgrade)
}

/// The header fields of a parsed head, looked up by lower-case name.
struct Fields<'h, 'b>(&'h [httparse::Header<'b>]);

impl Fields<'_, '_> {
    fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    fn count(&self, name: &str) -> usize {
        self.all(name).count()
    }

    fn value<'s>(&'s self, name: &'s str) -> Option<&'s [u8]> {
        self.all(name).next()
    }

    /// Whether a comma-separated field `name` lists `token` (case-insensitively), in any of
    /// its occurrences.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// Accepts connections on `listener` until `shutdown` completes, each handled by `handle` on a
/// task of its own (its error only logged at debug level: a client that went away). `what` names
/// the endpoint in logs. For the side endpoints (metrics, admin console), one request each.
pub async fn accept_each<H, F>(
    listener: tokio::net::TcpListener,
    what: &'static str,
    shutdown: impl std::future::Future<Output = ()>,
    handle: H,
) where
    H: Fn(tokio::net::TcpStream) -> F,
    F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let request = handle(stream);
                    tokio::spawn(async move {
                        if let Err(e) = request.await {
                            tracing::debug!("{what}: request failed: {e}");
                        }
                    });
                }
                // Accept errors (e.g. too many open files) are transient; back off briefly
                // rather than spinning.
                Err(e) => {
                    tracing::warn!("{what}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Sends `answer`, then drains what the client still sends until it closes (bounded), so the
/// answer is not destroyed by a TCP reset from unread data.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, answer: &Answer) {
    let bytes = answer.to_bytes();
    let closing = async move {
        if stream.write_all(&bytes).await.is_err()
            || stream.flush().await.is_err()
            || stream.shutdown().await.is_err()
        {
            return;
        }
        let mut sink = [0u8; 4096];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade(extra: &str) -> String {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn status(head: &str) -> Result<Request, u16> {
        classify(head.as_bytes()).map_err(|a| a.status)
    }

    #[test]
    fn a_well_formed_upgrade_goes_on_to_the_handshake() {
        let head = upgrade(&format!("Sec-WebSocket-Key: {KEY}\r\n"));
        assert_eq!(status(&head), Ok(Request::Upgrade));
        let head = upgrade(&format!(
            "sec-websocket-key: {KEY}\r\nContent-Length: 0\r\n"
        ));
        assert_eq!(status(&head), Ok(Request::Upgrade));
    }

    #[test]
    fn health_and_plain_requests() {
        assert_eq!(
            status("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Request::Health { head_only: false })
        );
        assert_eq!(
            status("HEAD /health?probe=1 HTTP/1.0\r\n\r\n"),
            Ok(Request::Health { head_only: true })
        );
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Err(426));
        assert_eq!(status("POST /health HTTP/1.1\r\n\r\n"), Err(426));
    }

    #[test]
    fn ambiguous_or_malformed_heads_are_refused() {
        let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
        for (head, why) in [
            (upgrade(""), "no key"),
            (upgrade(&format!("{key}{key}")), "two keys"),
            (upgrade("Sec-WebSocket-Key: c2hvcnQ=\r\n"), "short key"),
            (upgrade("Sec-WebSocket-Key: !!!!\r\n"), "not base64"),
            (upgrade(&format!("{key}Content-Length: 5\r\n")), "a body"),
            (
                upgrade(&format!("{key}Transfer-Encoding: chunked\r\n")),
                "chunked",
            ),
            (
                "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_owned(),
                "CL and TE",
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n".to_owned(),
                "two lengths",
            ),
            (upgrade(&key).replace("\r\nHost", "\nHost"), "bare LF"),
            ("GET /health HTTP/1.1\n\n".to_owned(), "bare LF only"),
            (
                upgrade(&key).replace("GET / HTTP/1.1", "GET / HTTP/1.0"),
                "HTTP/1.0",
            ),
            (
                upgrade(&key).replace("keep-alive, Upgrade", "keep-alive"),
                "no Connection: Upgrade",
            ),
        ] {
            assert_eq!(status(&head), Err(400), "{why}");
        }
        let old = upgrade(&key).replace("Version: 13", "Version: 8");
        let answer = classify(old.as_bytes()).expect_err("version 8");
        assert_eq!(answer.status, 426);
        assert_eq!(answer.headers, &[("Sec-WebSocket-Version", "13")]);
    }

    #[test]
    fn answers_are_complete_responses_with_one_line() {
        let bytes = Answer::upgrade_required().to_bytes();
        let text = String::from_utf8(bytes).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("blank line");
        assert!(
            head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nUpgrade: websocket"), "{head}");
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        assert_eq!(body.lines().count(), 1);
        let head_only = Answer::health(true, true).to_bytes();
        assert!(head_only.ends_with(b"Content-Length: 6\r\n\r\n"));
    }

    #[tokio::test]
    async fn reading_stops_at_the_end_of_the_head_and_keeps_what_follows() {
        let sent = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85".to_vec();
        let mut buf = Vec::new();
        let len = read_head(&mut &sent[..], &mut buf).await.expect("head");
        assert_eq!(&buf[..len], &sent[..sent.len() - 2]);
        assert_eq!(&buf[len..], b"\x81\x85");
        let huge = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        let mut buf = Vec::new();
        match read_head(&mut huge.as_bytes(), &mut buf).await {
            Err(HeadError::Refused(a)) => assert_eq!(a.status, 431),
            other => panic!("{other:?}"),
        }
        let mut buf = Vec::new();
        assert!(matches!(
            read_head(&mut &b"GET / HTTP/1.1\r\n"[..], &mut buf).await,
            Err(HeadError::Gone)
        ));
    }
}
