//! Graceful shutdown (docs/PROTOCOL.md §2.5): connections are closed with 1001 and `run` returns Ok.

mod common;

use common::{expect_close, expect_kv_count, TestServer};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001_and_run_returns_ok() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    for ws in [&mut a, &mut b] {
        expect_kv_count(ws, 0).await;
    }
    let stopped = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut a).await, CloseCode::Away);
    assert_eq!(expect_close(&mut b).await, CloseCode::Away);
    stopped
        .await
        .expect("shutdown task")
        .expect("run returned an error");
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_with_no_connections_returns_ok() {
    let server = TestServer::start().await;
    server.shutdown().await.expect("run returned an error");
}
