//! Startup and shutdown of persistence: the persistence root, journal recovery, the journal
//! itself, `--load-name` / `--load-path`, and what a connection waits for before its replies
//! leave (the records in the journal file; with `--fsync always`, on disk).
//!
//! Order at startup (all before the server listens):
//! 1. create the root if missing and check it is a writable directory; remove leftovers of
//!    interrupted saves under `.sessiondb-tmp/`;
//! 2. recover the journal into the store (refusing to start on corruption unless `--repair`);
//! 3. attach the journal, so everything after this point is logged;
//! 4. load `--load-name` (journaled like any load);
//! 5. expire what passed its deadline while the server was down (journaled too).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sessiondb_core::clock::Clock;
use sessiondb_core::persist::journal::{
    self, FsyncMode, Journal, JournalError, JournalEvents, JournalOptions,
};
use sessiondb_core::persist::{self as core_persist, LoadError, SaveKind, JOURNAL_DIR};
use sessiondb_core::store::Arming;
use sessiondb_core::{Store, StoreConfig};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Why persistence could not start or stop cleanly. Each names what it was doing; the cause, if
/// any, is its `source`.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// `--load-path` without `--load-name`.
    #[error("--load-path needs --load-name")]
    LoadPathWithoutName,
    /// The persistence root is unusable.
    #[error("{message}")]
    Root {
        /// What is wrong, naming the directory.
        message: String,
        /// The cause, when an operation failed.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Journal recovery refused to start or failed.
    #[error("cannot recover the journal")]
    Recover(#[source] JournalError),
    /// The journal could not be opened for writing.
    #[error("cannot open the journal")]
    Open(#[source] JournalError),
    /// The journal could not be flushed and fsynced at shutdown.
    #[error("flushing the journal at shutdown")]
    Flush(#[source] JournalError),
    /// `--load-name` failed (the message names dataset, reason and root).
    #[error("{0}")]
    Load(String),
}

/// What persistence needs from the configuration.
#[derive(Debug, Clone)]
pub struct PersistOptions {
    /// Saves and the journal are on (`--no-persist` turns both off).
    pub enabled: bool,
    /// The persistence root.
    pub data_dir: PathBuf,
    /// When the journal is fsynced.
    pub fsync: FsyncMode,
    /// Cut a corrupt journal at the damage instead of refusing to start.
    pub repair: bool,
    /// Journal size that triggers a compaction.
    pub compact_bytes: u64,
    /// Dataset to load at startup.
    pub load_name: Option<String>,
    /// Root to load it from instead of `data_dir`.
    pub load_path: Option<PathBuf>,
}

impl PersistOptions {
    /// The persistence settings of a server configuration.
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            enabled: config.persist,
            data_dir: config.data_dir.clone(),
            fsync: config.fsync,
            repair: config.repair,
            compact_bytes: config.journal_compact_bytes,
            load_name: config.load_name.clone(),
            load_path: config.load_path.clone(),
        }
    }
}

/// Lets a connection hold its replies until the changes they acknowledge are as durable as the
/// fsync mode promises.
#[derive(Clone, Default)]
pub struct Durability {
    inner: Option<(Arc<Journal>, watch::Receiver<u64>)>,
}

impl Durability {
    /// Returns once every change recorded so far survives a crash of the process: written to
    /// the journal file (`--fsync everysec` and `no`, by this thread if nobody did yet) or, with
    /// `--fsync always`, on disk. At once without a journal. Called before a batch of replies
    /// is flushed: covering everything recorded (not only this connection's changes) also keeps
    /// a client from seeing another client's write that a crash could still take back.
    pub async fn wait(&self) {
        let Some((journal, rx)) = &self.inner else {
            return;
        };
        let target = journal.appended_seq();
        if journal.mode() != FsyncMode::Always {
            if journal.written_seq() >= target {
                return;
            }
            // Let the other connections of this thread's turn record their changes first, so
            // that one write takes them all (as Redis writes its AOF buffer once per event-loop
            // turn) instead of one write per connection's batch.
            tokio::task::yield_now().await;
            if journal.write_recorded().is_err() {
                // The records this reply acknowledges are not in the file, so it must never
                // leave. The failure is reported to `Events::fatal`, which ends the process;
                // returning here instead let a reply out before the exit.
                std::future::pending::<()>().await;
            }
            return;
        }
        if journal.durable_seq() >= target {
            return;
        }
        let mut rx = rx.clone();
        // An error means the journal is gone (shutdown); the process is ending either way.
        let _ = rx.wait_for(|durable| *durable >= target).await;
    }
}

/// The running persistence machinery.
pub struct Persistence {
    journal: Option<Arc<Journal>>,
    durability: Durability,
}

impl Persistence {
    /// The handle connections use to wait for durability.
    pub fn durability(&self) -> Durability {
        self.durability.clone()
    }

    /// A reader of the journal's size on disk, for metrics (`None` without a journal).
    pub fn journal_size(&self) -> Option<impl Fn() -> u64 + Send + Sync + 'static> {
        let journal = self.journal.clone()?;
        Some(move || journal.size_bytes())
    }

    /// Writes and fsyncs everything the journal holds and stops its threads.
    pub fn shutdown(&self) -> Result<(), PersistError> {
        if let Some(journal) = &self.journal {
            journal.shutdown().map_err(PersistError::Flush)?;
            info!("journal flushed and fsynced");
        }
        Ok(())
    }
}

