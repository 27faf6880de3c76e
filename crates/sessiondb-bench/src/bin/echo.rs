//! `sessiondb-echo`: a minimal WebSocket echo server, the floor sessiondb is measured against.
//!
//! It uses the same transport stack as the sessiondb server (tokio multi-thread runtime,
//! tokio-tungstenite) and the same batching rule (answer every request already received, then
//! flush once), and does no work per message beyond echoing it: whatever sessiondb costs above
//! this is parsing, executing and rendering.

use anyhow::{Context, Result};
use clap::Parser;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Minimal WebSocket echo server (benchmark floor).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 1988)]
    port: u16,
}

/// Largest message accepted, the same default as sessiondb's.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// tungstenite's read buffer, as sessiondb sizes it: the 128 KiB default is initialised on every
/// read and would make this floor cost more per request than the server it is a floor for.
const READ_BUFFER_BYTES: usize = 8 * 1024;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind((args.ip.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.ip, args.port))?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            // A client that misbehaves only ends its own connection.
            let _ = serve(stream).await;
        });
    }
}

async fn serve(stream: TcpStream) -> Result<()> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    // Not split into sink and stream: like the server, one task reads a batch, then writes it.
    while let Some(msg) = ws.next().await {
        let mut msg = msg?;
        loop {
            if msg.is_text() || msg.is_binary() {
                ws.feed(msg).await?;
            } else if msg.is_close() {
                return Ok(());
            }
            // Echo everything already received before flushing: one write per batch.
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = next?,
                Some(None) => {
                    ws.flush().await?;
                    return Ok(());
                }
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
