//! End-to-end runs of the `sessiondb-bench` binary against an in-process tokio-tungstenite echo
//! server on 127.0.0.1: the hand-written framing must interoperate with a real WebSocket stack,
//! and the verifier must reject replies that are not what the protocol says.

#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use std::process::Command;
use tokio::net::TcpListener;

/// Starts an echo server on its own runtime thread; returns its port.
fn start_echo() -> u16 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_text() && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    port
}

fn bench(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb-bench"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let report = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

#[test]
fn echo_target_completes_every_request_without_errors() {
    let url = format!("ws://127.0.0.1:{}/x?y=1", start_echo());
    for (workload, pipeline) in [("get", "1"), ("lifecycle", "16"), ("kv-set", "4")] {
        let (code, r) = bench(&[
            "--target",
            "echo",
            "--url",
            &url,
            "--workload",
            workload,
            "--pipeline",
            pipeline,
            "--conns",
            "4",
            "--threads",
            "2",
            "--requests",
            "2001",
            "--value-size",
            "300",
        ]);
        assert_eq!(code, Some(0), "{r}");
        assert_eq!(r["requests"], 2001, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["latency_us"]["max"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn replies_that_are_not_protocol_replies_are_counted_as_errors() {
    // An echo server sends each request back: to the sessiondb verifier `{"KV_SET":…}` is not
    // `{"KV_SET_RSP":{"st":1}}`, so setup must fail loudly rather than measure garbage.
    let url = format!("ws://127.0.0.1:{}/", start_echo());
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb-bench"))
        .args(["--target", "ws", "--url", &url, "--workload", "kv-get"])
        .args(["--conns", "2", "--sessions", "10", "--requests", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("setup: 10 of 10 replies failed verification"),
        "{stderr}"
    );
    assert!(stderr.contains("expected KV_SET_RSP"), "{stderr}");
}

#[test]
fn unreachable_server_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb-bench"))
        .args([
            "--target",
            "echo",
            "--url",
            &format!("ws://127.0.0.1:{port}/"),
        ])
        .args(["--requests", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to"));
}
