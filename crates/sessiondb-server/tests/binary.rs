//! The `sessiondb` binary as a separate process: startup, SIGTERM, and 10,000 idle connections
//! (a separate process so client and server sockets do not share one open-file limit).

mod common;

use std::process::Command;

use common::binary::Running;
use common::{connect_url, expect, expect_close, expect_kv_count, HANG_GUARD};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Starts the binary with `extra` arguments on a fresh data directory, returned with it so
/// it outlives the server (bind it first: locals drop in reverse order).
fn start(extra: &[&str]) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::binary::start(&dir.path().join("data"), extra);
    (dir, server)
}

#[tokio::test]
async fn sigterm_closes_connections_with_1001_and_exits_0() {
    let (_dir, server) = start(&[]);
    let mut ws = connect_url(&server.url()).await;
    expect_kv_count(&mut ws, 0).await;
    let exited = tokio::spawn(server.terminate());
    assert_eq!(expect_close(&mut ws).await, CloseCode::Away);
    let status = tokio::time::timeout(HANG_GUARD, exited)
        .await
        .expect("server did not exit")
        .expect("wait task");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn load_path_without_load_name_refuses_to_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .args(["--port", "0", "--load-path", "/tmp"])
        .output()
        .expect("run sessiondb");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--load-name"), "{stderr}");
}

#[test]
fn help_and_version_work() {
    let help = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .arg("--help")
        .output()
        .expect("run sessiondb");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--ip",
        "--port",
        "--max-message-bytes",
        "--data-dir",
        "--no-persist",
        "--log-level",
        "--load-name",
        "--load-path",
        "--config",
        "--idle-timeout-secs",
    ] {
        assert!(text.contains(option), "{option} missing from --help");
    }
    let version = Command::new(env!("CARGO_BIN_EXE_sessiondb"))
        .arg("--version")
        .output()
        .expect("run sessiondb");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("sessiondb {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_and_a_new_client_is_served() {
    const IDLE: usize = 10_000;
    // Our side holds 10,000 sockets too.
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise open file limit");
    assert!(
        limit > IDLE as u64 + 100,
        "this test needs an open-file hard limit above {}, it is {limit}",
        IDLE + 100
    );
    let (_dir, server) = start(&["--no-persist"]);
    let url = server.url();
    // A small read buffer per client connection: they only sit there.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let idle: Vec<_> = futures_util::stream::iter(0..IDLE)
        .map(|_| {
            let url = url.clone();
            async move {
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false)
                    .await
                    .map(|(ws, _)| ws)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let failed = idle.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "{failed} of {IDLE} connections failed");

    let mut fresh = connect_url(&url).await;
    expect(
        &mut fresh,
        r#"{"KV_SET":{"keys":{"still":"here"}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await;
    // Every idle connection is still open (and counted) on the server.
    common::wait_for_connections(&mut fresh, (IDLE + 1) as u64).await;
    // Per-connection buffers are small: 128 KiB read buffers (tungstenite's default) would
    // need well over 1 GiB here.
    let rss = server.resident_bytes();
    eprintln!(
        "server resident memory with {IDLE} idle connections: {} MiB",
        rss >> 20
    );
    assert!(rss < 512 << 20, "server uses {} MiB", rss >> 20);
    drop(idle);
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0), "{status}");
}
