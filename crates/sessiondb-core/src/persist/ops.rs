//! Saves and loads against the live [`Store`]: what `KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD`
//! and `--load-name` do, minus the reply rendering (which is the protocol layer's).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::read::{read_dataset_with_progress, Dataset, LoadError};
use super::write::{DatasetWriter, SaveError, SessionView};
use super::SaveKind;
use crate::clock::Clock;
use crate::command::Token;
use crate::store::{Arming, SessionRecord, Store};

/// Saves the whole top-level store as dataset `name` under `root` (the metadata's `start` and
/// `complete` come from `clock`). Returns the published timestamp directory.
pub fn save_kv(
    store: &Store,
    root: &Path,
    name: &str,
    clock: &dyn Clock,
) -> Result<PathBuf, SaveError> {
    let now_ms = clock.now_ms();
    // Snapshot first: the save holds what was acknowledged before it, nothing later.
    let keys = store.snapshot_kv();
    let mut w = DatasetWriter::begin(root, name, SaveKind::Keys, now_ms)?;
    for (k, v) in &keys {
        w.push_key(k, v)?;
    }
    drop(keys);
    w.finish(clock.now_ms())
}

/// Saves every live session (or those named in `tkns`) as dataset `name` under `root`,
/// capturing one shard at a time so no shard lock is held while writing. Due sessions are
/// expired first (§9.4), at the clock's time when the save starts.
pub fn save_sessions(
    store: &Store,
    root: &Path,
    name: &str,
    tkns: Option<&HashSet<Token>>,
    clock: &dyn Clock,
) -> Result<PathBuf, SaveError> {
    let now_ms = clock.now_ms();
    let mut w = DatasetWriter::begin(root, name, SaveKind::Sessions, now_ms)?;
    // Capture and encoding overlap: one thread captures shards while this one writes the
    // previous shard. The bounded channel keeps at most two captured shards in memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<crate::store::SessionRecord>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for shard in 0..store.shard_count() {
                // The writer stopped (an error): stop capturing.
                if tx.send(store.snapshot_shard(shard, now_ms, tkns)).is_err() {
                    return;
                }
            }
        });
        for records in rx {
            for s in &records {
                w.push_session(&SessionView {
                    tkn: s.tkn,
                    shared: s.shared,
                    name: s.name.as_deref(),
                    expiry: s.expiry,
                    keys: &s.keys,
                })?;
            }
        }
        Ok::<(), SaveError>(())
    })?;
    w.finish(clock.now_ms())
}

/// What a load applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// The dataset's kind.
    pub kind: SaveKind,
    /// Sessions created (0 for top-level keys).
    pub sessions: u64,
    /// Keys stored: top-level keys read, or the keys of the sessions created.
    pub keys: u64,
}

/// Loads the newest save of dataset `name` from `root` into `store` (all or nothing: every
/// file is checked before anything is applied). `want` is the command's kind, `None` at
/// startup. Sessions are armed to `now_ms` + duration.
pub fn load(
    store: &Store,
    root: &Path,
    name: &str,
    want: Option<SaveKind>,
    now_ms: u64,
) -> Result<Loaded, LoadError> {
    load_with_progress(store, root, name, want, now_ms, &|_, _| {})
}

/// Like [`load`], reporting `progress(files_parsed, files_total)` as data files are parsed.
pub fn load_with_progress(
    store: &Store,
    root: &Path,
    name: &str,
    want: Option<SaveKind>,
    now_ms: u64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Loaded, LoadError> {
    match read_dataset_with_progress(root, name, want, progress)? {
        Dataset::Keys(keys) => {
            let keys = store.kv_load(keys);
            Ok(Loaded {
                kind: SaveKind::Keys,
                sessions: 0,
                keys,
            })
        }
        Dataset::Sessions(sessions) => {
            let records = sessions
                .into_iter()
                .map(|s| SessionRecord {
                    tkn: s.tkn,
                    shared: s.shared,
                    name: s.name,
                    expiry: s.expiry,
                    deadline_ms: 0,
                    keys: s.keys,
                })
                .collect();
            let (sessions, keys) = store.load_sessions(records, now_ms, Arming::FromDuration);
            Ok(Loaded {
                kind: SaveKind::Sessions,
                sessions,
                keys,
            })
        }
    }
}
