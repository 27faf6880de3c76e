//! sessiondb on a Redis Cluster, or on one Redis: the backend-mode engine.
//!
//! A sessiondb node in backend mode holds no session state of its own; any number of nodes can
//! serve the same cluster. All keys of one session carry the hash tag `{<token>}`, so every
//! session command touches one slot and runs as one server-side script (`session.lua`, invoked
//! with EVALSHA and loaded on first use): the script applies a due expiry before it reads
//! anything, so a session is never visible after its deadline, and sets Redis key expiry so
//! that Redis reclaims the memory.
//!
//! The client is redis-rs (cluster routing, MOVED/ASK, multiplexed connections); there is no
//! RESP or slot code here.

mod backend;
mod engine;
mod layout;
mod reply;
mod scan;

pub use backend::{Backend, ConnectError};
pub use engine::RedisEngine;
