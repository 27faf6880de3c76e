//! The sessiondb engine: a sharded in-memory store of sessions and top-level keys.
//!
//! Synchronous and deterministic: no tokio, no sockets, no JSON envelopes. Time comes from
//! an injectable [`clock::Clock`] so expiry can be tested without sleeping.

pub mod clock;
pub mod command;
pub mod json;
pub mod persist;
pub mod store;
pub mod value;

pub use command::{Command, Entries, Expiry, Keys, Outcome, SessionInfo, Token};
pub use value::Value;
pub use store::{Store, StoreConfig};
