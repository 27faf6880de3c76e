//! Prometheus metrics: counters kept with atomics on the request path, rendered in the text
//! exposition format (version 0.0.4) by a small HTTP endpoint on `--metrics-addr`.
//!
//! Hand-rolled rather than built on a metrics crate because the hot path needs only relaxed
//! atomic increments into fixed tables, and the store's figures (sessions, keys, bytes) are
//! read on demand at scrape time through [`StoreGauges`].
//!
//! Label values are bounded: command names come from a fixed list (anything else is `other`,
//! so a client inventing command names cannot blow up the series count), statuses likewise.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessiondb_proto::parse::Kind;
use sessiondb_proto::ReplyHead;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Command names that get their own `command` label (PROTOCOL.md Appendix A, plus `SV_AUTH`).
const COMMANDS: [&str; 31] = [
    "KV_SET",
    "KV_ADD",
    "KV_GET",
    "KV_RMV",
    "KV_CONTAINS",
    "KV_COUNT",
    "KV_KEYS",
    "KV_CLEAR",
    "KV_CLEAR_SET",
    "KV_SAVE",
    "KV_LOAD",
    "SH_NEW",
    "SH_OPEN",
    "SH_END",
    "SH_END_ALL",
    "SH_EXISTS",
    "SH_INFO",
    "SH_INFO_ALL",
    "SH_SAVE",
    "SH_LOAD",
    "SH_SET",
    "SH_ADD",
    "SH_GET",
    "SH_RMV",
    "SH_CONTAINS",
    "SH_COUNT",
    "SH_KEYS",
    "SH_CLEAR",
    "SH_CLEAR_SET",
    "SV_INFO",
    "SV_AUTH",
];
/// Label for replies named `ERR` (the request could not be tied to a command, or unknown `KV_`).
const CMD_ERR: usize = COMMANDS.len();
/// Label for `<C>_RSP` replies whose `C` is not a known command.
const CMD_OTHER: usize = COMMANDS.len() + 1;
const COMMAND_SLOTS: usize = COMMANDS.len() + 2;

/// Status codes sessiondb sends (PROTOCOL.md §5); anything else is counted as `other`.
const STATUSES: [u16; 23] = [
    1, 2, 3, 10, 13, 14, 26, 41, 42, 100, 102, 103, 121, 122, 123, 141, 142, 170, 200, 201, 1000,
    // Not sent today, but a cheap slot keeps the table honest if that changes.
    22, 40,
];
const STATUS_OTHER: usize = STATUSES.len();
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Upper bounds of the latency histogram, in seconds (10 µs … 1 s).
const LATENCY_BOUNDS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.1,
    1.0,
];
/// [`LATENCY_BOUNDS`] in nanoseconds, so the request path compares integers.
const LATENCY_BOUNDS_NANOS: [u64; LATENCY_BOUNDS.len()] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// Figures only the store knows, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSnapshot {
    /// Live sessions.
    pub sessions: u64,
    /// Top-level keys plus the keys of all live sessions.
    pub keys: u64,
    /// Bytes of stored data as the memory limit accounts them.
    pub stored_bytes: u64,
    /// Size of the journal file, when a journal is running.
    pub journal_bytes: Option<u64>,
}

/// Supplies a [`StoreSnapshot`] at scrape time.
pub type StoreGauges = Box<dyn Fn() -> StoreSnapshot + Send + Sync>;

/// Why a connection was turned away or closed by policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` reached (HTTP 503 at the upgrade).
    ConnectionLimit,
    /// Wrong credentials at the upgrade (HTTP 401).
    Unauthorized,
    /// Closed with 1008 after too many failed `SV_AUTH` attempts.
    AuthFailures,
    /// Closed with 1008 by the brute-force protection.
    Probing,
    /// Closed for being idle.
    Idle,
}

const REFUSALS: [(&str, Refusal); 5] = [
    ("connection_limit", Refusal::ConnectionLimit),
    ("unauthorized", Refusal::Unauthorized),
    ("auth_failures", Refusal::AuthFailures),
    ("probing", Refusal::Probing),
    ("idle", Refusal::Idle),
];

