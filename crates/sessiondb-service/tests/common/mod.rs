//! A service over a fresh store with a manual clock, and reply assertions.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use serde_json::Value as J;
use sessiondb_core::clock::ManualClock;
use sessiondb_service::{ConnState, Handled, ServerStats, Service, ServiceSettings};

/// Fixed transport figures for `SV_INFO`.
pub struct FixedStats;

impl ServerStats for FixedStats {
    fn connections(&self) -> u64 {
        3
    }
    fn uptime_secs(&self) -> u64 {
        42
    }
}

/// One connection to a fresh service.
pub struct Harness {
    pub service: Service,
    pub conn: ConnState,
    pub clock: ManualClock,
    // Kept alive so the persistence root exists for the harness's lifetime.
    pub data_dir: tempfile::TempDir,
}

/// Start time of the manual clock: an ordinary recent Unix time in ms.
pub const START_MS: u64 = 1_734_829_878_000;

impl Harness {
    /// Persistence enabled, data under a fresh temporary directory.
    pub fn new() -> Self {
        Self::with_persist(true)
    }

    pub fn with_persist(persist_enabled: bool) -> Self {
        let clock = ManualClock::new(START_MS);
        let data_dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let service = Service::new(ServiceSettings {
            persist_enabled,
            data_dir: data_dir.path().to_path_buf(),
            server_version: "0.1.0",
            clock: Arc::new(clock.clone()),
            stats: Arc::new(FixedStats),
        });
        Self {
            service,
            conn: ConnState::default(),
            clock,
            data_dir,
        }
    }

    /// Sends one text message and returns the reply text (deferred work is run inline).
    pub fn send(&mut self, msg: &str) -> String {
        let mut out = Vec::new();
        match self.service.handle_text(&mut self.conn, msg, &mut out) {
            Handled::Replied => {}
            Handled::Deferred(work) => {
                work(&mut out);
            }
            Handled::Pending(_) => panic!("the embedded engine answered {msg} later"),
        }
        match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => panic!("reply to {msg} is not UTF-8: {e}"),
        }
    }

    /// Sends and parses the reply.
    pub fn json(&mut self, msg: &str) -> J {
        let text = self.send(msg);
        parse(&text)
    }

    /// Sends and asserts the reply equals `expected` as JSON (member order ignored).
    pub fn expect(&mut self, msg: &str, expected: &str) {
        let text = self.send(msg);
        assert_eq!(
            parse(&text),
            parse(expected),
            "request {msg}\n reply {text}"
        );
    }

    /// Sends and asserts only the reply's member name and `st`.
    pub fn expect_st(&mut self, msg: &str, name: &str, st: u64) {
        let reply = self.json(msg);
        assert_eq!(reply_st(&reply, name), st, "request {msg}\n reply {reply}");
    }

    /// Sends a request whose reply carries a `tkn`; returns it (after checking `st` 1).
    pub fn new_session(&mut self, msg: &str) -> u64 {
        let reply = self.json(msg);
        assert_eq!(reply_st(&reply, "SH_NEW_RSP"), 1, "{msg} → {reply}");
        match reply["SH_NEW_RSP"]["tkn"].as_u64() {
            Some(t) => t,
            None => panic!("no tkn in {reply}"),
        }
    }
}

pub fn parse(text: &str) -> J {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("not JSON ({e}): {text}"),
    }
}

/// The `st` of a reply named `name`; panics if the reply has another shape.
pub fn reply_st(reply: &J, name: &str) -> u64 {
    let obj = match reply.as_object() {
        Some(o) if o.len() == 1 => o,
        _ => panic!("reply is not a one-member object: {reply}"),
    };
    match obj.get(name).and_then(|b| b["st"].as_u64()) {
        Some(st) => st,
        None => panic!("expected a {name} reply with st, got {reply}"),
    }
}

/// A JSON array as a sorted list of its items' text, for order-free comparison.
pub fn as_set(v: &J) -> Vec<String> {
    let mut items: Vec<String> = match v.as_array() {
        Some(a) => a.iter().map(J::to_string).collect(),
        None => panic!("not an array: {v}"),
    };
    items.sort();
    items
}
