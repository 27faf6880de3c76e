//! Helpers shared by the integration tests: start the real server in-process on 127.0.0.1:0,
//! talk WebSocket to it, and compare replies as parsed JSON. Submodules: [`ops`] for the
//! operations tests (TLS, headers, metrics, `TestResult` style) and [`binary`] for tests that
//! run the real `sessiondb` executable as a child process.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod binary;
pub mod ops;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sessiondb_server::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards against a hung test, not a timing assertion: nothing here should take this long.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// A server running in this process, with its own temporary data directory.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), sessiondb_server::ServerError>>>,
    /// The temporary directory holding the persistence root.
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with the default configuration (persistence in a temp directory).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the default configuration and opens one connection on `/`.
    pub async fn start_connected() -> (Self, Ws) {
        let server = Self::start().await;
        let ws = server.connect().await;
        (server, ws)
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        adjust(&mut config);
        if let Some(url) = test_backend() {
            flush_backend(&url);
            config.backend = vec![url];
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(sessiondb_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            handle: Some(handle),
            dir,
        }
    }

    /// `ws://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Opens a WebSocket connection on `/`.
    pub async fn connect(&self) -> Ws {
        connect_url(&self.url("/")).await
    }

    /// Signals shutdown and returns what `run` returned.
    pub async fn shutdown(mut self) -> Result<(), sessiondb_server::ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let handle = self.handle.take().expect("server handle");
        tokio::time::timeout(HANG_GUARD, handle)
            .await
            .expect("server did not stop")
            .expect("server task panicked")
    }
}

/// Names the environment variable that runs the suites in backend mode.
pub const TEST_BACKEND_VAR: &str = "SESSIONDB_TEST_BACKEND";

/// The backend the protocol suites run on (`SESSIONDB_TEST_BACKEND=redis://127.0.0.1:PORT`,
/// set by scripts/test-cluster.sh), or `None` for the embedded engine.
pub fn test_backend() -> Option<String> {
    std::env::var(TEST_BACKEND_VAR)
        .ok()
        .filter(|url| !url.is_empty())
}

/// In backend mode, whether the test must be skipped because it needs `what`, which backend
/// mode does not support yet (docs/PROTOCOL.md, "backend mode: not yet"); says so on stderr,
/// so a skip is never silent.
pub fn backend_lacks(test: &str, what: &str) -> bool {
    if test_backend().is_none() {
        return false;
    }
    eprintln!("SKIPPED in backend mode: {test} needs {what} (backend mode: not yet)");
    true
}

/// Empties every master of the backend at `url`, so a test starts from an empty store as in
/// embedded mode. The backend suite runs one test at a time for this reason.
fn flush_backend(url: &str) {
    let addr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let (host, port) = addr
        .rsplit_once(':')
        .expect("backend URL is redis://HOST:PORT");
    let cluster = std::process::Command::new("redis-cli")
        .args([
            "-h",
            host,
            "-p",
            port,
            "--cluster",
            "call",
            &addr,
            "FLUSHALL",
        ])
        .output()
        .expect("redis-cli runs");
    if !cluster.status.success() {
        // A single Redis, not a cluster.
        let single = std::process::Command::new("redis-cli")
            .args(["-h", host, "-p", port, "FLUSHALL"])
            .status()
            .expect("redis-cli runs");
        assert!(single.success(), "cannot flush the backend at {url}");
    }
}

/// Opens a WebSocket connection to `url`.
pub async fn connect_url(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect hung")
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    ws
}

/// Sends one text message.
pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// The next message, whatever it is (`None` when the stream ended).
pub async fn next_message(ws: &mut Ws) -> Option<Message> {
    match tokio::time::timeout(HANG_GUARD, ws.next()).await {
        Ok(Some(Ok(msg))) => Some(msg),
        Ok(Some(Err(_))) | Ok(None) => None,
        Err(_) => panic!("no message within {HANG_GUARD:?}"),
    }
}

