//! Prometheus metrics: counters kept with atomics on the request path, rendered in the text
//! exposition format ([`exposition`]) by a small HTTP endpoint on `--metrics-addr` ([`serve`]).
//!
//! Hand-rolled rather than built on a metrics crate because the hot path needs only relaxed
//! atomic increments into fixed tables, and the store's figures (sessions, keys, bytes) are
//! read on demand at scrape time through [`StoreGauges`].
//!
//! Replies are counted from the [`ReplyHead`] the service reports with each reply, never by
//! reading the reply's bytes. Label values are bounded: commands are the protocol's table
//! ([`Kind::ALL`]; a name outside it is `other`, so a client inventing command names cannot
//! blow up the series count), statuses likewise ([`Status::ALL`]).

mod exposition;
mod http;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessiondb_proto::{Kind, ReplyHead, Status};

pub use http::serve;

// Command slots: one per [`Kind`] (at `kind as usize`), then these two.
/// Replies named `ERR` (the request could not be tied to a command, or unknown `KV_`).
const CMD_ERR: usize = Kind::ALL.len();
/// `<C>_RSP` replies whose `C` is not a known command.
const CMD_OTHER: usize = Kind::ALL.len() + 1;
const COMMAND_SLOTS: usize = Kind::ALL.len() + 2;

// Status slots: one per [`Status`] (at [`Status::index`]), then one for a reply whose status
// was not reported.
const STATUS_UNREPORTED: usize = Status::ALL.len();
const STATUS_SLOTS: usize = Status::ALL.len() + 1;

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

    /// Counts one reply as the service described it, and the time the request took.
    pub fn observe(&self, head: &ReplyHead, took: Duration) {
        let cmd = match (head.err, head.kind) {
            (true, _) => CMD_ERR,
            (false, Some(kind)) => kind as usize,
            (false, None) => CMD_OTHER,
        };
        let st = head.status.map_or(STATUS_UNREPORTED, Status::index);
        if let Some(counter) = self.commands.get(cmd * STATUS_SLOTS + st) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let (Some(kind), Some(status)) = (head.kind, head.status) {
            self.observe_persistence(kind, status);
        }
        self.observe_latency(took);
    }

    fn observe_persistence(&self, kind: Kind, status: Status) {
        match (kind, status) {
            (Kind::KvSave | Kind::ShSave, Status::SaveComplete) => {
                self.saves_ok.fetch_add(1, Ordering::Relaxed);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.last_save_unix_secs.store(now, Ordering::Relaxed);
            }
            // 14 (persistence disabled) is not a failed save: none was attempted.
            (Kind::KvSave | Kind::ShSave, Status::SaveDirWriteFail | Status::SaveError) => {
                self.saves_failed.fetch_add(1, Ordering::Relaxed);
            }
            (Kind::KvLoad | Kind::ShLoad, Status::LoadComplete) => {
                self.loads_ok.fetch_add(1, Ordering::Relaxed);
            }
            (Kind::KvLoad | Kind::ShLoad, Status::LoadError) => {
                self.loads_failed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Replies counted since the server started (what the admin console's ops/s chart samples).
    pub fn replies_total(&self) -> u64 {
        self.latency_count.load(Ordering::Relaxed)
    }

    fn observe_latency(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BOUNDS_NANOS.iter().position(|&b| nanos <= b) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The value of sample `series` in a scrape.
    pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    /// Counts a reply named after its command (`kind`) or `ERR`, or neither (`None`, not err).
    pub(crate) fn observe(m: &Metrics, err: bool, kind: Option<Kind>, st: Status, took: Duration) {
        let head = ReplyHead {
            err,
            kind,
            status: Some(st),
        };
        m.observe(&head, took);
    }

    #[test]
    fn commands_are_counted_by_kind_and_status() {
        let m = Metrics::new("9.9.9", None);
        let t = Duration::from_micros(30);
        observe(&m, false, Some(Kind::KvSet), Status::Ok, t);
        observe(&m, false, Some(Kind::KvSet), Status::Ok, t);
        observe(&m, false, Some(Kind::ShGet), Status::SessionNotExist, t);
        // `ERR` wins over the command: a `KV_` internal failure is named `ERR`.
        observe(&m, true, Some(Kind::KvGet), Status::Unknown, t);
        observe(&m, true, None, Status::CommandNotExist, t);
        // A reply named after a command outside the table.
        observe(&m, false, None, Status::CommandNotExist, t);
        // Deferred work whose status never arrived.
        let pending = ReplyHead {
            err: false,
            kind: Some(Kind::ShGet),
            status: None,
        };
        m.observe(&pending, t);
        let text = m.render();
        let count = |cmd: &str, st: &str| {
            sample(
                &text,
                &format!("sessiondb_commands_total{{command=\"{cmd}\",status=\"{st}\"}}"),
            )
        };
        assert_eq!(count("KV_SET", "1"), Some(2.0));
        assert_eq!(count("SH_GET", "100"), Some(1.0));
        assert_eq!(count("ERR", "1000"), Some(1.0));
        assert_eq!(count("ERR", "10"), Some(1.0));
        assert_eq!(count("other", "10"), Some(1.0));
        assert_eq!(count("SH_GET", "other"), Some(1.0));
        assert_eq!(count("KV_GET", "1000"), None);
        assert_eq!(
            sample(&text, "sessiondb_command_duration_seconds_count"),
            Some(7.0)
        );
        assert!(text.contains(r#"sessiondb_build_info{version="9.9.9"} 1"#));
    }

    #[test]
    fn every_command_and_status_has_its_own_series() {
        let m = Metrics::new("0", None);
        for &kind in Kind::ALL {
            for &st in Status::ALL {
                observe(&m, false, Some(kind), st, Duration::ZERO);
            }
        }
        let text = m.render();
        for &kind in Kind::ALL {
            for &st in Status::ALL {
                let series = format!(
                    "sessiondb_commands_total{{command=\"{}\",status=\"{}\"}}",
                    kind.name(),
                    st.code()
                );
                assert_eq!(sample(&text, &series), Some(1.0), "{series}");
            }
        }
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::new("0", None);
        let count = |took| observe(&m, false, Some(Kind::KvCount), Status::Ok, took);
        count(Duration::from_micros(5));
        count(Duration::from_millis(3));
        count(Duration::from_secs(5));
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
        observe(&m, false, Some(Kind::ShSave), Status::SaveComplete, t);
        observe(&m, false, Some(Kind::KvSave), Status::SaveError, t);
        observe(&m, false, Some(Kind::KvSave), Status::CommandDisabled, t);
        observe(&m, false, Some(Kind::KvLoad), Status::LoadError, t);
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
        assert_eq!(get(r#"sessiondb_loads_total{result="ok"}"#), Some(0.0));
        assert_eq!(get(r#"sessiondb_loads_total{result="error"}"#), Some(1.0));
        assert!(get("sessiondb_last_save_success_timestamp_seconds").unwrap_or(0.0) > 1.6e9);
    }
}
