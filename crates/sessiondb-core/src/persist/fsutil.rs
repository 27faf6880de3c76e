//! Small file-system helpers shared by the dataset writer, the reader and the journal.

use std::cmp::Ordering;
use std::fs::File;
use std::io;
use std::path::Path;

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

/// Names of the entries of `dir` that are all digits and satisfy `keep`, in ascending numeric
/// order. Entries whose names are not UTF-8 are ignored like any other non-digit name.
pub fn digit_entries(
    dir: &Path,
    keep: impl Fn(&std::fs::FileType) -> bool,
) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_all_digits(&name) {
            continue;
        }
        // Follow symlinks, as a reader of the directory tree would.
        let file_type = match std::fs::metadata(entry.path()) {
            Ok(meta) => meta.file_type(),
            Err(_) => continue,
        };
        if keep(&file_type) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| cmp_digits(a, b));
    Ok(names)
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
