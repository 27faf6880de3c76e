//! Recovery: the newest snapshot, then every later segment, replayed into a [`Model`] of the
//! store, which is then handed to the engine in one bulk load.
//!
//! The log is the sequence of records across those files, not the files: a file boundary is
//! only where the writer rotated. Damage is judged by what follows it in the log:
//!
//! * **No valid record after it anywhere** (later in its file or in any later segment): a write
//!   the crash interrupted, a torn tail. It is cut off, with a warning, and the start goes on.
//!   A snapshot is never torn (it is adopted by a rename only once complete and fsynced), so
//!   damage in a snapshot is always the next case.
//! * **Valid records after it**: real damage. Refused, naming the file and offset, unless
//!   `repair`: then the damaged bytes are moved to a file beside the damaged one
//!   (`<file>.damaged-<offset>`), the file is rewritten without them, and replay resumes at the
//!   next valid record, so every valid record before and after the damage is kept.
//!
//! **Resynchronisation.** After damage at offset `o`, the next record is the first offset after
//! `o` at which a whole record decodes: a length within bounds and within the file, a checksum
//! that matches under the file's seed, a known kind, and a payload that parses to exactly its
//! length. Records carry no sequence number, so the checksum is what rules out a false
//! candidate inside the damaged bytes: a key may hold any bytes, even the encoding of a whole
//! record, but its checksum was computed without the file's random seed (see
//! [`super::record::Seed`]) and matches with odds of 2^-32, as for random bytes. Version 1 files
//! have no seed and only the structural checks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::header::{self, FileKind, Header};
use super::model::Model;
use super::record::{decode, Frame, Seed, FRAME_HEADER, MAX_RECORD};
use super::{files, JournalError};
use crate::persist::fsutil::fsync_dir;
use crate::store::SessionRecord;
use crate::value::Value;

/// Damaged bytes that `repair` skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file they were in.
    pub path: PathBuf,
    /// Offset of the first damaged byte in that file.
    pub offset: u64,
    /// How many bytes were skipped.
    pub bytes: u64,
    /// How many records the skipped bytes held, when their length fields still tile them
    /// exactly; `None` when the damage hit a length (then at least one).
    pub records: Option<u64>,
    /// Where the skipped bytes were moved, for inspection.
    pub quarantine: PathBuf,
}

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Index of the snapshot recovery started from, if any.
    pub snapshot: Option<u64>,
    /// Segments replayed.
    pub segments: usize,
    /// Records applied (snapshot records included).
    pub records: u64,
    /// A torn last record that was cut off: the file and how many bytes were dropped.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// With `repair`: every damaged stretch skipped, in log order.
    pub skipped: Vec<Skipped>,
    /// The index the next segment must use (above every file present).
    pub next_index: u64,
}

/// The state rebuilt from the journal, ready for [`crate::Store::load_sessions`] with
/// `Arming::KeepDeadline` and [`crate::Store::kv_load`].
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every session, with its deadline as journaled.
    pub sessions: Vec<SessionRecord>,
    /// Every top-level key.
    pub kv: Vec<(String, Value)>,
    /// What recovery found.
    pub report: RecoveryReport,
}

/// One file of the log, in log order.
struct LogFile {
    path: PathBuf,
    kind: FileKind,
}

