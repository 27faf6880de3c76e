//! Saves and loads (`KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD`; `docs/PROTOCOL.md` §13).
//!
//! They touch the disk, so they are returned as [`Handled::Deferred`] work that the transport
//! runs on a blocking thread: other connections keep being served, and this connection's later
//! replies wait for this one (§13.6). The work owns what it needs (the engine, the root, the
//! names), since it outlives the request message.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use sessiondb_core::persist::SaveKind;
use sessiondb_core::Token;
use sessiondb_proto::render;
use sessiondb_proto::request::PersistRequest;

use crate::{DeferredWork, Engine, Handled, Service};

/// Defers a validated save or load; `cmd_name` is the command name as received.
pub(crate) fn defer<E: Engine>(
    service: &Service<E>,
    cmd_name: &str,
    req: PersistRequest<'_>,
) -> Handled {
    let engine = Arc::clone(service.engine());
    let clock = Arc::clone(&service.settings().clock);
    let root = service.settings().data_dir.clone();
    let cmd = cmd_name.to_owned();
    let work: DeferredWork = match req {
        PersistRequest::KvSave { name } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                let started = Instant::now();
                let result = engine.save_keys(&root, &name, clock.as_ref());
                render::saved(out, &cmd, &name, elapsed_ms(started), &result).status
            })
        }
        PersistRequest::ShSave { name, tkns } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                let started = Instant::now();
                let only: Option<HashSet<Token>> = tkns.map(|t| t.into_iter().collect());
                let result = engine.save_sessions(&root, &name, only.as_ref(), clock.as_ref());
                render::saved(out, &cmd, &name, elapsed_ms(started), &result).status
            })
        }
        PersistRequest::KvLoad { name } => load(engine, clock, root, cmd, name, SaveKind::Keys),
        PersistRequest::ShLoad { name } => load(engine, clock, root, cmd, name, SaveKind::Sessions),
    };
    Handled::Deferred(work)
}

fn load<E: Engine>(
    engine: Arc<E>,
    clock: Arc<dyn sessiondb_core::clock::Clock>,
    root: std::path::PathBuf,
    cmd: String,
    name: &str,
    kind: SaveKind,
) -> DeferredWork {
    let name = name.to_owned();
    Box::new(move |out: &mut Vec<u8>| {
        let started = Instant::now();
        let result = engine.load(&root, &name, kind, clock.now_ms());
        render::loaded(out, &cmd, &name, kind, elapsed_ms(started), &result).status
    })
}

/// Milliseconds since `started`, for the replies' `duration`.
fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
