//! Persistence: NemesisDB-compatible datasets (`PROTOCOL.md` §13) and the crash-safe journal.
//!
//! Everything here is synchronous file I/O; the server runs it off its async runtime.

pub mod fsutil;
pub mod journal;
pub mod name;
pub mod ops;
mod pull;
pub mod read;
pub mod write;

pub use name::is_valid_dataset_name;
pub use read::{read_dataset, read_dataset_with_progress, Dataset, LoadError, LoadedSession};
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
