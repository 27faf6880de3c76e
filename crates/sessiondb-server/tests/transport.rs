//! Transport behaviour over a real socket: frames, size and UTF-8 limits, pipelining, paths,
//! keep-alive (docs/PROTOCOL.md §2, §4 steps 0–2, Appendix B).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    expect, expect_close, expect_kv_count, expect_reply, next_message, pipeline, send, send_each,
    TestServer, HANG_GUARD,
};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// A text frame with arbitrary (possibly invalid UTF-8) payload.
fn raw_text(payload: Vec<u8>, fin: bool) -> Message {
    Message::Frame(Frame::message(payload, OpCode::Data(Data::Text), fin))
}

fn continuation(payload: Vec<u8>, fin: bool) -> Message {
    Message::Frame(Frame::message(payload, OpCode::Data(Data::Continue), fin))
}

/// `{"KV_SET":{"keys":{"v":"xxx…"}}}` padded to exactly `len` bytes.
fn set_of_len(len: usize) -> String {
    let head = r#"{"KV_SET":{"keys":{"v":""#;
    let tail = r#""}}}"#;
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad))
}

#[tokio::test]
async fn binary_message_is_answered_err_2_and_connection_stays_open() {
    let (_server, mut ws) = TestServer::start_connected().await;
    send_each(
        &mut ws,
        [Message::binary(Bytes::from_static(br#"{"KV_COUNT":{}}"#))],
    )
    .await;
    expect_reply(&mut ws, json!({"ERR":{"st":2}})).await;
    expect_kv_count(&mut ws, 0).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007_after_earlier_replies_and_new_connection_works() {
    let (server, mut ws) = TestServer::start_connected().await;
    let mut bad = br#"{"KV_SET":{"keys":{"a":""#.to_vec();
    bad.push(0xFF);
    bad.extend_from_slice(br#""}}}"#);
    // Pipelined: the valid request before it is answered, the invalid one is not.
    pipeline(
        &mut ws,
        [
            Message::text(r#"{"KV_SET":{"keys":{"a":1}}}"#),
            raw_text(bad, true),
            Message::text(r#"{"KV_COUNT":{}}"#),
        ],
    )
    .await;
    expect_reply(&mut ws, json!({"KV_SET_RSP":{"st":1}})).await;
    assert_eq!(expect_close(&mut ws).await, CloseCode::Invalid);

    let mut again = server.connect().await;
    expect_kv_count(&mut again, 1).await;
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_closes_with_1007() {
    let (_server, mut ws) = TestServer::start_connected().await;
    // "é" is C3 A9; the first fragment ends inside it and the second does not finish it.
    let mut tail = vec![0xC3, b'('];
    tail.extend_from_slice(br#""}}}"#);
    send_each(
        &mut ws,
        [
            raw_text(br#"{"KV_SET":{"keys":{"a":"\xC3"#.to_vec(), false),
            continuation(tail, true),
        ],
    )
    .await;
    assert_eq!(expect_close(&mut ws).await, CloseCode::Invalid);
}

#[tokio::test]
async fn message_of_exactly_the_limit_is_accepted() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let msg = set_of_len(1 << 20);
    assert_eq!(msg.len(), 1_048_576);
    expect(&mut ws, &msg, r#"{"KV_SET_RSP":{"st":1}}"#).await;
}

#[tokio::test]
async fn message_over_the_limit_closes_with_1009_after_earlier_replies() {
    let (server, mut ws) = TestServer::start_connected().await;
    pipeline(
        &mut ws,
        [
            Message::text(r#"{"KV_SET":{"keys":{"a":1}}}"#),
            Message::text(r#"{"KV_COUNT":{}}"#),
            Message::text(set_of_len((1 << 20) + 1)),
        ],
    )
    .await;
    expect_reply(&mut ws, json!({"KV_SET_RSP":{"st":1}})).await;
    expect_reply(&mut ws, json!({"KV_COUNT_RSP":{"st":1,"cnt":1}})).await;
    assert_eq!(expect_close(&mut ws).await, CloseCode::Size);

    // Other connections are not affected, and the oversized request changed nothing.
    let mut other = server.connect().await;
    expect_kv_count(&mut other, 1).await;
}

#[tokio::test]
async fn configured_limit_counts_the_whole_fragmented_message() {
    let server = TestServer::start_with(|c| c.max_message_bytes = 64).await;
    let mut ws = server.connect().await;
    let exact = set_of_len(64);
    expect(&mut ws, &exact, r#"{"KV_SET_RSP":{"st":1}}"#).await;
    // Two fragments of 40 bytes each: every frame is under the limit, the message is not.
    let msg = set_of_len(80).into_bytes();
    send_each(
        &mut ws,
        [
            raw_text(msg[..40].to_vec(), false),
            continuation(msg[40..].to_vec(), true),
        ],
    )
    .await;
    assert_eq!(expect_close(&mut ws).await, CloseCode::Size);
}

#[tokio::test]
async fn fragmented_message_within_the_limit_is_reassembled() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let msg = br#"{"KV_SET":{"keys":{"frag":"mented"}}}"#;
    send_each(
        &mut ws,
        [
            raw_text(msg[..10].to_vec(), false),
            continuation(msg[10..20].to_vec(), false),
            continuation(msg[20..].to_vec(), true),
        ],
    )
    .await;
    expect_reply(&mut ws, json!({"KV_SET_RSP":{"st":1}})).await;
    expect(
        &mut ws,
        r#"{"KV_GET":{"keys":["frag"]}}"#,
        r#"{"KV_GET_RSP":{"st":1,"keys":{"frag":"mented"}}}"#,
    )
    .await;
}

#[tokio::test]
async fn thousand_pipelined_requests_are_answered_in_order() {
    let (_server, mut ws) = TestServer::start_connected().await;
    pipeline(
        &mut ws,
        (0..500).flat_map(|i| {
            [
                Message::text(format!(r#"{{"KV_SET":{{"keys":{{"k":{i}}}}}}}"#)),
                Message::text(r#"{"KV_GET":{"keys":["k"]}}"#),
            ]
        }),
    )
    .await;
    for i in 0..500 {
        let wants = [
            json!({"KV_SET_RSP":{"st":1}}),
            json!({"KV_GET_RSP":{"st":1,"keys":{"k":i}}}),
        ];
        for (n, want) in wants.into_iter().enumerate() {
            assert_eq!(
                common::recv_json(&mut ws).await,
                want,
                "reply {}",
                2 * i + n
            );
        }
    }
}

#[tokio::test]
async fn back_to_back_example_of_appendix_b() {
    let (_server, mut ws) = TestServer::start_connected().await;
    pipeline(
        &mut ws,
        [
            r#"{"KV_SET":{"keys":{"a":1}}}"#,
            r#"{"KV_GET":{"keys":["a"]}}"#,
            r#"{"KV_COUNT":{}}"#,
        ]
        .map(Message::text),
    )
    .await;
    for want in [
        json!({"KV_SET_RSP":{"st":1}}),
        json!({"KV_GET_RSP":{"st":1,"keys":{"a":1}}}),
        json!({"KV_COUNT_RSP":{"st":1,"cnt":1}}),
    ] {
        expect_reply(&mut ws, want).await;
    }
}

#[tokio::test]
async fn stored_member_order_survives_the_wire() {
    let (_server, mut ws) = TestServer::start_connected().await;
    expect(
        &mut ws,
        r#"{"KV_SET":{"keys":{"o":{"b":1,"a":2}}}}"#,
        r#"{"KV_SET_RSP":{"st":1}}"#,
    )
    .await;
    send(&mut ws, r#"{"KV_GET":{"keys":["o"]}}"#).await;
    let text = common::recv_text(&mut ws).await;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact.contains(r#"{"b":1,"a":2}"#), "{text}");
}

#[tokio::test]
async fn any_path_and_query_is_accepted() {
    let server = TestServer::start().await;
    for path in ["", "/", "/anything?x=1", "/a/b/c?"] {
        let mut ws = common::connect_url(&server.url(path)).await;
        expect_kv_count(&mut ws, 0).await;
    }
}

#[tokio::test]
async fn bad_json_gets_exact_errors_and_the_connection_stays_open() {
    let (_server, mut ws) = TestServer::start_connected().await;
    let nested = |n: usize| {
        format!(
            r#"{{"KV_SET":{{"keys":{{"v":{}{}}}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let err3 = r#"{"ERR":{"st":3}}"#;
    let cases: Vec<(String, &str)> = vec![
        (nested(125), r#"{"KV_SET_RSP":{"st":1}}"#),
        (nested(126), err3),
        (r#"{"KV_SET":{"keys":{"v":1e400}}}"#.into(), err3),
        (r#"{"KV_SET":"#.into(), err3),
        (String::new(), err3),
        (r#"{"KV_COUNT":{}} {"KV_COUNT":{}}"#.into(), err3),
        (r#"{"KV_COUNT":{}} // comment"#.into(), err3),
        ("[]".into(), r#"{"ERR":{"st":13}}"#),
        (r#"{"KV_NOPE":{}}"#.into(), r#"{"ERR":{"st":10}}"#),
        (r#"{"SH_NOPE":{}}"#.into(), r#"{"SH_NOPE_RSP":{"st":10}}"#),
        (r#"{"KVSET":{}}"#.into(), r#"{"KVSET_RSP":{"st":13}}"#),
    ];
    for (req, want) in &cases {
        expect(&mut ws, req, want).await;
    }
    expect_kv_count(&mut ws, 1).await;
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let (_server, mut ws) = TestServer::start_connected().await;
    send_each(
        &mut ws,
        [Message::Ping(Bytes::from_static(b"are you there"))],
    )
    .await;
    match next_message(&mut ws).await {
        Some(Message::Pong(data)) => assert_eq!(&data[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

/// Opens a WebSocket by hand on a raw socket, which (unlike a WebSocket client library) never
/// answers pings on its own.
async fn raw_upgrade(server: &TestServer) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.expect("read upgrade reply");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

#[tokio::test]
async fn silent_client_gets_pings_then_is_closed_for_idleness() {
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 1).await;
    let mut tcp = raw_upgrade(&server).await;
    // Read everything the server sends until it closes the TCP connection.
    let mut bytes = Vec::new();
    tokio::time::timeout(HANG_GUARD, tcp.read_to_end(&mut bytes))
        .await
        .expect("server never closed the idle connection")
        .expect("read");
    // Unmasked server frames: each ping is 0x89 0x00; the close frame is 0x88, length, code.
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let (op, len) = (bytes[at] & 0x0F, usize::from(bytes[at + 1] & 0x7F));
        frames.push((op, bytes[at + 2..(at + 2 + len).min(bytes.len())].to_vec()));
        at += 2 + len;
    }
    let (last_op, last_payload) = frames.last().cloned().expect("no frames at all");
    assert!(
        frames.iter().any(|(op, _)| *op == 0x9),
        "no ping before closing: {frames:?}"
    );
    assert_eq!(last_op, 0x8, "last frame is not a close: {frames:?}");
    assert_eq!(&last_payload[..2], &1000u16.to_be_bytes());
}

#[tokio::test]
async fn client_answering_pings_is_not_closed_for_idleness() {
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 1).await;
    let mut ws = server.connect().await;
    // For twice the idle timeout, send nothing but let the client library answer pings.
    let mut pings = 0;
    let quiet = tokio::time::sleep(Duration::from_millis(2200));
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            () = &mut quiet => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Ping(_))) => pings += 1,
                other => panic!("unexpected {other:?}"),
            },
        }
    }
    assert!(pings >= 2, "only {pings} pings in 2.2 s");
    expect_kv_count(&mut ws, 0).await;
}

#[tokio::test]
async fn sv_info_counts_open_connections() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    // A round trip on each proves the server has finished accepting both.
    for ws in [&mut a, &mut b] {
        expect_kv_count(ws, 0).await;
    }
    let reply = common::request(&mut a, r#"{"SV_INFO":{}}"#).await;
    common::assert_matches(
        &reply["SV_INFO_RSP"]["connections"],
        "2",
        &mut HashMap::new(),
        "SV_INFO connections",
    );
}
