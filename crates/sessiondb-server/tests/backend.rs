//! Backend mode (`--backend`, docs/PROTOCOL.md E12): startup against an unreachable backend, and
//! two sessiondb nodes sharing one backend. The second needs a real backend
//! (`SESSIONDB_TEST_BACKEND`, set by scripts/test-cluster.sh) and says so when it has none.

mod common;

use std::time::{Duration, Instant};

use common::{binary, expect, request, token, TestServer};

#[test]
fn an_unreachable_backend_stops_startup_naming_it() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = binary::command(dir.path());
    cmd.args(["--log-level", "info", "--backend", &url])
        .env_remove("SESSIONDB_BACKEND");
    let exited = match binary::spawn(&mut cmd) {
        Ok(_) => panic!("sessiondb started without its backend"),
        Err(exited) => exited,
    };
    assert_ne!(exited.code, 0, "{:?}", exited.log);
    assert!(
        exited
            .log
            .iter()
            .any(|l| l.contains(&format!("backend {url}"))),
        "no line names the backend: {:?}",
        exited.log
    );
}

#[tokio::test]
async fn two_nodes_share_one_backend() {
    if common::test_backend().is_none() {
        eprintln!("SKIPPED: two_nodes_share_one_backend needs SESSIONDB_TEST_BACKEND");
        return;
    }
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (mut on_a, mut on_b) = (a.connect().await, b.connect().await);

    // Made on A; written, read and extended on B; ended on A.
    let t = token(
        &request(
            &mut on_a,
            r#"{"SH_NEW":{"expiry":{"duration":600,"extendOnGet":true}}}"#,
        )
        .await,
    );
    let set = format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"cart":[1,2]}}}}}}"#);
    expect(&mut on_b, &set, r#"{"SH_SET_RSP":{"st":1}}"#).await;
    let get = format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["cart"]}}}}"#);
    let got = r#"{"SH_GET_RSP":{"st":1,"keys":{"cart":[1,2]}}}"#;
    expect(&mut on_b, &get, got).await;
    expect(&mut on_a, &get, got).await;
    // Versions are not kept in backend mode yet: a conditional write must not run unchecked.
    let if_ver = format!(r#"{{"SH_SET":{{"tkn":{t},"keys":{{"cart":[]}},"ifVer":1}}}}"#);
    expect(&mut on_a, &if_ver, r#"{"SH_SET_RSP":{"st":14}}"#).await;
    let with_ver = format!(r#"{{"SH_GET":{{"tkn":{t},"keys":["cart"],"withVer":true}}}}"#);
    expect(&mut on_b, &with_ver, r#"{"SH_GET_RSP":{"st":14}}"#).await;
    expect(&mut on_b, &get, got).await;
    let owned = r#"{"SH_NEW":{"owner":"alice"}}"#;
    expect(&mut on_a, owned, r#"{"SH_NEW_RSP":{"st":14}}"#).await;
    let end = format!(r#"{{"SH_END":{{"tkn":{t}}}}}"#);
    expect(
        &mut on_a,
        &end,
        &format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{t}}}}}"#),
    )
    .await;
    expect(&mut on_b, &get, r#"{"SH_GET_RSP":{"st":100}}"#).await;

    // Expiry, seen from both nodes.
    let before = Instant::now();
    let t = token(
        &request(
            &mut on_b,
            r#"{"SH_NEW":{"expiry":{"duration":1,"deleteSession":true}}}"#,
        )
        .await,
    );
    let count = format!(r#"{{"SH_COUNT":{{"tkn":{t}}}}}"#);
    let counted = request(&mut on_a, &count).await;
    if before.elapsed() < Duration::from_secs(1) {
        assert_eq!(
            counted,
            serde_json::json!({"SH_COUNT_RSP":{"st":1,"cnt":0}})
        );
    }
    tokio::time::sleep_until((before + Duration::from_millis(1100)).into()).await;
    for ws in [&mut on_a, &mut on_b] {
        expect(ws, &count, r#"{"SH_COUNT_RSP":{"st":100}}"#).await;
    }
}
