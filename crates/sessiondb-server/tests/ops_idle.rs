//! `--idle-timeout-secs`: a connection from which nothing arrives for the timeout is closed with
//! 1000; one that answers the server's keep-alive pings, or sends requests, stays open.

mod common;

use common::ops::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[tokio::test]
async fn a_silent_connection_is_pinged_then_closed_with_1000() -> TestResult {
    let server = start(|c| c.idle_timeout_secs = 1).await?;
    // A raw socket: upgrades, then sends nothing, not even the pongs a WebSocket client sends.
    let mut tcp = TcpStream::connect(server.addr).await?;
    tcp.write_all(UPGRADE).await?;
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut bytes)).await??;
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no upgrade response")?
        + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    let mut frames = Vec::new();
    let mut at = head_end;
    while at + 2 <= bytes.len() {
        let (op, len) = (bytes[at] & 0x0F, usize::from(bytes[at + 1] & 0x7F));
        frames.push((op, bytes[at + 2..at + 2 + len].to_vec()));
        at += 2 + len;
    }
    let (last, pings) = frames.split_last().ok_or("no frames")?;
    assert!(!pings.is_empty(), "pinged before closing: {frames:?}");
    assert!(pings.iter().all(|(op, _)| *op == 0x9), "{frames:?}");
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"idle timeout");
    assert_eq!(last, &(0x8, close));
    Ok(())
}

#[tokio::test]
async fn a_client_answering_pings_or_sending_requests_stays_open() -> TestResult {
    let server = start(|c| c.idle_timeout_secs = 1).await?;
    // tungstenite answers every ping it reads with a pong.
    let mut ponging = connect(server.addr).await?;
    let mut talking = connect(server.addr).await?;
    // Six pings at three per timeout: two timeouts' worth of keep-alive.
    let mut pings = 0;
    while pings < 6 {
        match tokio::time::timeout(WAIT, ponging.next()).await? {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => return Err(format!("expected pings, got {other:?}").into()),
        }
        // The other client sends a request between pings.
        talking.send(Message::text(r#"{"KV_COUNT":{}}"#)).await?;
        assert_eq!(
            next_text(&mut talking).await?,
            r#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#
        );
    }
    ask_kv_count(&mut ponging, 0).await?;
    ask_kv_count(&mut talking, 0).await?;
    Ok(())
}