/// The next text message; pings and pongs are skipped, anything else fails the test.
pub async fn recv_text(ws: &mut Ws) -> String {
    loop {
        match next_message(ws).await {
            Some(Message::Text(t)) => return t.as_str().to_owned(),
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a text reply, got {other:?}"),
        }
    }
}

/// The next reply, parsed.
pub async fn recv_json(ws: &mut Ws) -> Value {
    let text = recv_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text}"))
}

/// Sends `request` and returns the parsed reply.
pub async fn request(ws: &mut Ws, request: &str) -> Value {
    send(ws, request).await;
    recv_json(ws).await
}

/// Sends `request` and asserts the reply matches `expected` (see [`assert_matches`]).
pub async fn expect(ws: &mut Ws, request_text: &str, expected: &str) {
    let got = request(ws, request_text).await;
    assert_matches(&got, expected, &mut HashMap::new(), request_text);
}

/// Sends `request` and asserts the reply is exactly `want`, byte for byte (member order
/// included), for replies whose layout is part of the protocol (a member that must come last).
pub async fn exact(ws: &mut Ws, request: &str, want: &str) {
    send(ws, request).await;
    assert_eq!(recv_text(ws).await, want, "reply to {request}");
}

/// Sends each message in turn, each flushed on its own (whole messages or raw frames).
pub async fn send_each(ws: &mut Ws, messages: impl IntoIterator<Item = Message>) {
    for msg in messages {
        ws.send(msg).await.expect("send");
    }
}

/// Queues `messages` and flushes once, so the server receives them back to back (pipelined).
pub async fn pipeline(ws: &mut Ws, messages: impl IntoIterator<Item = Message>) {
    for msg in messages {
        ws.feed(msg).await.expect("feed");
    }
    ws.flush().await.expect("flush");
}

/// Asserts the next reply equals `want` exactly: no patterns, and a failure's `m` counts.
pub async fn expect_reply(ws: &mut Ws, want: Value) {
    assert_eq!(recv_json(ws).await, want);
}

