//! The journal: an append-only log of every [`Change`], so that acknowledged writes survive a
//! crash (beyond NemesisDB, which only has explicit datasets).
//!
//! * Every change is encoded (see [`record`]) into an in-memory buffer by [`ChangeSink::record`],
//!   under the engine's lock, and numbered with a sequence number.
//! * One writer thread moves the buffer to the current segment file. With [`FsyncMode::Always`]
//!   it fsyncs after every batch and then publishes the batch's last sequence number as durable:
//!   concurrent clients share one fsync (group commit), and a server that replies only once
//!   [`Journal::durable_seq`] covers [`Journal::appended_seq`] never acknowledges a write that
//!   is not on disk. `EverySec` fsyncs once a second; `No` leaves the fsync to the operating
//!   system.
//! * In those two modes the server does not wait for the writer thread: before its replies go
//!   out, a connection calls [`Journal::write_recorded`], which hands everything recorded so far
//!   (by any connection) to the file with one `write`, unless someone already did. A reply then
//!   never acknowledges a record that is only in this process's memory, so killing the process
//!   loses nothing acknowledged, as with Redis's AOF. The writer still writes, every
//!   [`WRITE_DELAY`], records nobody waits for (the expiry sweep's).
//! * Compaction rotates to a new segment, writes a snapshot of the live store in small chunks
//!   (service continues; changes made meanwhile go to the new segment, and replay is idempotent),
//!   then deletes what the snapshot covers.
//! * Recovery ([`recover`]): newest snapshot, then the later segments, read as one sequence of
//!   records; a torn tail is cut, other damage refused or (`repair`) skipped; see [`replay`].

mod compact;
pub mod files;
pub mod header;
mod model;
pub mod record;
pub mod replay;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::change::{Change, ChangeSink};
use crate::persist::fsutil::fsync_dir;

use header::FileKind;
use record::Seed;

pub use replay::{recover, Recovered, RecoveryReport, Skipped};

/// With `EverySec` and `No`, how long records nobody has written with
/// [`Journal::write_recorded`] may wait in memory before the writer thread hands them to the
/// file: one wake-up of the writer per this interval, not one per few requests.
pub const WRITE_DELAY: Duration = Duration::from_millis(2);

/// With `EverySec` and `No`, pending bytes that wake the writer before [`WRITE_DELAY`] is up.
const EAGER_BYTES: usize = 1 << 20;

/// Default size of the segments written since the last snapshot that triggers a compaction.
pub const DEFAULT_COMPACT_BYTES: u64 = 256 * 1024 * 1024;

/// When the journal is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncMode {
    /// After every batch of records; writes are acknowledged only once on disk.
    Always,
    /// Once a second: a crash of the machine loses at most about the last second.
    EverySec,
    /// Never explicitly (the operating system decides); still survives a crash of the process.
    No,
}

/// The command-line spelling (`always`, `everysec`, `no`).
impl std::fmt::Display for FsyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncMode::Always => "always",
            FsyncMode::EverySec => "everysec",
            FsyncMode::No => "no",
        })
    }
}

impl std::str::FromStr for FsyncMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncMode::Always),
            "everysec" => Ok(FsyncMode::EverySec),
            "no" => Ok(FsyncMode::No),
            other => Err(format!(
                "unknown fsync mode {other:?} (expected always, everysec or no)"
            )),
        }
    }
}

/// Journal errors, each naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O operation failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Damage with valid records after it (refused without `--repair`).
    #[error(
        "journal {path} is corrupt at byte {offset} ({reason}), with valid records after it; \
         start with --repair to skip the damaged bytes (kept beside the journal for inspection) \
         and keep every valid record"
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the first damaged byte.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The writer thread stopped after an I/O failure; nothing further can be made durable.
    #[error("journal writer failed: {0}")]
    WriterFailed(String),
}

