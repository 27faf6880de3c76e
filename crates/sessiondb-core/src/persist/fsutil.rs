//! Small file-system helpers shared by the dataset writer, the reader and the journal.

use std::cmp::Ordering;
use std::fs::{self, File, FileType, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A dataset path with a symbolic link in it, refused: a link inside the persistence root
/// would make a save write (or a load read) outside it.
#[derive(Debug, thiserror::Error)]
#[error("{} is a symbolic link; dataset paths never follow links", .0.display())]
pub struct SymlinkRefused(pub PathBuf);

/// The refusal of `path` as an I/O error (what the dataset code's errors carry), logged once
/// here, where the link was found.
fn refused(path: &Path) -> io::Error {
    tracing::warn!(
        path = %path.display(),
        "refused a symbolic link in a dataset path; datasets never follow links"
    );
    io::Error::other(SymlinkRefused(path.to_path_buf()))
}

/// Fails if `path` is a symbolic link (a path that does not exist passes).
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refused(path)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The type of `path` itself, not of what a link points to (`None` if it does not exist).
pub fn entry_type(path: &Path) -> io::Result<Option<FileType>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens an existing file for reading; a symbolic link as its last component is refused by
/// the kernel (`O_NOFOLLOW`), so a link swapped in after a check is refused too.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                refused(path)
            } else {
                e
            }
        })
}

/// Creates a new file for writing; it must not exist, so a symbolic link (even a dangling
/// one) at its name is never followed (`O_CREAT | O_EXCL`).
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nofollow())
        .open(path)
}

fn nofollow() -> i32 {
    // The flag's bits fit an `i32` (`open(2)` takes an int).
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// True if `s` is a non-empty string of ASCII digits (a timestamp or data file name).
pub fn is_all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two all-digit strings numerically, whatever their length (no overflow possible).
pub fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// An entry of a directory whose name is all digits (a timestamp directory or a data file).
#[derive(Debug)]
pub struct DigitEntry {
    /// The name.
    pub name: String,
    /// The entry's own type: a symbolic link is a link here, not what it points to.
    pub file_type: FileType,
}

/// The entries of `dir` whose names are all digits, in ascending numeric order. Entries whose
/// names are not UTF-8 are ignored like any other non-digit name.
pub fn digit_entries(dir: &Path) -> io::Result<Vec<DigitEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_all_digits(&name) {
            continue;
        }
        entries.push(DigitEntry {
            name,
            file_type: entry.file_type()?,
        });
    }
    entries.sort_by(|a, b| cmp_digits(&a.name, &b.name));
    Ok(entries)
}

/// The symbolic link refusal for `dir/entry`, if `entry` is one.
pub fn refuse_link_entry(dir: &Path, entry: &DigitEntry) -> io::Result<()> {
    if entry.file_type.is_symlink() {
        return Err(refused(&dir.join(&entry.name)));
    }
    Ok(())
}

/// Current wall-clock time in nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        assert!(is_all_digits("0123"));
        assert!(!is_all_digits(""));
        assert!(!is_all_digits("12a"));
        assert!(!is_all_digits("-1"));
    }

    #[test]
    fn numeric_order() {
        assert_eq!(cmp_digits("9", "10"), Ordering::Less);
        assert_eq!(cmp_digits("010", "10"), Ordering::Equal);
        assert_eq!(
            cmp_digits("123456789012345678901234567890123456789012", "99"),
            Ordering::Greater
        );
    }
}