/// Reports journal events to the log; a writer failure ends the process.
struct Events {
    durable: watch::Sender<u64>,
}

impl JournalEvents for Events {
    fn durable(&self, seq: u64) {
        self.durable.send_replace(seq);
    }

    fn fatal(&self, error: &JournalError) {
        // Acknowledged writes can no longer be made durable. Carrying on would break the
        // promise the journal exists for; stopping leaves a journal that recovers to the last
        // fsync, which is exactly what was acknowledged.
        error!(%error, "journal write failed; stopping the server");
        std::process::exit(70);
    }

    fn warn(&self, message: &str) {
        warn!("{message}");
    }

    fn info(&self, message: &str) {
        info!("{message}");
    }
}

/// Builds the store as the options say: recovered from the journal, with the journal attached,
/// and the startup dataset loaded. Any failure is a reason not to start.
pub fn open_store(
    opts: &PersistOptions,
    store_config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<Store>, Persistence), PersistError> {
    if opts.load_path.is_some() && opts.load_name.is_none() {
        return Err(PersistError::LoadPathWithoutName);
    }
    let mut store = Store::new(store_config);
    let mut journal = None;
    if opts.enabled {
        prepare_root(&opts.data_dir)?;
        let dir = opts.data_dir.join(JOURNAL_DIR);
        let started = Instant::now();
        let recovered = journal::recover(&dir, opts.repair).map_err(PersistError::Recover)?;
        let report = &recovered.report;
        if let Some((path, bytes)) = &report.torn_tail {
            warn!(file = %path.display(), bytes, "journal ended in a torn record (a crash during a write); cut it off");
        }
        for s in &report.skipped {
            let records = s.records.map_or("at least 1".to_owned(), |n| n.to_string());
            warn!(file = %s.path.display(), offset = s.offset, skipped_bytes = s.bytes, skipped_records = %records, quarantine = %s.quarantine.display(), "--repair: skipped damaged journal bytes (moved aside for inspection); the valid records after them are kept");
        }
        let next_index = report.next_index;
        let (records, segments) = (report.records, report.segments);
        let (sessions, keys) =
            store.load_sessions(recovered.sessions, clock.now_ms(), Arming::KeepDeadline);
        let kv = store.kv_load(recovered.kv);
        info!(
            sessions,
            session_keys = keys,
            top_level_keys = kv,
            records,
            segments,
            ms = started.elapsed().as_millis() as u64,
            "journal recovered"
        );
        let (tx, rx) = watch::channel(0u64);
        let j = Journal::open(
            &dir,
            next_index,
            JournalOptions {
                mode: opts.fsync,
                compact_bytes: opts.compact_bytes,
            },
            Arc::new(Events { durable: tx }),
        )
        .map_err(PersistError::Open)?;
        store.set_change_sink(Some(j.clone()));
        journal = Some((j, rx));
    }
    if let Some(name) = &opts.load_name {
        let root = opts.load_path.as_deref().unwrap_or(&opts.data_dir);
        load_at_startup(&store, root, name, clock.as_ref())?;
    }
    // Sessions whose deadline passed while the server was down expire now, before it listens.
    let expired = store.sweep_expired(clock.now_ms());
    if expired > 0 {
        info!(
            sessions = expired,
            "expired sessions whose deadline passed while the server was down"
        );
    }
    let store = Arc::new(store);
    let (journal, durability) = match journal {
        Some((j, rx)) => {
            j.start_compactor(Arc::downgrade(&store), clock);
            let durability = Durability {
                inner: Some((j.clone(), rx)),
            };
            (Some(j), durability)
        }
        None => (None, Durability::default()),
    };
    Ok((
        store,
        Persistence {
            journal,
            durability,
        },
    ))
}

