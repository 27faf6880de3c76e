//! Memory per session for BENCHMARKS.md (ignored by default; run in release mode):
//!
//! ```text
//! cargo test --release -p sessiondb-core --test memory_bench -- --ignored --nocapture
//! ```
//!
//! Fills a store with 1,000,000 sessions the way `scripts/bench.sh` does (`SH_NEW` with a 3600 s
//! expiry, then `SH_SET` of `k0` and `k1` to a 20-character string) and prints the growth of the
//! process's resident set per session, 200 ms after the fill, as the bench reads the server's.
//! It also times the fill and, after the reading, one `SH_GET` of both keys per session (a
//! rough check that lookups did not get slower; the machine is shared).
//! Each configuration runs in a process of its own (this test re-runs its own executable), so one
//! configuration's freed memory does not lower the next one's figure.

use std::borrow::Cow;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use sessiondb_core::{Command, Expiry, Outcome, Store, StoreConfig, Value};

mod support;
use support::rss_bytes;

// Measure with the allocator the `sessiondb` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SESSIONS: u64 = 1_000_000;

/// Names the configuration a child process measures.
const CONFIG_VAR: &str = "SESSIONDB_MEMORY_BENCH_CONFIG";

/// Marks the lines a child prints for the parent to pass on.
const RESULT: &str = "memory_bench:";

/// What each session gets: (name, expiry, keys).
const CONFIGS: [(&str, bool, bool); 3] = [
    ("bench: expiry + 2 keys", true, true),
    ("expiry, no keys", true, false),
    ("no expiry, no keys", false, false),
];

/// Fills a store as configuration `(name, expires, keys)` says and prints the figures.
fn measure(name: &str, expires: bool, keys: bool) {
    let store = Store::new(StoreConfig::default());
    let expiry = expires.then_some(Expiry {
        duration_secs: 3600,
        delete_session: true,
        ..Expiry::default()
    });
    let now = 1_000_000;
    // Written through now so that its pages are resident before the first reading.
    let mut tkns = vec![1u64; SESSIONS as usize];
    let before = rss_bytes();
    let start = Instant::now();
    for slot in tkns.iter_mut() {
        let created = store.execute(
            Command::ShNew {
                expiry,
                name: None,
                shared: false,
            },
            now,
        );
        let Outcome::Created { tkn } = created else {
            panic!("SH_NEW: {created:?}");
        };
        *slot = tkn;
        if keys {
            // Fresh values per command, as the protocol layer parses them from each request.
            let value = || Value::from_json_unchecked("\"abcdefghijklmnopqrst\"");
            let set = Command::ShSet {
                tkn: Some(tkn),
                keys: vec![
                    (Cow::Borrowed("k0"), value()),
                    (Cow::Borrowed("k1"), value()),
                ],
            };
            assert_eq!(store.execute(set, now), Outcome::Done);
        }
    }
    let fill = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let grown = rss_bytes().saturating_sub(before);
    let gets = keys.then(|| {
        let start = Instant::now();
        let mut found = 0usize;
        let mut sink = |_: usize, json: &str| found += json.len();
        for &tkn in &tkns {
            let get = Command::ShGet {
                tkn: Some(tkn),
                keys: vec![Cow::Borrowed("k0"), Cow::Borrowed("k1")],
            };
            store.execute_into(get, now, &mut sink);
        }
        assert_eq!(found, 2 * 22 * SESSIONS as usize);
        start.elapsed()
    });
    let get_figure = gets.map_or(String::new(), |t| {
        format!(
            ", SH_GET {:.0} ns/session",
            t.as_nanos() as f64 / SESSIONS as f64
        )
    });
    println!(
        "{RESULT} {name}: {} B/session (RSS +{:.1} MiB), fill {:.0} ms ({:.0} ns/session){get_figure}",
        grown / SESSIONS,
        grown as f64 / (1 << 20) as f64,
        fill.as_secs_f64() * 1e3,
        fill.as_nanos() as f64 / SESSIONS as f64
    );
    // Keep the store alive until after the reading.
    drop(store);
}

#[test]
#[ignore = "1M-session memory figure; run in release with --ignored --nocapture"]
fn memory_per_session() {
    if let Ok(config) = std::env::var(CONFIG_VAR) {
        let (name, expires, keys) = CONFIGS
            .iter()
            .copied()
            .find(|c| c.0 == config)
            .expect("known configuration");
        measure(name, expires, keys);
        return;
    }
    let exe = std::env::current_exe().expect("own executable");
    for (name, _, _) in CONFIGS {
        let out = Process::new(&exe)
            .args(["memory_per_session", "--exact", "--ignored", "--nocapture"])
            .env(CONFIG_VAR, name)
            .output()
            .expect("run the configuration's process");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(RESULT)).collect();
        assert_eq!(lines.len(), 1, "{name}: {stdout}");
        println!("{}", lines[0]);
    }
}