/// Rebuilds the state held in journal directory `dir` (created if missing). A torn tail is cut
/// off; other damage is an error unless `repair`, which skips it (see the module comment).
pub fn recover(dir: &Path, repair: bool) -> Result<Recovered, JournalError> {
    fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
    let listing = files::list(dir)?;
    let mut model = Model::default();
    let mut report = RecoveryReport {
        next_index: listing.next_index(),
        ..RecoveryReport::default()
    };

    // Files an interrupted compaction or repair left behind are not part of the log.
    for tmp in &listing.temporaries {
        fs::remove_file(tmp).map_err(|e| JournalError::io(tmp, e))?;
    }
    let base = listing.snapshots.last().copied();
    let base_index = base.unwrap_or(0);
    let mut log = Vec::new();
    if let Some(idx) = base {
        log.push(LogFile {
            path: files::snapshot_path(dir, idx),
            kind: FileKind::Snapshot,
        });
    }
    for &idx in listing.segments.iter().filter(|&&i| i >= base_index) {
        log.push(LogFile {
            path: files::segment_path(dir, idx),
            kind: FileKind::Segment,
        });
    }
    report.snapshot = base;
    for (pos, file) in log.iter().enumerate() {
        replay_file(file, &log[pos + 1..], repair, &mut model, &mut report)?;
        if file.kind == FileKind::Segment {
            report.segments += 1;
        }
    }
    // Segments and snapshots older than the base were already compacted into it.
    for &idx in listing.segments.iter().filter(|&&i| i < base_index) {
        let path = files::segment_path(dir, idx);
        fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
    }
    for &idx in listing.snapshots.iter().filter(|&&i| Some(i) != base) {
        let path = files::snapshot_path(dir, idx);
        fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
    }
    fsync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    let (sessions, kv) = model.into_parts();
    Ok(Recovered {
        sessions,
        kv,
        report,
    })
}

/// Applies every valid record of `file`; `later` are the files after it in the log.
fn replay_file(
    file: &LogFile,
    later: &[LogFile],
    repair: bool,
    model: &mut Model,
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    let path = &file.path;
    let bytes = fs::read(path).map_err(|e| JournalError::io(path, e))?;
    // An empty file is a segment whose header was cut off by a crash (or a repaired bad header).
    if bytes.is_empty() {
        return Ok(());
    }
    let (seed, start) = match header::decode(file.kind, &bytes) {
        Header::Valid { seed, len } => (seed, len),
        // A crash right after creating a segment can leave its header incomplete.
        Header::Torn if file.kind == FileKind::Segment && !any_record_in(later)? => {
            cut(path, 0)?;
            report.torn_tail = Some((path.clone(), bytes.len() as u64));
            return Ok(());
        }
        Header::Torn | Header::Bad => {
            let why = "not a sessiondb journal file (bad header)";
            let damage = Damage::new(0, bytes.len(), why);
            return repair_file(path, &bytes, &[damage], None, repair, report);
        }
    };
    let mut damages: Vec<Damage> = Vec::new();
    let mut torn_at = None;
    let mut off = start;
    loop {
        let why = match decode(&bytes[off..], seed) {
            Frame::End => break,
            Frame::Record(op, n) => {
                model.apply(op);
                report.records += 1;
                off += n;
                continue;
            }
            Frame::Incomplete => "record cut short",
            Frame::Corrupt(why) => why,
        };
        if let Some(next) = resync(&bytes, off + 1, seed) {
            damages.push(Damage::new(off, next, why));
            off = next;
            continue;
        }
        // Nothing valid follows in this file: a torn tail unless a later file has a record.
        if file.kind == FileKind::Segment && !any_record_in(later)? {
            torn_at = Some(off);
        } else {
            damages.push(Damage::new(off, bytes.len(), why));
        }
        break;
    }
    if damages.is_empty() {
        if let Some(at) = torn_at {
            cut(path, at as u64)?;
            report.torn_tail = Some((path.clone(), (bytes.len() - at) as u64));
        }
        return Ok(());
    }
    repair_file(path, &bytes, &damages, torn_at, repair, report)
}

/// A damaged stretch of a file.
struct Damage {
    range: Range<usize>,
    why: &'static str,
}

impl Damage {
    fn new(start: usize, end: usize, why: &'static str) -> Self {
        Self {
            range: start..end,
            why,
        }
    }
}