/// Creates the root if missing, checks it is a writable directory, and clears unfinished saves.
fn prepare_root(root: &Path) -> Result<(), PersistError> {
    let fail = |message: String| {
        move |source| PersistError::Root {
            message,
            source: Some(source),
        }
    };
    let shown = root.display();
    std::fs::create_dir_all(root)
        .map_err(fail(format!("cannot create the persistence root {shown}")))?;
    if !root.is_dir() {
        return Err(PersistError::Root {
            message: format!("the persistence root {shown} is not a directory"),
            source: None,
        });
    }
    let not_writable = format!("the persistence root {shown} is not writable");
    let probe = root.join(core_persist::TMP_DIR);
    std::fs::create_dir_all(&probe).map_err(fail(not_writable.clone()))?;
    let test = probe.join(format!("write-test-{}", std::process::id()));
    std::fs::write(&test, b"")
        .and_then(|()| std::fs::remove_file(&test))
        .map_err(fail(not_writable))?;
    let removed = core_persist::write::clean_staging(root)
        .map_err(fail(format!("cannot clean {}", probe.display())))?;
    if removed > 0 {
        info!(entries = removed, "removed leftovers of interrupted saves");
    }
    Ok(())
}

/// `--load-name` (docs/PROTOCOL.md §15.2): any problem refuses the start, naming dataset and reason.
fn load_at_startup(
    store: &Store,
    root: &Path,
    name: &str,
    clock: &dyn Clock,
) -> Result<(), PersistError> {
    if !core_persist::is_valid_dataset_name(name) {
        return Err(PersistError::Load(format!(
            "cannot load dataset {name:?}: not an allowed dataset name \
             (1-128 of A-Z a-z 0-9 _ . -, starting with a letter or digit, no '..')"
        )));
    }
    info!(dataset = name, root = %root.display(), "loading dataset");
    let started = Instant::now();
    // Large datasets take seconds: say how far the parse is, file by file.
    let progress = |done: usize, total: usize| {
        if total > 1 {
            info!(
                dataset = name,
                files_parsed = done,
                files_total = total,
                "loading dataset"
            );
        }
    };
    match core_persist::save_load::load_with_progress(
        store,
        root,
        name,
        None,
        clock.now_ms(),
        &progress,
    ) {
        Ok(loaded) => {
            let kind = match loaded.kind {
                SaveKind::Keys => "top-level keys",
                SaveKind::Sessions => "sessions",
            };
            info!(
                dataset = name,
                kind,
                sessions = loaded.sessions,
                keys = loaded.keys,
                ms = started.elapsed().as_millis() as u64,
                "dataset loaded"
            );
            Ok(())
        }
        Err(e @ LoadError::Unavailable(_)) => Err(PersistError::Load(format!(
            "cannot load {e} (from {})",
            root.display()
        ))),
        Err(e @ LoadError::Malformed { .. }) => Err(PersistError::Load(format!(
            "cannot load dataset {name:?} from {}: {e}",
            root.display()
        ))),
    }
}
