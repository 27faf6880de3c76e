//! One HTTP request to the console, read whole: the head (checked by the same reader as the
//! WebSocket port's), then a small form body.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::http::{self, Answer, HeadError};

/// Largest request body accepted: the console's forms send a token and a few short fields.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// A client that has not sent its whole request by then is dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most header fields in a request head.
const MAX_HEADERS: usize = 64;

/// A request, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's fields, decoded.
    pub query: Vec<(String, String)>,
    /// The `application/x-www-form-urlencoded` body's fields (empty for other bodies).
    pub form: Vec<(String, String)>,
    /// Header fields, names in lower case, values as sent (non-UTF-8 bytes replaced).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first query field `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first form field `name`.
    pub fn form(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// The first header field `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name)
    }

    /// The value of cookie `name`, from any `Cookie` field.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

fn first<'r>(fields: &'r [(String, String)], name: &str) -> Option<&'r str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads one request from `stream`, or the answer that refuses it (`None`: the client left).
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Request, Option<Answer>> {
    let mut buf = Vec::with_capacity(1024);
    let head_len = match http::read_head(stream, &mut buf).await {
        Ok(len) => len,
        Err(HeadError::Gone) => return Err(None),
        Err(HeadError::Refused(answer)) => return Err(Some(answer)),
    };
    let mut request = parse_head(&buf[..head_len]).map_err(Some)?;
    if request.header("transfer-encoding").is_some() {
        return Err(Some(Answer::bad_request(
            "the console takes bodies with a Content-Length only",
        )));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| Some(Answer::bad_request("malformed Content-Length")))?,
    };
    if length > MAX_BODY_BYTES {
        return Err(Some(Answer {
            status: 413,
            reason: "Content Too Large",
            body: format!("request body over {MAX_BODY_BYTES} bytes"),
            headers: &[],
            head_only: false,
        }));
    }
    let mut body = buf.split_off(head_len);
    if body.len() < length {
        let missing = length - body.len();
        let mut rest = vec![0u8; missing];
        if stream.read_exact(&mut rest).await.is_err() {
            return Err(None);
        }
        body.extend_from_slice(&rest);
    }
    body.truncate(length);
    let is_form = request.header("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if is_form {
        request.form = decode_fields(&body);
    }
    Ok(request)
}

/// Decodes a request head that [`http::read_head`] found complete.
fn parse_head(head: &[u8]) -> Result<Request, Answer> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Answer::bad_request("malformed HTTP request")),
    }
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: parsed.method.unwrap_or_default().to_owned(),
        path: path.to_owned(),
        query: decode_fields(query.as_bytes()),
        form: Vec::new(),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    })
}

/// `a=1&b=x%20y` → `[("a", "1"), ("b", "x y")]`.
fn decode_fields(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_bytes(bytes: &[u8]) -> Result<Request, Option<u16>> {
        let mut stream = bytes;
        read(&mut stream).await.map_err(|a| a.map(|a| a.status))
    }

    #[tokio::test]
    async fn query_form_and_cookies_are_decoded() {
        let body = "tkn=42&csrf=a%2Bb";
        let raw = format!(
            "POST /session/end?x=%3Cy%3E HTTP/1.1\r\nHost: h\r\nCookie: a=1; sessiondb_admin=t0k\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let r = read_bytes(raw.as_bytes()).await.expect("request");
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/session/end")
        );
        assert_eq!(r.query("x"), Some("<y>"));
        assert_eq!((r.form("tkn"), r.form("csrf")), (Some("42"), Some("a+b")));
        assert_eq!(r.cookie("sessiondb_admin"), Some("t0k"));
        assert_eq!(r.cookie("b"), None);
    }

    #[tokio::test]
    async fn oversized_chunked_and_broken_requests_are_refused() {
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(read_bytes(big.as_bytes()).await, Err(Some(413)));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(read_bytes(chunked).await, Err(Some(400)));
        let bad_length = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
        assert_eq!(read_bytes(bad_length).await, Err(Some(400)));
        let short_body = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
        assert_eq!(read_bytes(short_body).await, Err(None));
    }
}
