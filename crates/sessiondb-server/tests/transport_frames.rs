//! The server's own WebSocket framing, byte by byte over a raw socket, plain and under TLS:
//! frames sent together with the upgrade request, the closing handshake after pipelined
//! requests, and protocol violations (RFC 6455 §5, §7).

mod common;

use common::ops::{self, TestCert};
use common::HANG_GUARD;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every test runs over both.
#[derive(Debug, Clone, Copy)]
enum Transport {
    Plain,
    Tls,
}

const TRANSPORTS: [Transport; 2] = [Transport::Plain, Transport::Tls];

/// A raw byte stream to the server, plain or TLS.
trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Socket for S {}

/// A server speaking `transport`, and what connecting to it needs.
struct Server {
    server: ops::TestServer,
    cert: Option<TestCert>,
}

impl Server {
    async fn start(transport: Transport) -> Self {
        let cert = match transport {
            Transport::Plain => None,
            Transport::Tls => Some(ops::self_signed().expect("certificate")),
        };
        let files = cert.as_ref().map(|c| (c.cert.clone(), c.key.clone()));
        let server = ops::start(move |config| {
            if let Some((cert, key)) = files {
                config.tls_cert = Some(cert);
                config.tls_key = Some(key);
            }
        })
        .await
        .expect("server starts");
        Self { server, cert }
    }

    /// A raw connection, TLS completed when the server speaks it.
    async fn socket(&self) -> Box<dyn Socket> {
        let addr = self.server.addr;
        match &self.cert {
            None => Box::new(TcpStream::connect(addr).await.expect("connect")),
            Some(cert) => Box::new(ops::tls_socket(addr, cert).await.expect("TLS connect")),
        }
    }
}

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame with FIN set.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x0a, 0xb1, 0x7c, 0x33];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(
                &u16::try_from(n)
                    .expect("test frames are small")
                    .to_be_bytes(),
            );
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Everything the server sends until it closes the connection, after the 101 response head.
async fn read_all_frames(tcp: &mut dyn Socket) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, tcp.read_to_end(&mut bytes))
        .await
        .expect("server never closed the connection");
    // A TLS peer that closes the socket without close_notify ends the stream with an error
    // after everything it sent has been read.
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no upgrade response")
        + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    // Unmasked server frames with payloads under 64 KiB.
    let mut frames = Vec::new();
    let mut at = head_end;
    while at < bytes.len() {
        let (op, len7) = (bytes[at] & 0x0F, usize::from(bytes[at + 1] & 0x7F));
        let (len, start) = if len7 == 126 {
            (
                usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                at + 4,
            )
        } else {
            (len7, at + 2)
        };
        frames.push((op, bytes[start..start + len].to_vec()));
        at = start + len;
    }
    frames
}

#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_answered_then_close_is_echoed() {
    for transport in TRANSPORTS {
        let server = Server::start(transport).await;
        let mut tcp = server.socket().await;
        // One write: the upgrade request, two requests, a ping and a close, without waiting for 101.
        let mut out = UPGRADE.to_vec();
        out.extend(frame(0x1, br#"{"KV_SET":{"keys":{"a":1}}}"#));
        out.extend(frame(0x9, b"p"));
        out.extend(frame(0x1, br#"{"KV_COUNT":{}}"#));
        out.extend(frame(0x8, b"\x03\xe8done"));
        tcp.write_all(&out).await.expect("write");
        let frames = read_all_frames(&mut *tcp).await;
        assert_eq!(
            frames,
            [
                (0x1, br#"{"KV_SET_RSP":{"st":1}}"#.to_vec()),
                (0xA, b"p".to_vec()),
                (0x1, br#"{"KV_COUNT_RSP":{"st":1,"cnt":1}}"#.to_vec()),
                (0x8, b"\x03\xe8done".to_vec()),
            ]
        );
    }
}

#[tokio::test]
async fn a_close_code_that_may_not_be_echoed_is_answered_1002() {
    for transport in TRANSPORTS {
        let server = Server::start(transport).await;
        let mut tcp = server.socket().await;
        let mut out = UPGRADE.to_vec();
        // 1005 is reserved for "no status" and must never be sent in a frame.
        out.extend(frame(0x8, &1005u16.to_be_bytes()));
        tcp.write_all(&out).await.expect("write");
        let frames = read_all_frames(&mut *tcp).await;
        assert_eq!(frames.len(), 1, "{transport:?}: {frames:?}");
        assert_eq!(frames[0].0, 0x8);
        assert_eq!(&frames[0].1[..2], &1002u16.to_be_bytes());
    }
}

#[tokio::test]
async fn framing_violations_close_with_1002_after_earlier_replies() {
    let unmasked = [0x81, 0x02, b'{', b'}'].to_vec();
    let mut rsv = frame(0x1, br#"{"KV_COUNT":{}}"#);
    rsv[0] |= 0x40;
    let stray_continuation = frame(0x0, b"}");
    let long_ping = frame(0x9, &[b'x'; 126]);
    for (transport, bad) in TRANSPORTS
        .into_iter()
        .flat_map(|t| [&unmasked, &rsv, &stray_continuation, &long_ping].map(|b| (t, b.clone())))
    {
        let server = Server::start(transport).await;
        let mut tcp = server.socket().await;
        let mut out = UPGRADE.to_vec();
        out.extend(frame(0x1, br#"{"KV_COUNT":{}}"#));
        out.extend_from_slice(&bad);
        tcp.write_all(&out).await.expect("write");
        let frames = read_all_frames(&mut *tcp).await;
        assert_eq!(frames.len(), 2, "{transport:?} {bad:?}: {frames:?}");
        assert_eq!(
            frames[0],
            (0x1, br#"{"KV_COUNT_RSP":{"st":1,"cnt":0}}"#.to_vec())
        );
        assert_eq!(frames[1].0, 0x8);
        assert_eq!(&frames[1].1[..2], &1002u16.to_be_bytes(), "{bad:?}");
    }
}

#[tokio::test]
async fn replies_over_125_bytes_use_the_16_bit_length() {
    for transport in TRANSPORTS {
        let server = Server::start(transport).await;
        let mut tcp = server.socket().await;
        let value = "v".repeat(300);
        let mut out = UPGRADE.to_vec();
        out.extend(frame(
            0x1,
            format!(r#"{{"KV_SET":{{"keys":{{"big":"{value}"}}}}}}"#).as_bytes(),
        ));
        out.extend(frame(0x1, br#"{"KV_GET":{"keys":["big"]}}"#));
        out.extend(frame(0x8, b""));
        tcp.write_all(&out).await.expect("write");
        let frames = read_all_frames(&mut *tcp).await;
        let get = format!(r#"{{"KV_GET_RSP":{{"st":1,"keys":{{"big":"{value}"}}}}}}"#);
        assert_eq!(frames[1], (0x1, get.into_bytes()));
        // An empty close is echoed empty.
        assert_eq!(frames[2], (0x8, Vec::new()));
    }
}
