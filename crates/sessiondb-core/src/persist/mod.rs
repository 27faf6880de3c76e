//! Persistence: NemesisDB-compatible datasets (`docs/PROTOCOL.md` §13) and the crash-safe journal.
//!
//! Everything here is synchronous file I/O; the server runs it off its async runtime.
//!
//! * [`save_load`]: `KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD` and `--load-name` against the
//!   live store;
//! * [`write`]: writing one dataset (staging, fsync, publishing rename); [`read`]: finding the
//!   newest save of a dataset and reading every data file; `data_file`: parsing one data file
//!   into [`dataset`]'s types; [`name`]: which dataset names are allowed;
//! * [`journal`]: the append-only log that makes acknowledged writes survive a crash.

mod data_file;
pub mod dataset;
pub mod fsutil;
pub mod journal;
pub mod name;
pub mod read;
pub mod save_load;
pub mod write;

pub use dataset::{Dataset, LoadedSession};
pub use name::is_valid_dataset_name;
pub use read::{read_dataset, read_dataset_with_progress, LoadError};
pub use write::{DatasetWriter, SaveError, SessionView};

/// Directory under the persistence root that holds unfinished saves (never a dataset name).
pub const TMP_DIR: &str = ".sessiondb-tmp";

/// Directory under the persistence root that holds the journal (never a dataset name).
pub const JOURNAL_DIR: &str = ".journal";

/// What a dataset holds: its `saveDataType` in `md/md.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SaveKind {
    /// Top-level keys (`KV_SAVE`), `saveDataType` 0.
    Keys = 0,
    /// Sessions (`SH_SAVE`), `saveDataType` 1.
    Sessions = 1,
}
