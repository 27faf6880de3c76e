//! Single-threaded cost of the protocol layer plus the engine, without sockets:
//! `cargo run --release -p sessiondb-service --example hot_path [iterations] [only]`.
//!
//! Prints nanoseconds per request for a few request shapes (parse → validate → execute → render),
//! and per `SH_NEW` + `SH_END` pair for a session's life.
//! With `only`, runs just the shapes whose label contains it (for callgrind: instructions per
//! request = (Ir at N iterations − Ir at 0) / N). The "tree" shapes are the same requests with
//! one member name escaped (`k\u0065ys`), which the tree-free path leaves to the full path: the
//! cost of parsing every request into a `Json` tree. They run only when `only` names them
//! (`only` = `tree`, or `SH_GET tree`), so `only` = `SH_GET` measures what it always has.

use std::sync::Arc;
use std::time::Instant;

use sessiondb_core::clock::SystemClock;
use sessiondb_service::{ConnState, Handled, ServerStats, Service, ServiceSettings};

struct NoStats;

impl ServerStats for NoStats {
    fn connections(&self) -> u64 {
        1
    }
    fn uptime_secs(&self) -> u64 {
        0
    }
}

fn run(d: &Service, label: &str, msg: &str, iterations: u32, only: &str) {
    if !label.contains(only) || (label.contains("tree") && !only.contains("tree")) {
        return;
    }
    let mut conn = ConnState::default();
    let mut out = Vec::with_capacity(4096);
    let start = Instant::now();
    for _ in 0..iterations {
        out.clear();
        if let Handled::Deferred(work) = d.handle_text(&mut conn, msg, &mut out) {
            work(&mut out);
        }
    }
    let ns = start.elapsed().as_nanos() / u128::from(iterations.max(1));
    println!(
        "{label:<28} {ns:>6} ns/request   reply: {}",
        String::from_utf8_lossy(&out)
    );
}

/// The token in an `SH_NEW` reply (0 if it has none).
fn token_of(reply: &[u8]) -> u64 {
    String::from_utf8_lossy(reply)
        .split("\"tkn\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// A session's whole life per iteration: `SH_NEW` with an expiry, then `SH_END` of its token
/// (the cost of reading the token back is included).
fn run_lifecycle(d: &Service, iterations: u32, only: &str) {
    let label = "lifecycle SH_NEW+SH_END";
    if !label.contains(only) {
        return;
    }
    let mut conn = ConnState::default();
    let mut out = Vec::with_capacity(4096);
    let mut end = String::with_capacity(64);
    let start = Instant::now();
    for _ in 0..iterations {
        out.clear();
        d.handle_text(
            &mut conn,
            r#"{"SH_NEW":{"expiry":{"duration":3600}}}"#,
            &mut out,
        );
        end.clear();
        end.push_str(r#"{"SH_END":{"tkn":"#);
        end.push_str(&token_of(&out).to_string());
        end.push_str("}}");
        out.clear();
        d.handle_text(&mut conn, &end, &mut out);
    }
    let ns = start.elapsed().as_nanos() / u128::from(iterations.max(1));
    println!(
        "{label:<28} {ns:>6} ns/session   reply: {}",
        String::from_utf8_lossy(&out)
    );
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2).unwrap_or_default();
    let d = Service::new(ServiceSettings {
        persist_enabled: false,
        data_dir: std::env::temp_dir(),
        server_version: env!("CARGO_PKG_VERSION"),
        clock: Arc::new(SystemClock),
        stats: Arc::new(NoStats),
    });
    let mut conn = ConnState::default();
    let mut out = Vec::new();
    d.handle_text(&mut conn, r#"{"SH_NEW":{}}"#, &mut out);
    let tkn = token_of(&out);
    let set = format!(
        r#"{{"SH_SET":{{"tkn":{tkn},"keys":{{"a":"value-a","b":{{"n":1,"s":[1,2,3]}}}}}}}}"#
    );
    let get = format!(r#"{{"SH_GET":{{"tkn":{tkn},"keys":["a","b"]}}}}"#);
    run(&d, "SH_SET 2 keys", &set, iterations, &only);
    run(&d, "SH_GET 2 keys", &get, iterations, &only);
    let tree = |msg: &str| msg.replacen(r#""keys""#, r#""k\u0065ys""#, 1);
    run(&d, "SH_SET tree 2 keys", &tree(&set), iterations, &only);
    run(&d, "SH_GET tree 2 keys", &tree(&get), iterations, &only);
    d.handle_text(
        &mut conn,
        r#"{"KV_SET":{"keys":{"a":"value-a","b":{"n":1,"s":[1,2,3]}}}}"#,
        &mut out,
    );
    let kv_get = r#"{"KV_GET":{"keys":["a","b"]}}"#;
    run(&d, "KV_GET 2 keys", kv_get, iterations, &only);
    run(&d, "KV_GET tree 2 keys", &tree(kv_get), iterations, &only);
    run(&d, "KV_COUNT", r#"{"KV_COUNT":{}}"#, iterations, &only);
    run(&d, "invalid JSON", r#"{"KV_SET":"#, iterations, &only);
    run_lifecycle(&d, iterations, &only);
}
