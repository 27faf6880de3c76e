//! The echo floor (`sessiondb_bench::echo::serve`, what `sessiondb-echo` runs) against an
//! independent WebSocket client (tokio-tungstenite) on 127.0.0.1: every text frame comes back
//! exactly, in order, pipelined or not, and the closing handshake is answered.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An echo server on its own thread and runtime, as the binary runs it; stopped on drop.
struct Echo {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Echo {
    fn start(threads: usize) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // The runtime flavour the binary picks for this thread count.
            let mut builder = if threads == 0 {
                tokio::runtime::Builder::new_multi_thread()
            } else {
                tokio::runtime::Builder::new_current_thread()
            };
            builder.enable_all().build()?.block_on(async move {
                let listener = TcpListener::from_std(std_listener)?;
                sessiondb_bench::echo::serve(listener, threads, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    async fn connect(&self) -> Client {
        let url = format!("ws://{}/", self.addr);
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    /// Stops the server and waits for it; its result must be Ok.
    fn stop(mut self) {
        self.stop_and_join().unwrap();
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().unwrap(),
            None => Ok(()),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        // After a failed assertion: stop the server without masking the original panic.
        let _ = self.stop_and_join();
    }
}

/// `len` bytes of text, varied so that a shifted or truncated echo cannot compare equal.
fn text_of(len: usize, seed: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + seed) % 26) as u8))
        .collect()
}

async fn next(ws: &mut Client) -> Message {
    ws.next().await.unwrap().unwrap()
}

/// Asserts that `got` is a text message equal to `want`; on a difference it reports lengths
/// and the first differing byte rather than printing 64 KiB twice.
fn assert_text(got: &Message, want: &str, what: &str) {
    let Message::Text(got) = got else {
        panic!("{what}: expected a text message, got {got:?}");
    };
    let (got, want) = (got.as_bytes(), want.as_bytes());
    let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{what}: {} bytes back for {} sent, first difference at {first_difference:?}",
        got.len(),
        want.len()
    );
}

#[tokio::test]
async fn text_frames_of_every_length_class_come_back_exactly() {
    let echo = Echo::start(1);
    let mut ws = echo.connect().await;
    // 0 and 125: the 7-bit length; 126: the 16-bit length; 65,536: the 64-bit length.
    for len in [0, 125, 126, 65_536] {
        let text = text_of(len, len);
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_text(&next(&mut ws).await, &text, &format!("{len} bytes"));
    }
    // Multi-byte UTF-8 across the 125/126 boundary (126 bytes, 63 characters).
    let accented = "é".repeat(63);
    ws.send(Message::text(accented.clone())).await.unwrap();
    assert_text(&next(&mut ws).await, &accented, "63 × é");
    drop(ws);
    echo.stop();
}

#[tokio::test]
async fn a_pipelined_batch_comes_back_in_order_on_every_runtime_model() {
    for threads in [0, 1, 2] {
        let echo = Echo::start(threads);
        let mut ws = echo.connect().await;
        // Sizes 0..=297 cross the 125-byte boundary where the reply header grows.
        let sent: Vec<String> = (0..100)
            .map(|i| format!("{i}:{}", text_of(i * 3, i)))
            .collect();
        for text in &sent {
            ws.feed(Message::text(text.clone())).await.unwrap();
        }
        ws.flush().await.unwrap();
        for (i, text) in sent.iter().enumerate() {
            let what = format!("reply {i} with {threads} threads");
            assert_text(&next(&mut ws).await, text, &what);
        }
        drop(ws);
        echo.stop();
    }
}

#[tokio::test]
async fn a_close_frame_is_answered_with_the_same_close() {
    let echo = Echo::start(1);
    let mut ws = echo.connect().await;
    ws.send(Message::text("before")).await.unwrap();
    let bye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.send(Message::Close(Some(bye.clone()))).await.unwrap();
    // The reply to what was sent before the close comes first, then the echoed close.
    assert_eq!(next(&mut ws).await, Message::text("before"));
    assert_eq!(next(&mut ws).await, Message::Close(Some(bye)));
    assert!(
        ws.next().await.is_none(),
        "nothing after the closing handshake"
    );
    echo.stop();
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_of_its_payload() {
    let echo = Echo::start(1);
    let mut ws = echo.connect().await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    drop(ws);
    echo.stop();
}

#[tokio::test]
async fn a_binary_message_is_refused_with_1003() {
    // The frame reader does not keep binary payloads, so the floor cannot echo them.
    let echo = Echo::start(1);
    let mut ws = echo.connect().await;
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Close(Some(CloseFrame {
            code: CloseCode::Unsupported,
            reason: "binary messages are not echoed".into(),
        }))
    );
    drop(ws);
    echo.stop();
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001() {
    let mut echo = Echo::start(1);
    let mut ws = echo.connect().await;
    // A round trip first, so the connection is being served when the stop comes.
    ws.send(Message::text("x")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("x"));
    if let Some(stop) = echo.stop.take() {
        stop.send(()).unwrap();
    }
    assert_eq!(
        next(&mut ws).await,
        Message::Close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "server shutting down".into(),
        }))
    );
    // Completing the closing handshake lets the server finish at once.
    drop(ws);
    echo.stop_and_join().unwrap();
}
