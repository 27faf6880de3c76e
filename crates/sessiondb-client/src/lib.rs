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
//! ## Timeouts and reconnection
//!
//! [`Client::connect`] gives a plain connection. [`Client::connect_with`] with
//! [`ClientOptions::default`] adds a 10 s connect timeout, a 10 s request timeout
//! ([`Error::Timeout`]) and reconnection with exponential [`Backoff`], in the manner of redis-rs's
//! `ConnectionManager`: requests in flight when the connection breaks fail with
//! [`Error::Disconnected`] and are never sent again (they may have run); the next request opens a
//! new connection and goes through it.
//!
//! ```no_run
//! use std::time::Duration;
//! use sessiondb_client::{Backoff, Client, ClientOptions};
//!
//! # async fn demo() -> sessiondb_client::Result<()> {
//! let options = ClientOptions::default()
//!     .request_timeout(Some(Duration::from_secs(2)))
//!     .reconnect(Some(Backoff { attempts: 20, ..Backoff::default() }));
//! let client = Client::connect_with("ws://127.0.0.1:1987", options).await?;
//! client.kv_count().await?;
//! # Ok(()) }
//! ```
//!
//! ## Changing a session's expiry
//!
//! The protocol has no command that changes an existing session's expiry; its duration and
//! flags are fixed when it is created. [`Client::sh_touch`] re-arms the deadline where the
//! session's own `extendOnGet` / `extendOnSetAdd` flags allow it, without changing any key.
//!
//! ## Tokens
//!
//! Tokens are `u64` and most are above 2^53; about half are above 2^63 (the shared session
//! `settings` has 15900886249489855254). They are never converted to floating point or `i64`.

mod client;
mod conn;
mod error;
mod key_expiry;
mod options;
mod reply;
mod types;
mod url;

pub use client::{Client, PendingReply};
pub use error::{Error, Result, Status};
pub use options::{Backoff, ClientOptions};
pub use reply::Reply;
pub use types::{
    Expiry, ExpiryInfo, IfVer, LoadInfo, SaveInfo, ServerInfo, SessionInfo, SessionOptions,
    SessionTotals,
};
