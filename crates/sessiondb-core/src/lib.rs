//! The sessiondb engine: a sharded in-memory store of sessions and top-level keys.
//!
//! Synchronous and deterministic: no tokio, no sockets, no JSON envelopes. Time comes from
//! an injectable [`clock::Clock`] so expiry can be tested without sleeping.

pub mod base;
pub mod change;
pub mod clock;
pub mod command;
pub mod expiry;
pub mod footprint;
pub mod json;
mod kv_map;
pub mod persist;
pub mod session;
pub mod store;
pub mod token;
pub mod value;

pub use base::{Expiry, Token, MAX_OWNER_BYTES};
pub use change::{Change, ChangeSink};
pub use command::{
    Command, Entries, KeyTtls, Keys, Outcome, OwnedNew, SessionInfo, TtlWrite, ValueSink,
    VersionCheck,
};
pub use store::{Arming, Limits, SessionRecord, Store, StoreConfig, SweepReport};
pub use value::Value;
