//! One server per data directory: an exclusive `flock` on `<data dir>/.journal/server.lock`,
//! taken before recovery and held for the life of the process. Two servers on one directory would
//! both append to the journal, and one's compaction could delete segments the other still writes.
//! The file lives with what it protects, in the journal's directory, whose other entries the
//! journal ignores, so the data directory holds nothing new beside the datasets.
//!
//! The kernel releases a `flock` when its holder exits, however it exits (kill -9 included), so
//! a stale lock file never blocks a restart; the file itself stays (deleting it on exit would
//! let a third server lock a new file while a second still holds the old one). The holder writes
//! its pid into the file, so a server refused the lock can name it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use sessiondb_core::persist::JOURNAL_DIR;

/// Name of the lock file in the journal's directory.
pub const LOCK_FILE: &str = "server.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "the data directory {} is in use by another sessiondb (pid {}); \
         one server per data directory",
        dir.display(),
        pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
    )]
    Held {
        /// The data directory (absolute).
        dir: PathBuf,
        /// The holder's pid, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    /// The directory or the lock file could not be created, opened, locked or written.
    #[error("cannot lock the data directory {}: {source}", dir.display())]
    Io {
        /// The data directory (absolute).
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// The lock, held while this value lives.
#[derive(Debug)]
pub struct DataDirLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Creates `dir` if missing and locks it for this process, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let io_err = |source| LockError::Io {
            dir: abs.clone(),
            source,
        };
        let journal = abs.join(JOURNAL_DIR);
        std::fs::create_dir_all(&journal).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // A link planted at the lock file's name must not make the pid overwrite its target.
            .custom_flags(nofollow())
            .open(journal.join(LOCK_FILE))
            .map_err(io_err)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(LockError::Held {
                    pid: holder_pid(&mut file),
                    dir: abs,
                })
            }
            Err(e) => return Err(io_err(e.into())),
        }
        // Ours now: replace whatever pid an earlier holder left.
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(Self {
            _file: file,
            dir: abs,
        })
    }

    /// The locked directory, absolute.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The pid the holder wrote, if it has written one yet.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn nofollow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder_until_it_is_released() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let first = DataDirLock::acquire(&dir).expect("first lock");
        assert_eq!(first.dir(), dir);
        // flock locks belong to the open file, so a second open in this process conflicts too.
        match DataDirLock::acquire(&dir) {
            Err(LockError::Held { dir: d, pid }) => {
                assert_eq!(d, dir);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(first);
        DataDirLock::acquire(&dir).expect("free again once the holder is gone");
    }
}
