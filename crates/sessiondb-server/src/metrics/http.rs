//! The HTTP endpoint that serves [`Metrics`] on `--metrics-addr`: `GET /metrics`, one request
//! per connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Metrics;

/// Longest HTTP request head the endpoint reads; scrapers send a few hundred bytes.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A scraper that has not sent its request head by then is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` on `listener` until `shutdown` completes. Every other path is 404,
/// every other method 405. One request per connection (`Connection: close`).
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) {
    crate::http::accept_each(listener, "metrics endpoint", shutdown, move |stream| {
        let metrics = Arc::clone(&metrics);
        async move { handle_scrape(stream, &metrics).await }
    })
    .await;
}

async fn handle_scrape(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let response = respond(&head, metrics);
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads until the end of the request head (`\r\n\r\n`), the size cap or EOF.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_REQUEST_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// Builds the whole HTTP response for a request head.
fn respond(head: &[u8], metrics: &Metrics) -> String {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body, content_type) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            metrics.render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (_, "/metrics") => ("405 Method Not Allowed", String::new(), "text/plain"),
        _ => ("404 Not Found", String::new(), "text/plain"),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_routing() {
        let m = Metrics::new("0", None);
        let ok = respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &m);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("text/plain; version=0.0.4"));
        assert!(ok.contains("sessiondb_connections_open 0"));
        let query = respond(b"GET /metrics?x=1 HTTP/1.1\r\n\r\n", &m);
        assert!(query.starts_with("HTTP/1.1 200 OK\r\n"));
        let head = respond(b"HEAD /metrics HTTP/1.1\r\n\r\n", &m);
        assert!(head.ends_with("\r\n\r\n") && !head.contains("sessiondb_"));
        assert!(respond(b"POST /metrics HTTP/1.1\r\n\r\n", &m).starts_with("HTTP/1.1 405"));
        assert!(respond(b"GET / HTTP/1.1\r\n\r\n", &m).starts_with("HTTP/1.1 404"));
        assert!(respond(b"\xff\xfe", &m).starts_with("HTTP/1.1 404"));
    }

    #[tokio::test]
    async fn serves_over_tcp() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics = Arc::new(Metrics::new("0", None));
        metrics.connection_opened();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::clone(&metrics), async {
            let _ = stopped.await;
        }));
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(
            response.contains("\nsessiondb_connections_open 1\n"),
            "{response}"
        );
        let _ = stop.send(());
        server.await.map_err(std::io::Error::other)?;
        Ok(())
    }
}