/// The damage in `bytes` (the content of `path`, `damages` in file order, a torn tail from
/// `torn_at` if any): refused without `repair`; with it, each damaged stretch is moved to a
/// quarantine file and `path` is rewritten with every byte outside them.
fn repair_file(
    path: &Path,
    bytes: &[u8],
    damages: &[Damage],
    torn_at: Option<usize>,
    repair: bool,
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    let Some(first) = damages.first() else {
        return Ok(());
    };
    if !repair {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            offset: first.range.start as u64,
            reason: first.why,
        });
    }
    let end = torn_at.unwrap_or(bytes.len());
    let mut kept = Vec::with_capacity(end);
    let mut from = 0;
    for d in damages {
        kept.extend_from_slice(&bytes[from..d.range.start]);
        from = d.range.end;
        let quarantine = quarantine_path(path, d.range.start);
        write_synced(&quarantine, &bytes[d.range.clone()])?;
        report.skipped.push(Skipped {
            path: path.to_path_buf(),
            offset: d.range.start as u64,
            bytes: d.range.len() as u64,
            records: tiled_records(&bytes[d.range.clone()]),
            quarantine,
        });
    }
    kept.extend_from_slice(&bytes[from.min(end)..end]);
    if let Some(at) = torn_at {
        report.torn_tail = Some((path.to_path_buf(), (bytes.len() - at) as u64));
    }
    // Written beside the file and renamed over it: a crash leaves either the damaged file (the
    // next repair does the same again) or the repaired one, never a mix.
    let tmp = files::repair_tmp_path(path);
    write_synced(&tmp, &kept)?;
    fs::rename(&tmp, path).map_err(|e| JournalError::io(&tmp, e))?;
    if let Some(dir) = path.parent() {
        fsync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    }
    Ok(())
}

/// Where the damaged bytes of `path` starting at `offset` are kept: beside it, never a name the
/// journal reads.
fn quarantine_path(path: &Path, offset: usize) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{offset}"));
    path.with_file_name(name)
}

/// How many records `damaged` held when the length fields still chain from its start exactly
/// to its end (damage in a payload or checksum); `None` otherwise.
fn tiled_records(damaged: &[u8]) -> Option<u64> {
    let mut at = 0usize;
    let mut n = 0u64;
    while at < damaged.len() {
        let len = damaged.get(at..at + 4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        if len == 0 || len > MAX_RECORD {
            return None;
        }
        at += FRAME_HEADER + len as usize;
        n += 1;
    }
    (at == damaged.len()).then_some(n)
}

/// The first offset at or after `from` where a whole valid record starts (see the module
/// comment), if any.
fn resync(bytes: &[u8], from: usize, seed: Seed) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        let rest = &bytes[at..];
        // Cheap checks first: most offsets fail on the length or the kind byte, before the
        // checksum is computed over the whole candidate.
        let Some(head) = rest.get(..FRAME_HEADER + 1) else {
            return false;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        len != 0
            && len <= MAX_RECORD
            && FRAME_HEADER + len as usize <= rest.len()
            && super::record::op::is_known_kind(head[FRAME_HEADER])
            && matches!(decode(rest, seed), Frame::Record(..))
    })
}

/// True if any of `files` holds at least one valid record.
fn any_record_in(files: &[LogFile]) -> Result<bool, JournalError> {
    for file in files {
        let bytes = fs::read(&file.path).map_err(|e| JournalError::io(&file.path, e))?;
        if let Header::Valid { seed, len } = header::decode(file.kind, &bytes) {
            if resync(&bytes, len, seed).is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Creates (or replaces) `path` with `bytes`, fsynced.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let io = |e| JournalError::io(path, e);
    let mut f = File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Truncates `path` to `len` bytes and makes that durable.
fn cut(path: &Path, len: u64) -> Result<(), JournalError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| JournalError::io(path, e))?;
    f.set_len(len).map_err(|e| JournalError::io(path, e))?;
    f.sync_all().map_err(|e| JournalError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_fields_tile_a_damaged_stretch_or_say_they_do_not() {
        let rec = |len: u32| {
            let mut r = len.to_le_bytes().to_vec();
            r.resize(FRAME_HEADER + len as usize, 7);
            r
        };
        let two = [rec(3), rec(5)].concat();
        assert_eq!(tiled_records(&two), Some(2));
        assert_eq!(tiled_records(&two[..two.len() - 1]), None);
        assert_eq!(tiled_records(&[0, 0, 0, 0, 1]), None);
        assert_eq!(tiled_records(&[]), Some(0));
    }

    #[test]
    fn quarantine_files_sit_beside_the_damaged_file() {
        let p = Path::new("/j/seg-00000000000000000003.log");
        assert_eq!(
            quarantine_path(p, 4711),
            Path::new("/j/seg-00000000000000000003.log.damaged-4711")
        );
    }
}