impl JournalError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the journal tells its owner (the server logs and reacts).
pub trait JournalEvents: Send + Sync + 'static {
    /// Every record up to `seq` is as durable as the fsync mode makes it.
    fn durable(&self, seq: u64);
    /// The writer could not write or fsync: acknowledged durability can no longer be kept.
    fn fatal(&self, error: &JournalError);
    /// Something worth an operator's attention that the journal handled itself.
    fn warn(&self, message: &str);
    /// Routine progress (compactions).
    fn info(&self, message: &str);
}

/// Records not yet handed to the writer thread.
struct Pending {
    bytes: Vec<u8>,
    /// Sequence number of the last record in `bytes` (or handed over before).
    seq: u64,
    /// A compaction asked for a new segment with this index; the writer answers in `rotated`.
    rotate_to: Option<u64>,
    rotated: Option<Result<(), String>>,
    shutdown: bool,
    /// Someone waits for an fsync the mode would not do yet (`sync`, shutdown of a client).
    sync_requested: bool,
    writer_idle: bool,
    failed: Option<String>,
}

/// The segment file being appended to. Its lock orders the writes: whoever holds it takes all
/// pending bytes and writes them before the next writer can take more.
struct Segment {
    file: File,
    index: u64,
    /// The buffer swapped with [`Pending::bytes`] for each write.
    spare: Vec<u8>,
}

struct Shared {
    pending: Mutex<Pending>,
    segment: Mutex<Segment>,
    /// Wakes the writer (new records, rotation, shutdown).
    wake: Condvar,
    /// Wakes compaction (rotation done) and blocking durability waiters.
    done: Condvar,
    appended: AtomicU64,
    /// Sequence number of the last record handed to the segment file.
    written: AtomicU64,
    durable: AtomicU64,
    /// Bytes in segments since the last snapshot, and the size of that snapshot.
    segment_bytes: AtomicU64,
    snapshot_bytes: AtomicU64,
    events: Arc<dyn JournalEvents>,
    mode: FsyncMode,
}

/// Settings of [`Journal::open`].
#[derive(Clone)]
pub struct JournalOptions {
    /// When to fsync.
    pub mode: FsyncMode,
    /// Compact once the segments since the last snapshot exceed this many bytes (and at least
    /// the snapshot's own size, so a large store is not rewritten for a few writes).
    pub compact_bytes: u64,
}

/// The append-only journal. It is the store's [`ChangeSink`].
pub struct Journal {
    dir: PathBuf,
    /// Checksum seed of every file this journal writes.
    seed: Seed,
    shared: Arc<Shared>,
    options: JournalOptions,
    writer: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<JoinHandle<()>>>,
    compacting: Mutex<()>,
    stop_compactor: Arc<(Mutex<bool>, Condvar)>,
}

