//! HTTP at the WebSocket port, over a raw TCP socket: plain requests get `426`, `/health` gets
//! 200 once the server serves (503 while it loads), and malformed or ambiguous upgrade requests
//! get 400 — each with its exact status line and one-line body.

mod common;

use std::net::SocketAddr;

use common::{connect_url, expect, TestServer, HANG_GUARD};
use sessiondb_server::{build_answering, Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const PROTOCOL: &str = "sessiondb speaks JSON over WebSocket (ws:// or wss://) on this port";

/// Sends `request` as it is and returns everything the server sent until it closed.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let talk = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut got = Vec::new();
        tcp.read_to_end(&mut got).await.expect("read");
        String::from_utf8(got).expect("UTF-8 response")
    };
    tokio::time::timeout(HANG_GUARD, talk)
        .await
        .expect("no answer")
}

/// The status line and the body of a response.
fn status_and_body(response: &str) -> (&str, &str) {
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete head");
    (head.lines().next().unwrap_or_default(), body)
}

fn upgrade(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn a_plain_request_gets_426_naming_the_protocol() {
    let server = TestServer::start().await;
    let response = exchange(server.addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let (status, body) = status_and_body(&response);
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
    assert_eq!(body, format!("upgrade required: {PROTOCOL}\n"));
    assert!(
        response.contains("\r\nUpgrade: websocket\r\n"),
        "{response}"
    );
    let response = exchange(
        server.addr,
        "POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert_eq!(
        status_and_body(&response).0,
        "HTTP/1.1 426 Upgrade Required"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn health_answers_200_when_serving() {
    let server = TestServer::start().await;
    let response = exchange(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_and_body(&response), ("HTTP/1.1 200 OK", "ready\n"));
    let response = exchange(server.addr, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_and_body(&response), ("HTTP/1.1 200 OK", ""));
    assert!(response.contains("\r\nContent-Length: 6\r\n"), "{response}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn malformed_or_ambiguous_requests_get_400() {
    let server = TestServer::start().await;
    let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
    let cases = [
        (
            upgrade(&key).replace("\r\nHost", "\nHost"),
            "lines must end in CRLF",
        ),
        (
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned(),
            "Content-Length together with Transfer-Encoding",
        ),
        (
            upgrade(&format!("{key}{key}")),
            "more than one Sec-WebSocket-Key",
        ),
        (
            upgrade("Sec-WebSocket-Key: not-a-key\r\n"),
            "Sec-WebSocket-Key is not 16 bytes in base64",
        ),
        (upgrade(""), "Sec-WebSocket-Key is missing"),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_owned(),
            "malformed HTTP request (invalid header name)",
        ),
    ];
    for (request, why) in cases {
        let response = exchange(server.addr, &request).await;
        let (status, body) = status_and_body(&response);
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "{why}");
        assert_eq!(body, format!("bad request: {why}; {PROTOCOL}\n"));
    }
    // The same port still upgrades a well-formed request.
    let mut ws = connect_url(&server.url("/")).await;
    expect(
        &mut ws,
        r#"{"KV_COUNT":{}}"#,
        r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#,
    )
    .await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn health_answers_503_while_the_server_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The startup is held until the test releases it.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let building = async move {
            let _ = released.await;
            Server::new(config)
        };
        let server = build_answering(&listener, None, building).await?;
        server
            .run(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    let response = exchange(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        status_and_body(&response),
        ("HTTP/1.1 503 Service Unavailable", "loading\n")
    );
    let response = exchange(addr, &upgrade(&format!("Sec-WebSocket-Key: {KEY}\r\n"))).await;
    assert_eq!(
        status_and_body(&response),
        (
            "HTTP/1.1 503 Service Unavailable",
            "loading: WebSocket connections are accepted once GET /health answers 200\n"
        )
    );
    let response = exchange(addr, "GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        status_and_body(&response).0,
        "HTTP/1.1 426 Upgrade Required"
    );
    release.send(()).expect("startup waiting");
    // The switch from loading to serving is not instantaneous: ask until it answers 200.
    let ready = async {
        loop {
            let response = exchange(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
            match status_and_body(&response) {
                ("HTTP/1.1 200 OK", "ready\n") => break,
                ("HTTP/1.1 503 Service Unavailable", "loading\n") => {
                    tokio::task::yield_now().await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, ready)
        .await
        .expect("never ready");
    let mut ws = connect_url(&format!("ws://{addr}/")).await;
    expect(
        &mut ws,
        r#"{"KV_COUNT":{}}"#,
        r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#,
    )
    .await;
    drop(ws);
    stop.send(()).expect("server running");
    served.await.expect("server task").expect("server run");
}