/// All server metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
pub struct Metrics {
    started: Instant,
    version: &'static str,
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    refusals: [AtomicU64; REFUSALS.len()],
    commands: Box<[AtomicU64]>,
    latency_buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    latency_count: AtomicU64,
    latency_sum_nanos: AtomicU64,
    expired_sessions: AtomicU64,
    saves_ok: AtomicU64,
    saves_failed: AtomicU64,
    last_save_unix_secs: AtomicU64,
    loads_ok: AtomicU64,
    loads_failed: AtomicU64,
    store: Option<StoreGauges>,
}

impl Metrics {
    /// Fresh metrics for server `version`; `store` supplies the store's figures at scrape time.
    pub fn new(version: &'static str, store: Option<StoreGauges>) -> Self {
        Self {
            started: Instant::now(),
            version,
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            refusals: Default::default(),
            commands: (0..COMMAND_SLOTS * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency_buckets: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_nanos: AtomicU64::new(0),
            expired_sessions: AtomicU64::new(0),
            saves_ok: AtomicU64::new(0),
            saves_failed: AtomicU64::new(0),
            last_save_unix_secs: AtomicU64::new(0),
            loads_ok: AtomicU64::new(0),
            loads_failed: AtomicU64::new(0),
            store,
        }
    }

    /// A WebSocket connection completed its upgrade.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection counted by [`Metrics::connection_opened`] ended.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub fn track_connection(self: &Arc<Self>) -> ConnectionTracker {
        self.connection_opened();
        ConnectionTracker(Arc::clone(self))
    }