impl Journal {
    /// Starts a journal in `dir` writing segment `next_index` (from [`RecoveryReport::next_index`],
    /// so recovery must have run first).
    pub fn open(
        dir: &Path,
        next_index: u64,
        options: JournalOptions,
        events: Arc<dyn JournalEvents>,
    ) -> Result<Arc<Journal>, JournalError> {
        let seed = Seed::random();
        let (file, _) = create_segment(dir, next_index, seed)?;
        // The writer fsyncs through its own handle, without holding the segment's lock.
        let sync_file = file
            .try_clone()
            .map_err(|e| JournalError::io(&files::segment_path(dir, next_index), e))?;
        let existing: u64 = files::list(dir)?
            .segments
            .iter()
            .map(|&i| {
                fs::metadata(files::segment_path(dir, i))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum();
        let snapshot_bytes = files::list(dir)?
            .snapshots
            .last()
            .map(|&i| {
                fs::metadata(files::snapshot_path(dir, i))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                bytes: Vec::with_capacity(1 << 16),
                seq: 0,
                rotate_to: None,
                rotated: None,
                shutdown: false,
                sync_requested: false,
                writer_idle: false,
                failed: None,
            }),
            segment: Mutex::new(Segment {
                file,
                index: next_index,
                spare: Vec::with_capacity(1 << 16),
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            appended: AtomicU64::new(0),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            segment_bytes: AtomicU64::new(existing),
            snapshot_bytes: AtomicU64::new(snapshot_bytes),
            events,
            mode: options.mode,
        });
        let thread_shared = Arc::clone(&shared);
        let thread_dir = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer_loop(&thread_shared, &thread_dir, sync_file, seed))
            .map_err(|e| JournalError::io(dir, e))?;
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            seed,
            shared,
            options,
            writer: Mutex::new(Some(writer)),
            compactor: Mutex::new(None),
            compacting: Mutex::new(()),
            stop_compactor: Arc::new((Mutex::new(false), Condvar::new())),
        }))
    }

    /// The fsync mode.
    pub fn mode(&self) -> FsyncMode {
        self.shared.mode
    }

    /// Sequence number of the last change recorded.
    pub fn appended_seq(&self) -> u64 {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// Sequence number of the last change handed to the segment file: it survives a crash of the
    /// process, and with `Always` (after the fsync that follows) one of the machine.
    pub fn written_seq(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// Hands every change recorded so far to the segment file, so that a crash of the process
    /// cannot lose it; returns at once when that is already so. One `write` takes the records
    /// of every caller (group commit): a caller that finds the file busy waits for that write
    /// and usually has nothing left to write. Called on the thread that is about to
    /// acknowledge the changes; fsyncs stay the writer thread's, as the mode says. A failed
    /// write stops the journal as a failure of the writer does ([`JournalEvents::fatal`]).
    pub fn write_recorded(&self) -> Result<(), JournalError> {
        let target = self.appended_seq();
        if self.written_seq() >= target {
            return Ok(());
        }
        let mut segment = self.shared.segment.lock();
        if self.written_seq() >= target {
            return Ok(());
        }
        match self.shared.write_pending(&mut segment) {
            Ok(()) => Ok(()),
            Err(WriteFailure::Io(e)) => {
                let error = JournalError::io(&files::segment_path(&self.dir, segment.index), e);
                let message = error.to_string();
                drop(segment);
                fail(&self.shared, error);
                Err(JournalError::WriterFailed(message))
            }
            Err(WriteFailure::Stopped(message)) => Err(JournalError::WriterFailed(message)),
        }
    }

    /// Every change up to this sequence number is durable (for `Always`; for the other modes,
    /// written and fsynced as that mode does).
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Blocks until `seq` is durable, or fails if the writer has stopped on an error.
    pub fn wait_durable(&self, seq: u64) -> Result<(), JournalError> {
        let mut p = self.shared.pending.lock();
        loop {
            if self.shared.durable.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            if let Some(e) = &p.failed {
                return Err(JournalError::WriterFailed(e.clone()));
            }
            // With EverySec the record may be written but not yet fsynced: ask for the fsync now.
            p.sync_requested = true;
            self.shared.wake.notify_one();
            self.shared.done.wait_for(&mut p, Duration::from_millis(50));
        }
    }

    /// Flushes and fsyncs everything recorded so far, whatever the mode.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.wait_durable(self.appended_seq())
    }

    /// Bytes the journal occupies on disk: the last snapshot and the segments after it (what
    /// the writer has handed to the file system so far).
    pub fn size_bytes(&self) -> u64 {
        self.shared.segment_bytes.load(Ordering::Relaxed)
            + self.shared.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// Asks the writer to finish the current segment and start a new one; returns its index.
    fn rotate(&self) -> Result<u64, JournalError> {
        let index = files::list(&self.dir)?.next_index();
        let mut p = self.shared.pending.lock();
        if let Some(e) = &p.failed {
            return Err(JournalError::WriterFailed(e.clone()));
        }
        p.rotate_to = Some(index);
        p.rotated = None;
        self.shared.wake.notify_one();
        loop {
            if let Some(result) = p.rotated.take() {
                return result.map(|()| index).map_err(JournalError::WriterFailed);
            }
            if let Some(e) = &p.failed {
                return Err(JournalError::WriterFailed(e.clone()));
            }
            self.shared.done.wait(&mut p);
        }
    }

    /// Stops the compactor, writes and fsyncs everything recorded, and stops the writer.
    pub fn shutdown(&self) -> Result<(), JournalError> {
        {
            let (flag, cv) = &*self.stop_compactor;
            *flag.lock() = true;
            cv.notify_all();
        }
        if let Some(h) = self.compactor.lock().take() {
            // The compactor may itself drop the last handle to the journal; it cannot join
            // itself, and it is about to return anyway.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        {
            let mut p = self.shared.pending.lock();
            p.shutdown = true;
            self.shared.wake.notify_one();
        }
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
        match &self.shared.pending.lock().failed {
            Some(e) => Err(JournalError::WriterFailed(e.clone())),
            None => Ok(()),
        }
    }
}

impl ChangeSink for Journal {
    fn record(&self, change: &Change<'_>) {
        let mut p = self.shared.pending.lock();
        let first = p.bytes.is_empty();
        record::encode(change, &mut p.bytes, self.seed);
        p.seq += 1;
        self.shared.appended.store(p.seq, Ordering::Release);
        // `Always` writes every batch at once (replies wait for it). The other modes wake the
        // writer for the first record of a batch only: it then waits out WRITE_DELAY itself.
        let wake = self.shared.mode == FsyncMode::Always || first || p.bytes.len() >= EAGER_BYTES;
        if wake && p.writer_idle {
            p.writer_idle = false;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Creates segment `idx` with its header, fsynced, and fsyncs the directory.
fn create_segment(dir: &Path, idx: u64, seed: Seed) -> Result<(File, u64), JournalError> {
    let path = files::segment_path(dir, idx);
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, e))?;
    let head = header::encode(FileKind::Segment, seed);
    f.write_all(&head).map_err(|e| JournalError::io(&path, e))?;
    f.sync_all().map_err(|e| JournalError::io(&path, e))?;
    fsync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    Ok((f, head.len() as u64))
}

/// Why pending records could not be written.
enum WriteFailure {
    Io(io::Error),
    /// The journal had already failed; nothing more is written.
    Stopped(String),
}

impl Shared {
    /// Writes every pending record to `segment` (whose lock the caller holds) with one write and
    /// publishes them as written.
    fn write_pending(&self, segment: &mut Segment) -> Result<(), WriteFailure> {
        let seq = {
            let mut p = self.pending.lock();
            if let Some(e) = &p.failed {
                return Err(WriteFailure::Stopped(e.clone()));
            }
            if p.bytes.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut p.bytes, &mut segment.spare);
            p.seq
        };
        segment
            .file
            .write_all(&segment.spare)
            .map_err(WriteFailure::Io)?;
        self.segment_bytes
            .fetch_add(segment.spare.len() as u64, Ordering::Relaxed);
        segment.spare.clear();
        self.written.store(seq, Ordering::Release);
        Ok(())
    }
}

/// The writer thread: writes what no caller of [`Journal::write_recorded`] wrote, fsyncs per the
/// mode (through `sync_file`, a handle of the current segment, so writers are not held up by
/// the fsync), and rotates segments for compaction.
fn writer_loop(shared: &Shared, dir: &Path, mut sync_file: File, seed: Seed) {
    let mut synced_seq = 0u64;
    let mut last_sync = Instant::now();
    // When the writer first saw the records now pending (`EverySec`/`No` batch them).
    let mut pending_since: Option<Instant> = None;
    loop {
        let (rotate_to, shutdown, sync_requested) = {
            let mut p = shared.pending.lock();
            loop {
                let unsynced = shared.written.load(Ordering::Acquire) > synced_seq;
                let sync_wanted = p.sync_requested
                    || unsynced
                        && shared.mode == FsyncMode::EverySec
                        && last_sync.elapsed() >= Duration::from_secs(1);
                let write_now = !p.bytes.is_empty()
                    && (shared.mode == FsyncMode::Always
                        || p.bytes.len() >= EAGER_BYTES
                        || pending_since.is_some_and(|t| t.elapsed() >= WRITE_DELAY));
                if write_now || p.rotate_to.is_some() || p.shutdown || sync_wanted {
                    break;
                }
                if p.bytes.is_empty() {
                    // Written by the connections meanwhile: nothing of ours to wait for.
                    pending_since = None;
                }
                let mut timeout = Duration::from_millis(200);
                if !p.bytes.is_empty() {
                    let since = *pending_since.get_or_insert_with(Instant::now);
                    timeout = WRITE_DELAY.saturating_sub(since.elapsed());
                }
                if shared.mode == FsyncMode::EverySec && unsynced {
                    timeout =
                        timeout.min(Duration::from_secs(1).saturating_sub(last_sync.elapsed()));
                }
                p.writer_idle = true;
                shared
                    .wake
                    .wait_for(&mut p, timeout.max(Duration::from_micros(100)));
                p.writer_idle = false;
            }
            pending_since = None;
            let sync_requested = std::mem::take(&mut p.sync_requested);
            (p.rotate_to.take(), p.shutdown, sync_requested)
        };
        let must_sync = shared.mode == FsyncMode::Always
            || rotate_to.is_some()
            || shutdown
            || sync_requested
            || shared.mode == FsyncMode::EverySec && last_sync.elapsed() >= Duration::from_secs(1);
        let mut segment = shared.segment.lock();
        let index = segment.index;
        let mut result = shared.write_pending(&mut segment);
        // A rotation keeps the segment's lock until the new segment is in place, so nothing
        // lands in the old one after its last fsync. Otherwise the fsync runs unlocked: it
        // covers everything written before it starts, later writes wait for the next one.
        let held = rotate_to.is_some().then_some(segment);
        let written_seq = shared.written.load(Ordering::Acquire);
        if result.is_ok() && must_sync && written_seq > synced_seq {
            match sync_file.sync_data() {
                Ok(()) => {
                    synced_seq = written_seq;
                    last_sync = Instant::now();
                }
                Err(e) => result = Err(WriteFailure::Io(e)),
            }
        }
        match result {
            Ok(()) => {}
            Err(WriteFailure::Io(e)) => {
                drop(held);
                fail(
                    shared,
                    JournalError::io(&files::segment_path(dir, index), e),
                );
                return;
            }
            Err(WriteFailure::Stopped(_)) => return,
        }
        // `No` never fsyncs on its own: what is written is as durable as that mode promises.
        let durable = if shared.mode == FsyncMode::No {
            written_seq
        } else {
            synced_seq
        };
        if durable > shared.durable.load(Ordering::Relaxed) {
            shared.durable.store(durable, Ordering::Release);
            shared.events.durable(durable);
            let _p = shared.pending.lock();
            shared.done.notify_all();
        }
        if let (Some(new_index), Some(mut segment)) = (rotate_to, held) {
            let outcome = create_segment(dir, new_index, seed).and_then(|(f, size)| {
                let path = files::segment_path(dir, new_index);
                sync_file = f.try_clone().map_err(|e| JournalError::io(&path, e))?;
                segment.file = f;
                segment.index = new_index;
                shared.segment_bytes.store(size, Ordering::Relaxed);
                Ok(())
            });
            drop(segment);
            let mut p = shared.pending.lock();
            p.rotated = Some(outcome.map_err(|e| e.to_string()));
            shared.done.notify_all();
        }
        if shutdown {
            return;
        }
    }
}

/// Stops the writer for good: waiters get the error, the owner is told.
fn fail(shared: &Shared, error: JournalError) {
    shared.events.fatal(&error);
    let mut p = shared.pending.lock();
    p.failed = Some(error.to_string());
    if p.rotate_to.is_some() {
        p.rotated = Some(Err(error.to_string()));
    }
    shared.done.notify_all();
}
