//! `--threads`: connections spread over connection threads (or, with 0, served on the caller's
//! runtime) see one store, and shutdown closes every one of them with 1001.

mod common;

use common::{expect, expect_close, TestServer};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn serves_and_shuts_down_with(threads: usize) {
    let server = TestServer::start_with(|c| c.threads = Some(threads)).await;
    // More connections than threads, so every thread gets several, round-robin.
    let mut conns = Vec::new();
    for i in 0..7 {
        let mut ws = server.connect().await;
        expect(
            &mut ws,
            &format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#),
            r#"{"KV_SET_RSP":{"st":1}}"#,
        )
        .await;
        conns.push(ws);
    }
    // Every connection sees every other connection's writes.
    for ws in &mut conns {
        expect(
            ws,
            r#"{"KV_COUNT":{}}"#,
            r#"{"KV_COUNT_RSP":{"st":1,"cnt":7}}"#,
        )
        .await;
    }
    let stopping = tokio::spawn(server.shutdown());
    for ws in &mut conns {
        assert_eq!(expect_close(ws).await, CloseCode::Away);
    }
    stopping
        .await
        .expect("shutdown task")
        .expect("run returned an error");
}

#[tokio::test]
async fn three_connection_threads() {
    serves_and_shuts_down_with(3).await;
}

#[tokio::test]
async fn zero_threads_serves_on_the_callers_runtime() {
    serves_and_shuts_down_with(0).await;
}