/// Sends `KV_COUNT` and asserts the reply is exactly `{"KV_COUNT_RSP":{"st":1,"cnt":cnt}}`.
pub async fn expect_kv_count(ws: &mut Ws, cnt: u64) {
    let want = format!(r#"{{"KV_COUNT_RSP":{{"st":1,"cnt":{cnt}}}}}"#);
    expect(ws, r#"{"KV_COUNT":{}}"#, &want).await;
}

/// Sends `SH_INFO_ALL` and asserts the reply is exactly
/// `{"SH_INFO_ALL_RSP":{"st":1,"totalSessions":SESSIONS,"totalKeys":KEYS}}`.
pub async fn expect_info_all(ws: &mut Ws, sessions: u64, keys: u64) {
    let want = format!(
        r#"{{"SH_INFO_ALL_RSP":{{"st":1,"totalSessions":{sessions},"totalKeys":{keys}}}}}"#
    );
    expect(ws, r#"{"SH_INFO_ALL":{}}"#, &want).await;
}

/// Sends `{"SH_SET":{"tkn":TKN,"keys":KEYS}}` (`keys` a JSON object) and asserts the reply is
/// exactly `{"SH_SET_RSP":{"st":1}}`.
pub async fn expect_sh_set(ws: &mut Ws, tkn: u64, keys: &str) {
    let request = format!(r#"{{"SH_SET":{{"tkn":{tkn},"keys":{keys}}}}}"#);
    expect(ws, &request, r#"{"SH_SET_RSP":{"st":1}}"#).await;
}

/// Reads until the close frame and returns its code; fails on any data message before it.
pub async fn expect_close(ws: &mut Ws) -> CloseCode {
    loop {
        match next_message(ws).await {
            Some(Message::Close(Some(frame))) => {
                // Keep reading so the client library answers the close and sees the end.
                while next_message(ws).await.is_some() {}
                return frame.code;
            }
            Some(Message::Close(None)) => panic!("close frame without a code"),
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            Some(other) => panic!("expected a close frame, got {other:?}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// Asserts `got` matches the pattern `expected` (JSON text). Patterns are plain JSON with:
/// `"$NAME"` binds a variable on first use (a token, say) and must equal it afterwards;
/// `"$any"` matches anything; `{"$set":[…]}` matches an array with the same items in any
/// order; `{"$in":[…]}` matches any one of the values. A failure reply's optional `m` member
/// (docs/PROTOCOL.md §3.2) is ignored unless the pattern names it.
pub fn assert_matches(got: &Value, expected: &str, vars: &mut HashMap<String, Value>, ctx: &str) {
    let pattern: Value =
        serde_json::from_str(expected).unwrap_or_else(|e| panic!("bad pattern {expected}: {e}"));
    let mut got = got.clone();
    strip_failure_message(&mut got, &pattern);
    if let Err(why) = match_value(&pattern, &got, vars, "") {
        panic!("{ctx}\n  expected {expected}\n  got      {got}\n  {why}");
    }
}

fn strip_failure_message(got: &mut Value, pattern: &Value) {
    let Some((name, body)) = got.as_object_mut().and_then(|o| o.iter_mut().next()) else {
        return;
    };
    let pattern_has_m = pattern
        .get(name.as_str())
        .and_then(|b| b.get("m"))
        .is_some();
    let Some(body) = body.as_object_mut() else {
        return;
    };
    let success = matches!(body.get("st").and_then(Value::as_u64), Some(1 | 121 | 141));
    if !success && !pattern_has_m {
        body.remove("m");
    }
}

fn match_value(
    pattern: &Value,
    got: &Value,
    vars: &mut HashMap<String, Value>,
    path: &str,
) -> Result<(), String> {
    match pattern {
        Value::String(s) if s == "$any" => Ok(()),
        Value::String(s) if s.starts_with('$') => match vars.get(s) {
            Some(bound) if bound == got => Ok(()),
            Some(bound) => Err(format!("at {path}: {s} is {bound}, got {got}")),
            None => {
                vars.insert(s.clone(), got.clone());
                Ok(())
            }
        },
        Value::Object(p) if p.len() == 1 && p.contains_key("$set") => {
            let want = p["$set"].as_array().cloned().unwrap_or_default();
            let Some(have) = got.as_array() else {
                return Err(format!("at {path}: expected an array"));
            };
            let mut want: Vec<String> = want.iter().map(Value::to_string).collect();
            let mut have: Vec<String> = have.iter().map(Value::to_string).collect();
            want.sort();
            have.sort();
            if want == have {
                Ok(())
            } else {
                Err(format!("at {path}: items differ"))
            }
        }
        Value::Object(p) if p.len() == 1 && p.contains_key("$in") => {
            let options = p["$in"].as_array().cloned().unwrap_or_default();
            if options.contains(got) {
                Ok(())
            } else {
                Err(format!("at {path}: not one of {}", p["$in"]))
            }
        }
        Value::Object(p) => {
            let Some(g) = got.as_object() else {
                return Err(format!("at {path}: expected an object"));
            };
            let mut pk: Vec<&String> = p.keys().collect();
            let mut gk: Vec<&String> = g.keys().collect();
            pk.sort();
            gk.sort();
            if pk != gk {
                return Err(format!("at {path}: members {gk:?}, expected {pk:?}"));
            }
            for (k, pv) in p {
                match_value(pv, &g[k], vars, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(p) => {
            let Some(g) = got.as_array() else {
                return Err(format!("at {path}: expected an array"));
            };
            if p.len() != g.len() {
                return Err(format!(
                    "at {path}: {} items, expected {}",
                    g.len(),
                    p.len()
                ));
            }
            for (i, (pv, gv)) in p.iter().zip(g).enumerate() {
                match_value(pv, gv, vars, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if pattern == got => Ok(()),
        _ => Err(format!("at {path}: {got} != {pattern}")),
    }
}

/// Both saves, with the exact reply each gets when persistence is off (status 14).
pub const SAVES_WITHOUT_PERSISTENCE: [(&str, &str); 2] = [
    (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"st":14}}"#),
    (
        r#"{"SH_SAVE":{"name":"x"}}"#,
        r#"{"SH_SAVE_RSP":{"st":14}}"#,
    ),
];

/// Runs `(request, expected pattern)` steps in order on one connection, sharing variables, so
/// a token bound by `"$T1"` in a reply can be used as `$T1` in later requests.
pub async fn script(ws: &mut Ws, steps: &[(&str, &str)]) -> HashMap<String, Value> {
    let mut vars: HashMap<String, Value> = HashMap::new();
    for (i, (req, expected)) in steps.iter().enumerate() {
        if backend_not_yet(req) {
            // Validation errors are answered as in embedded mode; only a request that would
            // succeed answers 14 there.
            let succeeds = serde_json::from_str(expected)
                .ok()
                .and_then(|e: Value| status_of(&e))
                .is_some_and(|st| matches!(st, 1 | 121 | 141));
            if succeeds && test_backend().is_some() {
                eprintln!(
                    "SKIPPED in backend mode: step {req} and the {} steps after it, which depend \
                     on it (backend mode: not yet)",
                    steps.len() - i - 1
                );
                break;
            }
        }
        let mut text = (*req).to_owned();
        // Longest names first, so `$T10` is not mistaken for `$T1` followed by `0`.
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in names {
            text = text.replace(name.as_str(), &vars[name].to_string());
        }
        let got = request(ws, &text).await;
        assert_matches(&got, expected, &mut vars, &text);
    }
    vars
}

/// The timestamp directories (saves) of dataset `name` under `root`, oldest first.
pub fn saves(root: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(root.join(name))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Commands that backend mode does not support yet (docs/PROTOCOL.md, "backend mode: not
/// yet"). They all change what later steps read, so a suite stops at the first one.
fn backend_not_yet(request: &str) -> bool {
    const NOT_YET: [&str; 4] = [
        r#"{"KV_SAVE""#,
        r#"{"SH_SAVE""#,
        r#"{"KV_LOAD""#,
        r#"{"SH_LOAD""#,
    ];
    NOT_YET.iter().any(|c| request.starts_with(c))
}

/// The `st` of a reply such as `{"X_RSP":{"st":N,…}}`.
fn status_of(reply: &Value) -> Option<u64> {
    reply.as_object()?.values().next()?.get("st")?.as_u64()
}

/// The token in a reply such as `{"SH_NEW_RSP":{"st":1,"tkn":T}}`.
pub fn token(reply: &Value) -> u64 {
    reply
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|b| b.get("tkn"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no token in {reply}"))
}

/// Polls `SV_INFO.connections` until it equals `want`; panics after the hang guard.
pub async fn wait_for_connections(ws: &mut Ws, want: u64) {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    loop {
        let info = request(ws, r#"{"SV_INFO":{}}"#).await;
        if info["SV_INFO_RSP"]["connections"] == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections never reached {want}: {info}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The writes `k0..k<upto>` of session `tkn` found after a crash and restart, by index, each
/// checked to hold `value(i)` (compared as JSON text).
pub async fn present(
    ws: &mut Ws,
    tkn: u64,
    upto: usize,
    value: impl Fn(usize) -> String,
) -> Vec<usize> {
    let keys: Vec<String> = (0..upto).map(|i| format!("\"k{i}\"")).collect();
    let reply = request(
        ws,
        &format!(
            r#"{{"SH_GET":{{"tkn":{tkn},"keys":[{}]}}}}"#,
            keys.join(",")
        ),
    )
    .await;
    let got = reply["SH_GET_RSP"]["keys"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut found: Vec<usize> = got
        .iter()
        .map(|(k, v)| {
            let i: usize = k[1..].parse().expect("key index");
            assert_eq!(v.to_string(), value(i), "value of {k}");
            i
        })
        .collect();
    found.sort_unstable();
    found
}
