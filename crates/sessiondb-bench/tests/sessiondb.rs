//! End-to-end runs of the `sessiondb-bench` binary against the real sessiondb server, started
//! in this process on 127.0.0.1: every workload's replies must pass verification, and each must
//! be the exact text the generator's quick check expects (a reply that needed the full parse
//! would make the generator slower against sessiondb than against Redis, skewing the
//! comparison without any error showing).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use sessiondb_server::config::Config;
use tokio::net::TcpListener;

/// Starts a sessiondb server without persistence on its own runtime thread; returns its port.
fn start_sessiondb() -> u16 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            let config = Config {
                persist: false,
                threads: Some(1),
                log_level: "warn".to_owned(),
                ..Config::default()
            };
            // Runs until the test process exits.
            sessiondb_server::run(listener, config, std::future::pending::<()>())
                .await
                .unwrap();
        });
    });
    port
}

#[test]
fn every_workload_gets_verified_replies_from_sessiondb() {
    let url = format!("ws://127.0.0.1:{}/", start_sessiondb());
    for workload in ["lifecycle", "get", "set", "mixed", "kv-get", "kv-set"] {
        for pipeline in ["1", "16"] {
            let out = Command::new(env!("CARGO_BIN_EXE_sessiondb-bench"))
                .args(["--target", "ws", "--url", &url, "--workload", workload])
                .args(["--pipeline", pipeline, "--conns", "4", "--sessions", "50"])
                .args(["--requests", "800", "--json"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
                panic!(
                    "{workload}: no report ({e}): {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            assert_eq!(out.status.code(), Some(0), "{workload} p{pipeline}: {r}");
            assert_eq!(r["requests"], 800, "{workload} p{pipeline}: {r}");
            assert_eq!(r["errors"], 0, "{workload} p{pipeline}: {r}");
            assert_eq!(r["full_checks"], 0, "{workload} p{pipeline}: {r}");
        }
    }
}
