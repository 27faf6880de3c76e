//! Names of the journal's files: `seg-<index>.log` segments, `snap-<index>.log` snapshots (the
//! state of every segment below `<index>`), `snap-<index>.tmp` while a snapshot is written,
//! `<file>.repair` while a repair rewrites a file, and `<file>.damaged-<offset>`, the bytes a
//! repair skipped (kept for inspection, never read).

use std::fs;
use std::path::{Path, PathBuf};

use super::JournalError;

/// Path of segment `idx`.
pub fn segment_path(dir: &Path, idx: u64) -> PathBuf {
    dir.join(format!("seg-{idx:020}.log"))
}

/// Path of snapshot `idx`.
pub fn snapshot_path(dir: &Path, idx: u64) -> PathBuf {
    dir.join(format!("snap-{idx:020}.log"))
}

/// Path of snapshot `idx` while it is being written.
pub fn snapshot_tmp_path(dir: &Path, idx: u64) -> PathBuf {
    dir.join(format!("snap-{idx:020}.tmp"))
}

/// Path of the rewritten `path` while a repair writes it.
pub fn repair_tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".repair");
    path.with_file_name(name)
}

/// The journal files present in a directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// Segment indices, ascending.
    pub segments: Vec<u64>,
    /// Snapshot indices, ascending.
    pub snapshots: Vec<u64>,
    /// Unfinished snapshots and repairs.
    pub temporaries: Vec<PathBuf>,
}

impl Listing {
    /// An index above every file present, for the next segment.
    pub fn next_index(&self) -> u64 {
        let top = self.segments.iter().chain(&self.snapshots).max().copied();
        top.map_or(1, |t| t.saturating_add(1))
    }
}

fn index_of(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lists the journal files of `dir`; other entries are ignored.
pub fn list(dir: &Path) -> Result<Listing, JournalError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(i) = index_of(&name, "seg-", ".log") {
            listing.segments.push(i);
        } else if let Some(i) = index_of(&name, "snap-", ".log") {
            listing.snapshots.push(i);
        } else if index_of(&name, "snap-", ".tmp").is_some()
            || name.strip_suffix(".repair").is_some_and(|file| {
                index_of(file, "seg-", ".log").is_some()
                    || index_of(file, "snap-", ".log").is_some()
            })
        {
            listing.temporaries.push(entry.path());
        }
    }
    listing.segments.sort_unstable();
    listing.snapshots.sort_unstable();
    Ok(listing)
}
