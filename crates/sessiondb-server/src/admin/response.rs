//! The console's HTTP responses, each with the headers that keep a page of operator data out of
//! caches, frames and other sites' reach.

/// Sent with every response: no caching (the pages show live user data), no framing, no
/// sniffing, no referrer to other sites (a URL can hold a search; within the console the browser
/// still names the page's origin, which the form posts are checked by), and a policy that runs only the console's
/// own script and style, so markup that slipped through escaping could not run anything.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
];

/// One response; the connection closes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Header fields beyond the ones every response has.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An HTML page.
    pub fn html(status: u16, page: String) -> Self {
        Self::with_body(status, "text/html; charset=utf-8", page.into_bytes())
    }

    /// A JSON document.
    pub fn json(value: &serde_json::Value) -> Self {
        Self::with_body(200, "application/json", value.to_string().into_bytes())
    }

    /// One of the console's embedded files.
    pub fn asset(content_type: &'static str, text: &'static str) -> Self {
        Self::with_body(200, content_type, text.as_bytes().to_vec())
    }

    /// A line of text, for what is not a page (a refusal, a wrong method).
    pub fn text(status: u16, line: &str) -> Self {
        Self::with_body(
            status,
            "text/plain; charset=utf-8",
            format!("{line}\n").into_bytes(),
        )
    }

    /// `303 See Other` to `location` (a path of the console): where a form post leads.
    pub fn see_other(location: String) -> Self {
        let mut response = Self::with_body(303, "text/plain; charset=utf-8", Vec::new());
        response.headers.push(("Location", location));
        response
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn with_body(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// The response's bytes (`head_only`: without the body, for `HEAD`).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let fixed = [
            ("Content-Type", self.content_type.to_owned()),
            ("Content-Length", self.body.len().to_string()),
            ("Connection", "close".to_owned()),
        ];
        let security = SECURITY_HEADERS.iter().map(|(n, v)| (*n, (*v).to_owned()));
        for (name, value) in fixed
            .into_iter()
            .chain(security)
            .chain(self.headers.clone())
        {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of the statuses the console answers with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_carries_length_and_security_headers() {
        let bytes = Response::html(200, "<p>hi</p>".to_owned()).to_bytes(false);
        let text = String::from_utf8(bytes).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("blank line");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        for field in [
            "Content-Length: 9",
            "Cache-Control: no-store",
            "X-Frame-Options: DENY",
            "Content-Security-Policy: default-src 'none'; script-src 'self'",
        ] {
            assert!(head.contains(field), "{field} in {head}");
        }
        assert_eq!(body, "<p>hi</p>");
        let head_only = Response::see_other("/".to_owned()).to_bytes(true);
        assert!(String::from_utf8_lossy(&head_only).contains("\r\nLocation: /\r\n"));
    }
}
