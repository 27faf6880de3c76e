//! Memory per small session, as issue 5 measures it (2 keys, 20-byte values):
//! `cargo run --release -p sessiondb-core --example session_mem [sessions]`.
//!
//! Creates the sessions through `Store::execute` (as `SH_NEW` + `SH_SET` do) and prints the
//! process RSS growth divided by the number of sessions. Uses mimalloc, the allocator the
//! `sessiondb` binary ships with.

use std::borrow::Cow;

use sessiondb_core::{Command, Outcome, Store, StoreConfig, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident set size in bytes, from `/proc/self/statm` (0 where unavailable).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let store = Store::new(StoreConfig::default());
    // Minified JSON strings of 20 bytes, quotes included, as the bench's values are.
    let value = Value::from_json_unchecked("\"abcdefghijklmnopqr\"");
    let before = rss_bytes();
    for _ in 0..n {
        let cmd = Command::ShNew {
            expiry: Some(sessiondb_core::Expiry {
                duration_secs: 3600,
                ..Default::default()
            }),
            name: None,
            shared: false,
        };
        let Outcome::Created { tkn } = store.execute(cmd, 1_000) else {
            eprintln!("SH_NEW failed");
            return;
        };
        let keys = vec![
            (
                Cow::Borrowed("k0"),
                Value::from_json_unchecked(value.as_json()),
            ),
            (
                Cow::Borrowed("k1"),
                Value::from_json_unchecked(value.as_json()),
            ),
        ];
        store.execute(
            Command::ShSet {
                tkn: Some(tkn),
                keys,
            },
            1_000,
        );
    }
    let after = rss_bytes();
    println!(
        "{n} sessions of 2 keys (20-byte values): RSS +{} bytes = {:.0} bytes/session",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64
    );
}
