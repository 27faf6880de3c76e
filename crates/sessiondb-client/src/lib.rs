#![cfg_attr(test, allow(clippy::unwrap_used))]
//! Async (tokio) client for sessiondb, the session database speaking NemesisDB's JSON protocol.
//!
//! One [`Client`] holds one WebSocket connection. Requests from any number of tasks and clones are
//! pipelined on it: each is written as soon as it is made, and replies, which the server sends in
//! request order, are handed back to their callers by position.
//!
//! ```no_run
//! use sessiondb_client::{Client, Expiry, SessionOptions, Status};
//! use serde_json::json;
//!
//! # async fn demo() -> sessiondb_client::Result<()> {
//! let client = Client::connect("ws://127.0.0.1:1987").await?;
//! let tkn = client.sh_new(SessionOptions::new().expiry(Expiry::after(60))).await?;
//! client.sh_set(tkn, json!({"name": "Alice", "age": 30})).await?;
//! let values = client.sh_get(tkn, ["name"]).await?;
//! assert_eq!(values["name"], "Alice");
//! client.sh_end(tkn).await?;
//! let err = client.sh_count(tkn).await.unwrap_err();
//! assert_eq!(err.status(), Some(Status::SESSION_NOT_EXIST));
//! # Ok(()) }
//! ```
//!
//! Values are [`serde_json::Value`]s. Tokens are `u64` and round-trip exactly. Unless the
//! workspace enables serde_json's `preserve_order`, objects returned by `*_get` are sorted by key
//! rather than kept in stored order; use [`Client::request_text`] to see the server's text as sent.
//!
//! Connections are never re-established behind the caller's back: see [`Client`].

mod client;
mod conn;
mod error;
mod reply;
mod types;
mod url;

pub use client::{Client, PendingReply};
pub use error::{Error, Result, Status};
pub use reply::Reply;
pub use types::{
    Expiry, ExpiryInfo, LoadInfo, SaveInfo, ServerInfo, SessionInfo, SessionOptions, SessionTotals,
};
