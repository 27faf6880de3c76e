//! Persistence commands (`KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD`; `PROTOCOL.md` §10.10,
//! §10.11, §11.9, §11.10, §13).
//!
//! The protocol layer validates these requests (14, 26, 41, 42) in [`crate::parse`] and hands
//! the result to [`execute`]. Saves and loads touch the disk, so they are returned as
//! [`Handled::Deferred`] work that the transport runs on a blocking thread: other connections
//! keep being served, and this connection's later replies wait for this one (§13.6).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sessiondb_core::clock::Clock;
use sessiondb_core::persist::{save_load, LoadError, SaveError, SaveKind};
use sessiondb_core::{Store, Token};

use crate::render::ReplyWriter;
use crate::request::{PersistRequest, ReplyName};
use crate::status::Status;
use crate::{Dispatcher, Handled};

/// Runs a persistence request; `cmd_name` is the command name as received (for the reply name).
/// Always deferred: the work and its reply happen off the async runtime.
pub fn execute(
    dispatcher: &Dispatcher,
    cmd_name: &str,
    req: PersistRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let _ = out;
    let store = Arc::clone(dispatcher.store());
    let clock = Arc::clone(&dispatcher.settings().clock);
    let root = dispatcher.settings().data_dir.clone();
    let cmd = cmd_name.to_owned();
    let work: crate::DeferredWork = match req {
        PersistRequest::KvSave { name } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                let started = Instant::now();
                let result = save_load::save_kv(&store, &root, &name, clock.as_ref());
                save_reply(out, &cmd, &name, started, result.map(|_| ()))
            })
        }
        PersistRequest::ShSave { name, tkns } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                let started = Instant::now();
                let filter: Option<HashSet<Token>> = tkns.map(|t| t.into_iter().collect());
                let result =
                    save_load::save_sessions(&store, &root, &name, filter.as_ref(), clock.as_ref());
                save_reply(out, &cmd, &name, started, result.map(|_| ()))
            })
        }
        PersistRequest::KvLoad { name } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                load_reply(
                    out,
                    &cmd,
                    &name,
                    SaveKind::Keys,
                    &store,
                    &root,
                    clock.as_ref(),
                )
            })
        }
        PersistRequest::ShLoad { name } => {
            let name = name.to_owned();
            Box::new(move |out: &mut Vec<u8>| {
                load_reply(
                    out,
                    &cmd,
                    &name,
                    SaveKind::Sessions,
                    &store,
                    &root,
                    clock.as_ref(),
                )
            })
        }
    };
    Handled::Deferred(work)
}

/// Milliseconds since `started`, for the replies' `duration`.
fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// 121 with `name` and `duration`; 122 bare; 123 with `name` and `duration` (§10.10).
fn save_reply(
    out: &mut Vec<u8>,
    cmd: &str,
    name: &str,
    started: Instant,
    result: Result<(), SaveError>,
) -> Status {
    let duration = elapsed_ms(started);
    let status = match &result {
        Ok(()) => Status::SaveComplete,
        Err(SaveError::DirWrite(_)) => Status::SaveDirWriteFail,
        Err(SaveError::Data(_)) => Status::SaveError,
    };
    let mut w = ReplyWriter::new(out, ReplyName::Rsp(cmd), status);
    if status != Status::SaveDirWriteFail {
        w.str_member("name", name);
        w.uint_member("duration", duration);
    }
    w.finish().status
}

/// Loads and writes the reply: 141 with counts (`KV_LOAD` also `duration`), or 142 (§10.11,
/// §11.10): bare `name` when the dataset is unavailable, with zero counts when it is malformed.
fn load_reply(
    out: &mut Vec<u8>,
    cmd: &str,
    name: &str,
    kind: SaveKind,
    store: &Store,
    root: &Path,
    clock: &dyn Clock,
) -> Status {
    let started = Instant::now();
    let result = save_load::load(store, root, name, Some(kind), clock.now_ms());
    let duration = elapsed_ms(started);
    let (status, counts) = match &result {
        Ok(loaded) => (Status::LoadComplete, Some((loaded.sessions, loaded.keys))),
        Err(LoadError::Malformed { .. }) => (Status::LoadError, Some((0, 0))),
        Err(LoadError::Unavailable(_)) => (Status::LoadError, None),
    };
    let mut w = ReplyWriter::new(out, ReplyName::Rsp(cmd), status);
    w.str_member("name", name);
    if let Some((sessions, keys)) = counts {
        if kind == SaveKind::Keys {
            w.uint_member("duration", duration);
        }
        w.uint_member("sessions", sessions);
        w.uint_member("keys", keys);
    }
    w.finish().status
}
