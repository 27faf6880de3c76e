//! Where to connect: `--url`, or `-h HOST -p PORT` as in redis-cli, or `HOST:PORT` without a scheme.

/// The server's default address (docs/PROTOCOL.md §2.1).
pub const DEFAULT_URL: &str = "ws://127.0.0.1:1987";
const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 1987;

/// The URL to connect to, from `--url` (explicit or from the environment) and `-h`/`-p`.
/// `url_given` says whether `--url` was on the command line, where it cannot be mixed with
/// `-h`/`-p`; a URL from `SESSIONDB_URL` is overridden by them.
pub fn resolve(
    url: &str,
    url_given: bool,
    host: Option<&str>,
    port: Option<u16>,
) -> Result<String, String> {
    if host.is_none() && port.is_none() {
        return normalize(url);
    }
    if url_given {
        return Err("give either --url or -h/-p, not both".into());
    }
    let host = host.unwrap_or(DEFAULT_HOST);
    let port = port.unwrap_or(DEFAULT_PORT);
    if host.is_empty() {
        return Err("-h needs a host name or address".into());
    }
    // An IPv6 address needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(format!("ws://{host}:{port}"))
}

/// `ws://` and `wss://` URLs pass; `HOST:PORT` (or a bare `HOST`) gets `ws://`; any other scheme
/// is an error that says what to write instead.
pub fn normalize(url: &str) -> Result<String, String> {
    match url.split_once("://") {
        None if url.is_empty() => Err("the server URL is empty".into()),
        None => Ok(format!("ws://{url}")),
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss") =>
        {
            Ok(url.to_owned())
        }
        Some((scheme, rest)) => {
            let instead = if matches!(
                scheme.to_ascii_lowercase().as_str(),
                "rediss" | "https" | "tls"
            ) {
                "wss"
            } else {
                "ws"
            };
            Err(format!(
                "{scheme}:// is not supported: sessiondb speaks JSON over WebSocket; use \
                 {instead}://{rest} (ws:// plain, wss:// with TLS; the default port is 1987)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_host_port_forms() {
        assert_eq!(normalize("ws://h:1").unwrap(), "ws://h:1");
        assert_eq!(normalize("WSS://h/x").unwrap(), "WSS://h/x");
        assert_eq!(normalize("127.0.0.1:1987").unwrap(), "ws://127.0.0.1:1987");
        assert_eq!(normalize("db.local").unwrap(), "ws://db.local");
        let e = normalize("redis://localhost:6379").unwrap_err();
        assert!(e.contains("use ws://localhost:6379"), "{e}");
        assert!(normalize("https://h").unwrap_err().contains("use wss://h"));
        assert!(normalize("").is_err());
    }

    #[test]
    fn host_and_port_as_in_redis_cli() {
        let r = |h, p| resolve(DEFAULT_URL, false, h, p);
        assert_eq!(r(Some("db"), None).unwrap(), "ws://db:1987");
        assert_eq!(r(None, Some(7000)).unwrap(), "ws://127.0.0.1:7000");
        assert_eq!(r(Some("::1"), Some(1)).unwrap(), "ws://[::1]:1");
        assert_eq!(r(None, None).unwrap(), DEFAULT_URL);
        assert!(resolve("ws://x:1", true, Some("db"), None).is_err());
        // A URL from the environment gives way to -h/-p.
        assert_eq!(
            resolve("ws://x:1", false, Some("db"), Some(2)).unwrap(),
            "ws://db:2"
        );
    }
}
