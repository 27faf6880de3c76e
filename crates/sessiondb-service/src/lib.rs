//! The sessiondb service layer, between the wire protocol (sessiondb-proto: parse and render)
//! and the engine that holds the data.
//!
//! The transport (sessiondb-server) only ever calls [`Service`]: one text message in, exactly
//! one reply (one JSON object) out, or deferred work for commands that touch the disk, and a
//! [`ReplyHead`] saying what was replied. The service owns what the protocol does not: the
//! authentication gate, the engine call, `SV_INFO`, deferral of saves and loads, and the count
//! of probing misses. The engine is behind [`Engine`], which the embedded
//! [`sessiondb_core::Store`] implements.

mod conn;
mod engine;
mod persist;
mod remote;
mod service;

pub use conn::ConnState;
pub use engine::Engine;
pub use remote::{Answer, EngineFuture, PendingReply, RemoteEngine, Unsupported};
pub use service::{Authenticator, DeferredWork, Handled, ServerStats, Service, ServiceSettings};
pub use sessiondb_proto::{Kind, ReplyHead, Status};
