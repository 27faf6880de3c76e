//! Compaction: rotate to a new segment, write a snapshot of the live store beside it in small
//! chunks while service continues, adopt the snapshot by a rename, then delete what it covers.
//! A crash at any point leaves either the old files (and an unfinished `snap-<index>.tmp`, which
//! recovery removes) or the new snapshot with everything after it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::header::{self, FileKind};
use super::record::{self, Seed};
use super::{files, Journal, JournalError};
use crate::change::Change;
use crate::clock::Clock;
use crate::persist::fsutil::fsync_dir;
use crate::persist::save_load::SAVE_CHUNK;
use crate::store::Store;

impl Journal {
    /// True when the segments since the last snapshot have outgrown the threshold.
    pub fn needs_compaction(&self) -> bool {
        let seg = self.shared.segment_bytes.load(Ordering::Relaxed);
        let snap = self.shared.snapshot_bytes.load(Ordering::Relaxed);
        seg > self.options.compact_bytes.max(snap)
    }

    /// Rewrites the journal as a snapshot of `store` plus a fresh segment, without stopping
    /// service. Returns the snapshot's size in bytes.
    pub fn compact(&self, store: &Store, now_ms: u64) -> Result<u64, JournalError> {
        let _one_at_a_time = self.compacting.lock();
        let started = Instant::now();
        let index = self.rotate()?;
        let tmp = files::snapshot_tmp_path(&self.dir, index);
        let written = write_snapshot(&tmp, store, now_ms, self.seed);
        let size = match written {
            Ok(size) => size,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let path = files::snapshot_path(&self.dir, index);
        fs::rename(&tmp, &path).map_err(|e| JournalError::io(&tmp, e))?;
        fsync_dir(&self.dir).map_err(|e| JournalError::io(&self.dir, e))?;
        // Everything below `index` is now covered by the snapshot.
        let listing = files::list(&self.dir)?;
        for &i in listing.segments.iter().filter(|&&i| i < index) {
            let p = files::segment_path(&self.dir, i);
            fs::remove_file(&p).map_err(|e| JournalError::io(&p, e))?;
        }
        for &i in listing.snapshots.iter().filter(|&&i| i < index) {
            let p = files::snapshot_path(&self.dir, i);
            fs::remove_file(&p).map_err(|e| JournalError::io(&p, e))?;
        }
        fsync_dir(&self.dir).map_err(|e| JournalError::io(&self.dir, e))?;
        self.shared.snapshot_bytes.store(size, Ordering::Relaxed);
        self.shared.events.info(&format!(
            "journal compacted into a {size}-byte snapshot in {} ms",
            started.elapsed().as_millis()
        ));
        Ok(size)
    }

    /// Starts a thread that compacts whenever [`Journal::needs_compaction`] says so.
    pub fn start_compactor(self: &Arc<Self>, store: Weak<Store>, clock: Arc<dyn Clock>) {
        let journal = Arc::downgrade(self);
        let stop = Arc::clone(&self.stop_compactor);
        let handle = std::thread::Builder::new()
            .name("journal-compactor".into())
            .spawn(move || loop {
                {
                    let (flag, cv) = &*stop;
                    let mut stopped = flag.lock();
                    if !*stopped {
                        cv.wait_for(&mut stopped, Duration::from_millis(500));
                    }
                    if *stopped {
                        return;
                    }
                }
                let (Some(journal), Some(store)) = (journal.upgrade(), store.upgrade()) else {
                    return;
                };
                if journal.needs_compaction() {
                    if let Err(e) = journal.compact(&store, clock.now_ms()) {
                        journal
                            .shared
                            .events
                            .warn(&format!("journal compaction failed: {e}"));
                    }
                }
            });
        match handle {
            Ok(h) => *self.compactor.lock() = Some(h),
            Err(e) => self
                .shared
                .events
                .warn(&format!("cannot start the journal compactor: {e}")),
        }
    }
}

/// Writes a snapshot of `store` to `path` (fsynced); returns its size.
///
/// Sessions are encoded straight from the store, at most [`SAVE_CHUNK`] per shard lock hold, so
/// compaction never stalls a shard's clients for a whole shard. Sessions created, changed or
/// ended while the snapshot runs are also in the segment that `compact` rotated to before
/// calling this, and replay applies that segment over the snapshot idempotently.
fn write_snapshot(
    path: &Path,
    store: &Store,
    now_ms: u64,
    seed: Seed,
) -> Result<u64, JournalError> {
    let io = |e| JournalError::io(path, e);
    let mut f = io::BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    let head = header::encode(FileKind::Snapshot, seed);
    f.write_all(&head).map_err(io)?;
    let mut size = head.len() as u64;
    let mut buf = Vec::with_capacity(1 << 20);
    for shard in 0..store.shard_count() {
        let tokens = store.shard_tokens(shard, None);
        for chunk in tokens.chunks(SAVE_CHUNK) {
            store.visit_sessions(shard, chunk, now_ms, |tkn, s| {
                let head = record::SessionHead {
                    tkn,
                    shared: s.shared,
                    name: s.name(),
                    owner: s.owner(),
                    ver: s.version(),
                    ver_shown: s.version_shown(),
                    expiry: s.expiry(),
                    deadline_ms: s.deadline_ms,
                };
                record::encode_session(&mut buf, seed, &head, s.data.iter());
                if let Some(d) = s.data.key_deadlines() {
                    record::encode_key_deadlines(&mut buf, seed, tkn, d.iter());
                }
                // Replay counts the segment's changes of this session again on top of the
                // snapshot, those made before this moment included. A version a client holds
                // must come back exact, so the segment gets it too, here, in its place among
                // those changes: replay lands on it after counting them. (A version nobody was
                // shown is not worth a record per session per compaction.)
                if s.version_shown() {
                    store.record(&Change::Version {
                        tkn,
                        ver: s.version(),
                        shown: true,
                    });
                }
            });
            // Written outside the lock; the buffer is reused for the next chunk.
            f.write_all(&buf).map_err(io)?;
            size += buf.len() as u64;
            buf.clear();
        }
    }
    record::encode_kv_snapshot(&mut buf, seed, &store.snapshot_kv());
    f.write_all(&buf).map_err(io)?;
    size += buf.len() as u64;
    let f = f
        .into_inner()
        .map_err(|e| JournalError::io(path, e.into_error()))?;
    f.sync_all().map_err(io)?;
    Ok(size)
}
