#![cfg_attr(test, allow(clippy::unwrap_used))]
//! A [tower-sessions](https://docs.rs/tower-sessions) store on sessiondb, for axum and any
//! tower-based web framework.
//!
//! ```no_run
//! use tower_sessions::{Expiry, SessionManagerLayer};
//! use tower_sessions_sessiondb_store::{Client, ClientOptions, SessiondbStore};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect_with("ws://127.0.0.1:1987", ClientOptions::default()).await?;
//! let layer = SessionManagerLayer::new(SessiondbStore::new(client))
//!     .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)));
//! // Router::new().route(...).layer(layer)
//! # Ok(()) }
//! ```
//!
//! ## How records are kept
//!
//! Each record is the shared session named `tower-sessions:<id>` (the prefix is
//! [`SessiondbStore::with_namespace`]), holding two keys: `data`, the record's data as one JSON
//! object, and `expiresAt`, its expiry date in Unix milliseconds. Every operation is one round
//! trip: the store computes the session's token from its name exactly as the server does, and
//! pipelines the commands an operation needs on the client's connection.
//!
//! | tower-sessions | sessiondb (pipelined, one round trip) |
//! |---|---|
//! | `create` | `SH_NEW` shared + `SH_ADD` the record; `SessionNewFail` (103) → new id, again |
//! | `save` | `SH_INFO` + `SH_SET` the record; a session that is gone stays gone |
//! | `load` | `SH_GET` of `data` and `expiresAt`; no session or no record → `None` |
//! | `delete` | `SH_END`; a session that is gone is not an error |
//!
//! All of an app's users share the store's connection, and tower-sessions deletes a fresh random
//! id at every login (`Session::cycle_id`) and loads the id of every returning expired cookie:
//! each names no live session, which the server's brute-force guard counts against a connection
//! (docs/PROTOCOL.md E2). Authenticate (`ws://any:SECRET@host:port` with `--auth-secret`), since
//! an authenticated connection is never counted, or run the server with `--no-probe-guard` on a
//! trusted network.
//!
//! ## Expiry
//!
//! A record's session is created with `deleteSession`, so sessiondb deletes it at the record's
//! expiry date, to the second. It is created with `extendOnSetAdd` and the record's time left as
//! its duration, so that each save re-arms it to now + that duration: exactly what
//! `Expiry::OnInactivity` and `Expiry::OnSessionEnd` ask for. sessiondb cannot change the expiry
//! settings of an existing session, so when a save finds that this leaves the deadline more than
//! two seconds from the record's expiry date (a fixed `Expiry::AtDateTime`, or a new expiry from
//! `Session::set_expiry`), it recreates the session with settings that hold the deadline there.
//! During that one pipelined `SH_END` + `SH_NEW` + `SH_SET` a concurrent load of the same session
//! can find nothing; it happens at most twice in a session's life.
//!
//! `ExpiredDeletion` is not implemented because nothing is left to delete: sessiondb removes
//! each session at its deadline by itself, as Redis does with the TTL of
//! tower-sessions-redis-store's keys.
//!
//! ## Errors
//!
//! A failure status comes back as `session_store::Error::Backend` naming the command and the
//! status, for example `sessiondb SH_NEW: LimitReached (170): ...`; connection failures as
//! `Backend` with the client's message; a record that cannot be read back as `Decode`.

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod naming;
mod rearm;
mod store;
mod stored;

pub use sessiondb_client::{Client, ClientOptions};
pub use store::{SessiondbStore, DEFAULT_NAMESPACE};
