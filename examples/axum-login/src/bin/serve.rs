//! Serves the example app with its sessions in sessiondb.
//!
//! `SESSIONDB_URL` (default `ws://127.0.0.1:1987`) names the server, `LISTEN` (default
//! `127.0.0.1:3000`) the address to serve on. Sessions expire after an hour without a visit.

use std::error::Error;

use sessiondb_axum_login::app;
use tower_sessions::Expiry;
use tower_sessions_sessiondb_store::{Client, ClientOptions, SessiondbStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("SESSIONDB_URL").unwrap_or_else(|_| "ws://127.0.0.1:1987".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let client = Client::connect_with(&url, ClientOptions::default()).await?;
    let expiry = Expiry::OnInactivity(time::Duration::hours(1));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app(SessiondbStore::new(client), expiry)).await?;
    Ok(())
}
