//! Saves and loads against the live [`Store`]: what `KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD`
//! and `--load-name` do, minus the reply rendering (which is the protocol layer's).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::dataset::LoadedSession;
use super::read::{read_for_load, ForLoad, LoadError};
use super::write::{DatasetWriter, Encoder, SaveError, SessionHead};
use super::SaveKind;
use crate::clock::Clock;
use crate::command::Token;
use crate::session::Data;
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

/// Sessions encoded per shard lock hold during a save: bounds how long a save can delay a client
/// of that shard (256 sessions of a few keys encode in well under a millisecond).
pub const SAVE_CHUNK: usize = 256;

/// Size at which the capture hands an encoded buffer to the writer.
const SAVE_BUFFER: usize = 4 << 20;

/// Saves every live session (or those named in `tkns`) as dataset `name` under `root`. Due
/// sessions are expired first (§9.4), at the clock's time when the save starts.
///
/// A capture thread encodes sessions straight into file bytes under the shard lock, at most
/// [`SAVE_CHUNK`] sessions per lock hold (so no client waits on a whole shard), while this
/// thread writes and fsyncs the buffers captured before; at most two buffers are in flight.
pub fn save_sessions(
    store: &Store,
    root: &Path,
    name: &str,
    tkns: Option<&HashSet<Token>>,
    clock: &dyn Clock,
) -> Result<PathBuf, SaveError> {
    let now_ms = clock.now_ms();
    let mut w = DatasetWriter::begin(root, name, SaveKind::Sessions, now_ms)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Encoded>(1);
    // Written buffers go back to the capture to be filled again: a fresh 4 MiB buffer per chunk
    // costs its page faults every time with allocators that hand large blocks back to the OS
    // at once.
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Encoded>();
    std::thread::scope(|scope| {
        scope.spawn(move || capture_sessions(store, tkns, now_ms, &tx, &spare_rx));
        for encoded in rx {
            let mut from = 0;
            for &end in &encoded.file_ends {
                w.write_encoded(encoded.bytes.get(from..end).unwrap_or_default(), true)?;
                from = end;
            }
            w.write_encoded(encoded.bytes.get(from..).unwrap_or_default(), false)?;
            // The capture may have finished; the buffer is then simply dropped.
            let _ = spare_tx.send(encoded);
        }
        Ok::<(), SaveError>(())
    })?;
    w.finish(clock.now_ms())
}

/// A buffer of encoded data-file bytes handed from the capture to the writer.
struct Encoded {
    bytes: Vec<u8>,
    /// Offsets in `bytes` where a data file ends (after its closing bracket), ascending.
    file_ends: Vec<usize>,
}

impl Encoded {
    fn new() -> Self {
        Self {
            bytes: Vec::with_capacity(SAVE_BUFFER + (64 << 10)),
            file_ends: Vec::new(),
        }
    }

    /// A written buffer from `spare` emptied for reuse, or a new one.
    fn reuse_or_new(spare: &std::sync::mpsc::Receiver<Encoded>) -> Self {
        match spare.try_recv() {
            Ok(mut e) => {
                e.bytes.clear();
                e.file_ends.clear();
                e
            }
            Err(_) => Self::new(),
        }
    }
}

/// Encodes every live session of `store` (or those in `filter`) into buffers sent on `tx`,
/// refilling the written ones that come back on `spare`. Stops early when the receiver is gone
/// (the writer failed).
fn capture_sessions(
    store: &Store,
    filter: Option<&HashSet<Token>>,
    now_ms: u64,
    tx: &std::sync::mpsc::SyncSender<Encoded>,
    spare: &std::sync::mpsc::Receiver<Encoded>,
) {
    let mut encoder = Encoder::new(SaveKind::Sessions);
    let mut out = Encoded::new();
    for shard in 0..store.shard_count() {
        let tokens = store.shard_tokens(shard, filter);
        for chunk in tokens.chunks(SAVE_CHUNK) {
            store.visit_sessions(shard, chunk, now_ms, |tkn, s| {
                let head = SessionHead {
                    tkn,
                    shared: s.shared,
                    name: s.name(),
                    owner: s.owner(),
                    ver: s.version_shown().then(|| s.version()),
                    expiry: s.expiry(),
                    key_deadlines: s.data.key_deadlines(),
                };
                if encoder.session(&mut out.bytes, &head, s.data.iter()) {
                    out.file_ends.push(out.bytes.len());
                }
            });
            let full = out.bytes.len() >= SAVE_BUFFER;
            if full
                && tx
                    .send(std::mem::replace(&mut out, Encoded::reuse_or_new(spare)))
                    .is_err()
            {
                return;
            }
        }
    }
    if encoder.finish(&mut out.bytes) {
        out.file_ends.push(out.bytes.len());
    }
    // A failed send means the writer already stopped with an error, which it reports.
    let _ = tx.send(out);
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
    let prepare = |sessions: Vec<LoadedSession<Data>>| {
        let records = sessions.into_iter().map(|s| SessionRecord {
            tkn: s.tkn,
            shared: s.shared,
            name: s.name,
            owner: s.owner,
            ver: s.ver.unwrap_or(1),
            ver_shown: s.ver.is_some(),
            expiry: s.expiry,
            deadline_ms: 0,
            keys: s.keys,
            key_deadlines: s.key_deadlines,
        });
        store.prepare_sessions(records, now_ms, Arming::FromDuration)
    };
    match read_for_load(root, name, want, progress, &prepare)? {
        ForLoad::Keys(keys) => {
            let keys = store.kv_load(keys);
            Ok(Loaded {
                kind: SaveKind::Keys,
                sessions: 0,
                keys,
            })
        }
        ForLoad::Sessions(parts) => {
            let (sessions, keys) = store.insert_prepared(parts, now_ms);
            Ok(Loaded {
                kind: SaveKind::Sessions,
                sessions,
                keys,
            })
        }
    }
}