    /// A connection was refused or closed by policy.
    pub fn refused(&self, why: Refusal) {
        if let Some(i) = REFUSALS.iter().position(|(_, r)| *r == why) {
            self.refusals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The background sweep reclaimed `n` expired sessions.
    pub fn sessions_expired(&self, n: u64) {
        self.expired_sessions.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one reply as the dispatcher described it, and the time the request took. Only
    /// when `head` does not name the command (a request refused before its command was known)
    /// or lacks the status (deferred work) is `reply` itself read.
    pub fn observe(&self, head: &ReplyHead, reply: &[u8], took: Duration) {
        let cmd = match (head.err, head.kind, head.status) {
            (true, _, Some(status)) => (CMD_ERR, Some(status)),
            (false, Some(kind), Some(status)) => (kind_slot(kind), Some(status)),
            _ => return self.observe_reply(reply, took),
        };
        self.count(cmd.0, cmd.1);
        self.observe_latency(took);
    }

    /// Counts one reply (its command and status are read from the reply itself) and the time
    /// the request took.
    pub fn observe_reply(&self, reply: &[u8], took: Duration) {
        let (cmd, status) = match reply_head(reply) {
            Some((name, st)) => (command_slot(name), Some(st)),
            None => (CMD_OTHER, None),
        };
        self.count(cmd, status);
        self.observe_latency(took);
    }

    /// Counts one reply of command slot `cmd` with `status`.
    fn count(&self, cmd: usize, status: Option<u16>) {
        let st_slot = status
            .and_then(|st| STATUSES.iter().position(|&s| s == st))
            .unwrap_or(STATUS_OTHER);
        if let Some(counter) = self.commands.get(cmd * STATUS_SLOTS + st_slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.observe_persistence(cmd, status);
    }

    fn observe_persistence(&self, cmd: usize, status: Option<u16>) {
        // Only saves and loads send these statuses; everything else stops here.
        if !matches!(status, Some(121 | 122 | 123 | 141 | 142)) {
            return;
        }
        let name = COMMANDS.get(cmd).copied().unwrap_or("");
        match (name, status) {
            ("KV_SAVE" | "SH_SAVE", Some(121)) => {
                self.saves_ok.fetch_add(1, Ordering::Relaxed);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.last_save_unix_secs.store(now, Ordering::Relaxed);
            }
            // 14 (persistence disabled) is not a failed save: none was attempted.
            ("KV_SAVE" | "SH_SAVE", Some(122 | 123)) => {
                self.saves_failed.fetch_add(1, Ordering::Relaxed);
            }
            ("KV_LOAD" | "SH_LOAD", Some(141)) => {
                self.loads_ok.fetch_add(1, Ordering::Relaxed);
            }
            ("KV_LOAD" | "SH_LOAD", Some(142)) => {
                self.loads_failed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn observe_latency(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BOUNDS_NANOS.iter().position(|&b| nanos <= b) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);

        header(
            &mut out,
            "sessiondb_build_info",
            "gauge",
            "Always 1; the version is a label.",
        );
        let _ = writeln!(
            out,
            "sessiondb_build_info{{version=\"{}\"}} 1",
            self.version
        );
        scalar(
            &mut out,
            "sessiondb_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            self.started.elapsed().as_secs(),
        );
        if let Some(rss) = process_resident_bytes() {
            scalar(
                &mut out,
                "sessiondb_process_resident_bytes",
                "gauge",
                "Resident memory of the server process.",
                rss,
            );
        }
        header(
            &mut out,
            "sessiondb_connections_open",
            "gauge",
            "Open WebSocket connections.",
        );
        let _ = writeln!(
            out,
            "sessiondb_connections_open {}",
            self.connections_open.load(Ordering::Relaxed).max(0)
        );
        scalar(
            &mut out,
            "sessiondb_connections_total",
            "counter",
            "WebSocket connections accepted since start.",
            load(&self.connections_total),
        );
        header(
            &mut out,
            "sessiondb_connections_refused_total",
            "counter",
            "Connections refused at the upgrade or closed by policy, by reason.",
        );
        for ((label, _), n) in REFUSALS.iter().zip(&self.refusals) {
            let _ = writeln!(
                out,
                "sessiondb_connections_refused_total{{reason=\"{label}\"}} {}",
                load(n)
            );
        }

        header(
            &mut out,
            "sessiondb_commands_total",
            "counter",
            "Replies sent, by command and status.",
        );
        for (i, n) in self.commands.iter().enumerate() {
            let n = load(n);
            if n == 0 {
                continue;
            }
            let (cmd, st) = (i / STATUS_SLOTS, i % STATUS_SLOTS);
            let cmd = match cmd {
                CMD_ERR => "ERR",
                CMD_OTHER => "other",
                c => COMMANDS.get(c).copied().unwrap_or("other"),
            };
            let st = STATUSES
                .get(st)
                .map_or_else(|| "other".to_owned(), u16::to_string);
            let _ = writeln!(
                out,
                "sessiondb_commands_total{{command=\"{cmd}\",status=\"{st}\"}} {n}"
            );
        }

        header(
            &mut out,
            "sessiondb_command_duration_seconds",
            "histogram",
            "Time from a request's arrival to its reply being ready.",
        );
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            cumulative += load(n);
            let _ = writeln!(
                out,
                "sessiondb_command_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "sessiondb_command_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = Duration::from_nanos(load(&self.latency_sum_nanos)).as_secs_f64();
        let _ = writeln!(out, "sessiondb_command_duration_seconds_sum {sum}");
        let _ = writeln!(out, "sessiondb_command_duration_seconds_count {count}");

        scalar(
            &mut out,
            "sessiondb_sessions_expired_total",
            "counter",
            "Expired sessions reclaimed by the background sweep.",
            load(&self.expired_sessions),
        );
        if let Some(store) = &self.store {
            let snap = store();
            scalar(
                &mut out,
                "sessiondb_sessions",
                "gauge",
                "Live sessions.",
                snap.sessions,
            );
            scalar(
                &mut out,
                "sessiondb_keys",
                "gauge",
                "Top-level keys plus the keys of all live sessions.",
                snap.keys,
            );
            scalar(
                &mut out,
                "sessiondb_stored_bytes",
                "gauge",
                "Bytes of stored data, as the memory limit counts them.",
                snap.stored_bytes,
            );
            if let Some(journal) = snap.journal_bytes {
                scalar(
                    &mut out,
                    "sessiondb_journal_bytes",
                    "gauge",
                    "Size of the journal file.",
                    journal,
                );
            }
        }

        header(
            &mut out,
            "sessiondb_saves_total",
            "counter",
            "KV_SAVE and SH_SAVE attempts, by result.",
        );
        let _ = writeln!(
            out,
            "sessiondb_saves_total{{result=\"ok\"}} {}",
            load(&self.saves_ok)
        );
        let _ = writeln!(
            out,
            "sessiondb_saves_total{{result=\"error\"}} {}",
            load(&self.saves_failed)
        );
        scalar(
            &mut out,
            "sessiondb_last_save_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful save (0: none since start).",
            load(&self.last_save_unix_secs),
        );
        header(
            &mut out,
            "sessiondb_loads_total",
            "counter",
            "KV_LOAD and SH_LOAD requests, by result.",
        );
        let _ = writeln!(
            out,
            "sessiondb_loads_total{{result=\"ok\"}} {}",
            load(&self.loads_ok)
        );
        let _ = writeln!(
            out,
            "sessiondb_loads_total{{result=\"error\"}} {}",
            load(&self.loads_failed)
        );
        out
    }
}

/// Keeps a connection counted in `sessiondb_connections_open` while it lives.
pub struct ConnectionTracker(Arc<Metrics>);

impl Drop for ConnectionTracker {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// Resident memory of this process (`VmRSS` of `/proc/self/status`), where Linux provides it.
pub fn process_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Maps a reply name (`ERR` or `<C>_RSP`) to its command label slot.
fn command_slot(reply_name: &str) -> usize {
    if reply_name == "ERR" {
        return CMD_ERR;
    }
    reply_name
        .strip_suffix("_RSP")
        .and_then(|cmd| COMMANDS.iter().position(|&c| c == cmd))
        .unwrap_or(CMD_OTHER)
}

/// The `command` label slot of `kind`: its index in [`COMMANDS`].
fn kind_slot(kind: Kind) -> usize {
    match kind {
        Kind::KvSet => 0,
        Kind::KvAdd => 1,
        Kind::KvGet => 2,
        Kind::KvRmv => 3,
        Kind::KvContains => 4,
        Kind::KvCount => 5,
        Kind::KvKeys => 6,
        Kind::KvClear => 7,
        Kind::KvClearSet => 8,
        Kind::KvSave => 9,
        Kind::KvLoad => 10,
        Kind::ShNew => 11,
        Kind::ShOpen => 12,
        Kind::ShEnd => 13,
        Kind::ShEndAll => 14,
        Kind::ShExists => 15,
        Kind::ShInfo => 16,
        Kind::ShInfoAll => 17,
        Kind::ShSave => 18,
        Kind::ShLoad => 19,
        Kind::ShSet => 20,
        Kind::ShAdd => 21,
        Kind::ShGet => 22,
        Kind::ShRmv => 23,
        Kind::ShContains => 24,
        Kind::ShCount => 25,
        Kind::ShKeys => 26,
        Kind::ShClear => 27,
        Kind::ShClearSet => 28,
        Kind::SvInfo => 29,
        Kind::SvAuth => 30,
    }
}

/// Reads the reply name and status from the start of a rendered reply,
/// `{"<NAME>":{"st":<N>…`. Names we count contain no escapes, so an escaped name is left
/// unparsed (counted as `other`). `None` if the reply does not start that way.
fn reply_head(reply: &[u8]) -> Option<(&str, u16)> {
    let rest = reply.strip_prefix(b"{\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    let rest = rest[end..].strip_prefix(b"\":{\"st\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let st = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((name, st))
}

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
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = Arc::clone(&metrics);
                    tokio::spawn(async move {
                        if let Err(e) = handle_scrape(stream, &metrics).await {
                            tracing::debug!("metrics request failed: {e}");
                        }
                    });
                }
                // Accept errors (e.g. too many open files) are transient; back off briefly
                // rather than spinning.
                Err(e) => {
                    tracing::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
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

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    #[test]
    fn reply_head_reads_name_and_status() {
        assert_eq!(
            reply_head(br#"{"KV_SET_RSP":{"st":1}}"#),
            Some(("KV_SET_RSP", 1))
        );
        assert_eq!(reply_head(br#"{"ERR":{"st":1000}}"#), Some(("ERR", 1000)));
        assert_eq!(reply_head(br#"{"A\"B_RSP":{"st":10}}"#), None);
        assert_eq!(reply_head(br#"{"KV_GET_RSP":{"keys":{},"st":1}}"#), None);
        assert_eq!(reply_head(b"garbage"), None);
    }

    #[test]
    fn commands_are_counted_by_name_and_status() {
        let m = Metrics::new("9.9.9", None);
        let t = Duration::from_micros(30);
        m.observe_reply(br#"{"KV_SET_RSP":{"st":1}}"#, t);
        m.observe_reply(br#"{"KV_SET_RSP":{"st":1}}"#, t);
        m.observe_reply(br#"{"SH_GET_RSP":{"st":100}}"#, t);
        m.observe_reply(br#"{"ERR":{"st":10}}"#, t);
        m.observe_reply(br#"{"MADE_UP_RSP":{"st":10}}"#, t);
        m.observe_reply(br#"{"SH_GET_RSP":{"st":999}}"#, t);
        let text = m.render();
        let get = |s: &str| sample(&text, s);
        assert_eq!(
            get(r#"sessiondb_commands_total{command="KV_SET",status="1"}"#),
            Some(2.0)
        );
        assert_eq!(
            get(r#"sessiondb_commands_total{command="SH_GET",status="100"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"sessiondb_commands_total{command="ERR",status="10"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"sessiondb_commands_total{command="other",status="10"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"sessiondb_commands_total{command="SH_GET",status="other"}"#),
            Some(1.0)
        );
        // The invented name never becomes a label.
        assert!(!text.contains("MADE_UP"));
        assert!(text.contains(r#"sessiondb_build_info{version="9.9.9"} 1"#));
    }

    #[test]
    fn kind_slots_are_the_command_names() {
        use Kind::*;
        let kinds = [
            KvSet, KvAdd, KvGet, KvRmv, KvContains, KvCount, KvKeys, KvClear, KvClearSet, KvSave,
            KvLoad, ShNew, ShOpen, ShEnd, ShEndAll, ShExists, ShInfo, ShInfoAll, ShSave, ShLoad,
            ShSet, ShAdd, ShGet, ShRmv, ShContains, ShCount, ShKeys, ShClear, ShClearSet, SvInfo,
            SvAuth,
        ];
        let mut seen = [false; COMMANDS.len()];
        for kind in kinds {
            // `KvClearSet` → `KV_CLEAR_SET`.
            let mut name = String::new();
            for (i, c) in format!("{kind:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            let slot = kind_slot(kind);
            assert_eq!(COMMANDS[slot], name);
            seen[slot] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn heads_are_counted_like_the_replies_they_describe() {
        let m = Metrics::new("0", None);
        let t = Duration::from_micros(30);
        let head = |err, kind, status| ReplyHead { err, kind, status };
        // The reply bytes are deliberately wrong: a head that names its command is trusted.
        m.observe(&head(false, Some(Kind::ShGet), Some(100)), b"", t);
        m.observe(&head(true, Some(Kind::KvGet), Some(1000)), b"", t);
        m.observe(&head(true, None, Some(10)), b"", t);
        // Without the command or the status, the reply is read.
        m.observe(
            &head(false, None, Some(26)),
            br#"{"SH_NOPE_RSP":{"st":26}}"#,
            t,
        );
        m.observe(
            &head(false, Some(Kind::ShSave), None),
            br#"{"SH_SAVE_RSP":{"st":121}}"#,
            t,
        );
        let text = m.render();
        let get = |s: &str| sample(&text, s);
        let count = |cmd: &str, st: &str| {
            get(&format!(
                "sessiondb_commands_total{{command=\"{cmd}\",status=\"{st}\"}}"
            ))
        };
        assert_eq!(count("SH_GET", "100"), Some(1.0));
        assert_eq!(count("ERR", "1000"), Some(1.0));
        assert_eq!(count("ERR", "10"), Some(1.0));
        assert_eq!(count("other", "26"), Some(1.0));
        assert_eq!(count("SH_SAVE", "121"), Some(1.0));
        assert_eq!(get(r#"sessiondb_saves_total{result="ok"}"#), Some(1.0));
        assert_eq!(get("sessiondb_command_duration_seconds_count"), Some(5.0));
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::new("0", None);
        m.observe_reply(br#"{"KV_COUNT_RSP":{"st":1}}"#, Duration::from_micros(5));
        m.observe_reply(br#"{"KV_COUNT_RSP":{"st":1}}"#, Duration::from_millis(3));
        m.observe_reply(br#"{"KV_COUNT_RSP":{"st":1}}"#, Duration::from_secs(5));
        let text = m.render();
        let get = |s: &str| sample(&text, s);
        let bucket = |le: &str| {
            get(&format!(
                "sessiondb_command_duration_seconds_bucket{{le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.00001"), Some(1.0));
        assert_eq!(bucket("0.0025"), Some(1.0));
        assert_eq!(bucket("0.005"), Some(2.0));
        assert_eq!(bucket("1"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
        assert_eq!(get("sessiondb_command_duration_seconds_count"), Some(3.0));
        let sum = get("sessiondb_command_duration_seconds_sum").unwrap_or(0.0);
        assert!((sum - 5.003_005).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn connections_refusals_saves_and_store_figures() {
        let store: StoreGauges = Box::new(|| StoreSnapshot {
            sessions: 4,
            keys: 11,
            stored_bytes: 123,
            journal_bytes: None,
        });
        let m = Metrics::new("0", Some(store));
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.refused(Refusal::ConnectionLimit);
        m.refused(Refusal::Probing);
        m.sessions_expired(7);
        let t = Duration::ZERO;
        m.observe_reply(br#"{"SH_SAVE_RSP":{"st":121,"name":"a","duration":1}}"#, t);
        m.observe_reply(br#"{"KV_SAVE_RSP":{"st":123,"name":"a","duration":1}}"#, t);
        m.observe_reply(br#"{"KV_SAVE_RSP":{"st":14}}"#, t);
        m.observe_reply(br#"{"KV_LOAD_RSP":{"st":142,"name":"a"}}"#, t);
        let text = m.render();
        let get = |s: &str| sample(&text, s);
        assert_eq!(get("sessiondb_connections_open"), Some(1.0));
        assert_eq!(get("sessiondb_connections_total"), Some(2.0));
        assert_eq!(
            get(r#"sessiondb_connections_refused_total{reason="connection_limit"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"sessiondb_connections_refused_total{reason="probing"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"sessiondb_connections_refused_total{reason="idle"}"#),
            Some(0.0)
        );
        assert_eq!(get("sessiondb_sessions_expired_total"), Some(7.0));
        assert_eq!(get("sessiondb_sessions"), Some(4.0));
        assert_eq!(get("sessiondb_keys"), Some(11.0));
        assert_eq!(get("sessiondb_stored_bytes"), Some(123.0));
        assert_eq!(get("sessiondb_journal_bytes"), None);
        assert_eq!(get(r#"sessiondb_saves_total{result="ok"}"#), Some(1.0));
        assert_eq!(get(r#"sessiondb_saves_total{result="error"}"#), Some(1.0));
        assert_eq!(get(r#"sessiondb_loads_total{result="error"}"#), Some(1.0));
        assert!(get("sessiondb_last_save_success_timestamp_seconds").unwrap_or(0.0) > 1.6e9);
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::new("0", None);
        m.observe_reply(br#"{"KV_SET_RSP":{"st":1}}"#, Duration::from_micros(1));
        let text = m.render();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or("");
                assert!(typed.insert(name.to_owned()), "TYPE twice: {name}");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or(("", ""));
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            let name = series.split('{').next().unwrap_or("");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "sample before its TYPE: {line:?}");
        }
    }

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
