//! Helpers shared by the engine's test files (the memory benchmarks, `commands.rs`,
//! `key_expiry.rs`); each uses some of them.
#![allow(dead_code)]

use sessiondb_core::{Command, Expiry, Outcome, Store, Token};

/// Creates a non-shared, unnamed session at `now` and returns its token.
pub fn new_session(st: &Store, expiry: Option<Expiry>, now: u64) -> Token {
    match st.execute(
        Command::ShNew {
            expiry,
            name: None,
            shared: false,
        },
        now,
    ) {
        Outcome::Created { tkn } => tkn,
        other => panic!("SH_NEW failed: {other:?}"),
    }
}

/// The process's resident set in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}
