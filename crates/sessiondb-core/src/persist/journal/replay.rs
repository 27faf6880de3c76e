//! Recovery: the newest snapshot, then every later segment, replayed into a plain model of the
//! store, which is then handed to the engine in one bulk load.
//!
//! Replay is idempotent by construction: records set absolute state (a key's value, a deadline,
//! a whole session), so replaying a segment over a snapshot that already contains some of its
//! records (compaction snapshots concurrently with new writes) ends in the same state.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use indexmap::IndexMap;

use super::record::{decode, Frame, Op};
use super::{files, JournalError, SEGMENT_MAGIC, SNAPSHOT_MAGIC};
use crate::command::{Expiry, Token};
use crate::store::SessionRecord;
use crate::value::Value;

/// Keys up to which a session's keys are a vector searched linearly: a hash map per session was
/// a third of the replay time of a journal of a million small sessions.
const SMALL_KEYS: usize = 8;

/// A session's keys during replay, with the store's semantics: set overwrites in place, a new
/// key goes last, removal moves the last key into the hole (as `session::Data` does).
#[derive(Debug)]
enum ModelKeys {
    Small(Vec<(String, Value)>),
    Map(IndexMap<String, Value>),
}

impl ModelKeys {
    fn extend(&mut self, entries: Vec<(String, Value)>) {
        for (k, v) in entries {
            match self {
                ModelKeys::Small(keys) => {
                    if let Some(i) = keys.iter().position(|(old, _)| *old == k) {
                        keys[i].1 = v;
                    } else if keys.len() < SMALL_KEYS {
                        keys.push((k, v));
                    } else {
                        let mut map: IndexMap<String, Value> = keys.drain(..).collect();
                        map.insert(k, v);
                        *self = ModelKeys::Map(map);
                    }
                }
                ModelKeys::Map(map) => {
                    map.insert(k, v);
                }
            }
        }
    }

    fn swap_remove(&mut self, key: &str) {
        match self {
            ModelKeys::Small(keys) => {
                if let Some(i) = keys.iter().position(|(k, _)| k == key) {
                    keys.swap_remove(i);
                }
            }
            ModelKeys::Map(map) => {
                map.swap_remove(key);
            }
        }
    }

    fn clear(&mut self) {
        *self = ModelKeys::Small(Vec::new());
    }

    fn into_vec(self) -> Vec<(String, Value)> {
        match self {
            ModelKeys::Small(keys) => keys,
            ModelKeys::Map(map) => map.into_iter().collect(),
        }
    }
}

/// One session as replay rebuilds it.
#[derive(Debug)]
struct ModelSession {
    shared: bool,
    name: Option<String>,
    expiry: Expiry,
    deadline_ms: u64,
    keys: ModelKeys,
}

/// The store as replay rebuilds it.
#[derive(Debug, Default)]
struct Model {
    sessions: HashMap<Token, ModelSession>,
    kv: IndexMap<String, Value>,
}

impl Model {
    fn apply(&mut self, op: Op) {
        match op {
            Op::Created {
                tkn,
                shared,
                name,
                expiry,
                deadline_ms,
            } => {
                self.sessions.insert(
                    tkn,
                    ModelSession {
                        shared,
                        name,
                        expiry,
                        deadline_ms,
                        keys: ModelKeys::Small(Vec::new()),
                    },
                );
            }
            Op::Ended { tkn } | Op::Expired { tkn } => {
                self.sessions.remove(&tkn);
            }
            Op::EndAll { tkns } => {
                for tkn in tkns {
                    self.sessions.remove(&tkn);
                }
            }
            Op::Emptied { tkn, deadline_ms } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.keys.clear();
                    s.deadline_ms = deadline_ms;
                }
            }
            Op::Rearmed { tkn, deadline_ms } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.deadline_ms = deadline_ms;
                }
            }
            // Changes to a session replay does not hold are followed by its end in the same
            // log (see the module comment), so skipping them is exact.
            Op::ShSet { tkn, entries } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.keys.extend(entries);
                }
            }
            Op::ShRemoved { tkn, keys } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    for k in keys {
                        s.keys.swap_remove(&k);
                    }
                }
            }
            Op::ShCleared { tkn } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.keys.clear();
                }
            }
            Op::ShClearSet { tkn, entries } => {
                if let Some(s) = self.sessions.get_mut(&tkn) {
                    s.keys.clear();
                    s.keys.extend(entries);
                }
            }
            Op::KvSet { entries } => self.kv.extend(entries),
            Op::KvRemoved { keys } => {
                for k in keys {
                    self.kv.swap_remove(&k);
                }
            }
            Op::KvCleared => self.kv.clear(),
            Op::KvClearSet { entries } => {
                self.kv.clear();
                self.kv.extend(entries);
            }
        }
    }
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
    /// With `repair`: where the corruption was and how many bytes were dropped from there on.
    pub repaired: Option<(PathBuf, u64, u64)>,
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

/// Rebuilds the state held in journal directory `dir` (created if missing). A torn last record
/// is cut off; damage anywhere else is an error unless `repair`, which cuts the log there.
pub fn recover(dir: &Path, repair: bool) -> Result<Recovered, JournalError> {
    fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
    let listing = files::list(dir)?;
    let mut model = Model::default();
    let mut report = RecoveryReport {
        next_index: listing.next_index(),
        ..RecoveryReport::default()
    };

    // Files an interrupted compaction left behind are not part of the log.
    for tmp in &listing.temporaries {
        fs::remove_file(tmp).map_err(|e| JournalError::io(tmp, e))?;
    }
    let base = listing.snapshots.last().copied();
    if let Some(idx) = base {
        let path = files::snapshot_path(dir, idx);
        let outcome = replay_file(
            &path,
            SNAPSHOT_MAGIC,
            false,
            repair,
            &mut model,
            &mut report,
        )?;
        report.snapshot = Some(idx);
        if outcome == Replayed::Cut {
            // Nothing after a cut snapshot can be trusted to follow it.
            drop_segments(dir, &listing.segments, 0, &mut report)?;
            return Ok(finish(model, report));
        }
    }
    let base_index = base.unwrap_or(0);
    let live: Vec<u64> = listing
        .segments
        .iter()
        .copied()
        .filter(|&i| i >= base_index)
        .collect();
    for (pos, &idx) in live.iter().enumerate() {
        let is_last = pos + 1 == live.len();
        let path = files::segment_path(dir, idx);
        let outcome = replay_file(
            &path,
            SEGMENT_MAGIC,
            is_last,
            repair,
            &mut model,
            &mut report,
        )?;
        report.segments += 1;
        if outcome == Replayed::Cut {
            drop_segments(dir, &live, idx + 1, &mut report)?;
            break;
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
    crate::persist::fsutil::fsync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    Ok(finish(model, report))
}

/// Removes the segments in `segments` with index ≥ `from` (after a repair cut), counting them.
fn drop_segments(
    dir: &Path,
    segments: &[u64],
    from: u64,
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    for &idx in segments.iter().filter(|&&i| i >= from) {
        let path = files::segment_path(dir, idx);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
        if let Some((_, _, dropped)) = report.repaired.as_mut() {
            *dropped += len;
        }
    }
    Ok(())
}

fn finish(model: Model, report: RecoveryReport) -> Recovered {
    let sessions = model
        .sessions
        .into_iter()
        .map(|(tkn, s)| SessionRecord {
            tkn,
            shared: s.shared,
            name: s.name,
            expiry: s.expiry,
            deadline_ms: s.deadline_ms,
            keys: s.keys.into_vec(),
        })
        .collect();
    Recovered {
        sessions,
        kv: model.kv.into_iter().collect(),
        report,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Replayed {
    /// The whole file was applied (possibly after cutting a torn tail).
    Complete,
    /// `repair` cut the file at a corruption: later files must be dropped.
    Cut,
}

/// Applies every record of one file. `is_last`: this file is the end of the log, where a torn
/// record is expected after a crash.
fn replay_file(
    path: &Path,
    magic: &[u8; 8],
    is_last: bool,
    repair: bool,
    model: &mut Model,
    report: &mut RecoveryReport,
) -> Result<Replayed, JournalError> {
    let bytes = fs::read(path).map_err(|e| JournalError::io(path, e))?;
    // An empty file is a segment whose header was cut off by a crash (or by a repair).
    if bytes.is_empty() {
        return Ok(Replayed::Complete);
    }
    // A crash right after creating a segment can leave its header incomplete.
    if bytes.len() < magic.len() && is_last && magic[..bytes.len()] == bytes[..] {
        cut(path, 0)?;
        report.torn_tail = Some((path.to_path_buf(), bytes.len() as u64));
        return Ok(Replayed::Complete);
    }
    if bytes.get(..magic.len()) != Some(&magic[..]) {
        return damaged(
            path,
            0,
            "not a sessiondb journal file (bad header)",
            bytes.len(),
            repair,
            report,
        );
    }
    let mut off = magic.len();
    loop {
        match decode(&bytes[off..]) {
            Frame::End => return Ok(Replayed::Complete),
            Frame::Record(op, n) => {
                model.apply(op);
                report.records += 1;
                off += n;
            }
            Frame::Incomplete | Frame::Corrupt(_) if is_last && is_torn(&bytes[off..]) => {
                let dropped = (bytes.len() - off) as u64;
                cut(path, off as u64)?;
                report.torn_tail = Some((path.to_path_buf(), dropped));
                return Ok(Replayed::Complete);
            }
            Frame::Incomplete => {
                return damaged(
                    path,
                    off,
                    "record cut short before the end of the log",
                    bytes.len(),
                    repair,
                    report,
                )
            }
            Frame::Corrupt(why) => return damaged(path, off, why, bytes.len(), repair, report),
        }
    }
}

/// A damaged record at the very end of the log is a write the crash interrupted when no valid
/// record follows it. A damaged length field can make a record in the middle look like it runs
/// past the end, so "runs past the end" alone is not enough: scan the rest for any record that
/// decodes with a matching checksum (a false match has odds of about 2^-32 per position).
fn is_torn(rest: &[u8]) -> bool {
    if rest.iter().all(|&b| b == 0) {
        return true;
    }
    !(1..rest.len()).any(|o| matches!(decode(&rest[o..]), Frame::Record(..)))
}

/// Corruption before the end of the log: refuse, or with `repair` cut the file there.
fn damaged(
    path: &Path,
    off: usize,
    why: &'static str,
    file_len: usize,
    repair: bool,
    report: &mut RecoveryReport,
) -> Result<Replayed, JournalError> {
    if !repair {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
            reason: why,
        });
    }
    let dropped = (file_len - off) as u64;
    // Cutting at 0 leaves an empty file, which replay accepts as an empty segment.
    cut(path, off as u64)?;
    report.repaired = Some((path.to_path_buf(), off as u64, dropped));
    Ok(Replayed::Cut)
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

    fn entries(names: &[&str], value: &str) -> Vec<(String, Value)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), Value::from_json_unchecked(value)))
            .collect()
    }

    /// The keys as `(name, value)` text pairs, in order.
    fn listed(keys: ModelKeys) -> Vec<(String, String)> {
        keys.into_vec()
            .into_iter()
            .map(|(k, v)| (k, v.as_json().to_owned()))
            .collect()
    }

    #[test]
    fn small_keys_keep_the_store_order_across_the_switch_to_a_map() {
        for n in [3usize, 8, 12] {
            let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut keys = ModelKeys::Small(Vec::new());
            keys.extend(entries(&names, "1"));
            // Overwrite in place, then remove the first: the last key takes its place.
            keys.extend(entries(&["k1"], "2"));
            keys.swap_remove("k0");
            keys.swap_remove("absent");
            let mut expected: Vec<(String, String)> = names
                .iter()
                .map(|n| ((*n).to_owned(), "1".to_owned()))
                .collect();
            expected[1].1 = "2".to_owned();
            expected.swap_remove(0);
            assert_eq!(listed(keys), expected, "{n} keys");
        }
        let mut keys = ModelKeys::Small(Vec::new());
        keys.extend(entries(&["a", "b", "a"], "3"));
        keys.clear();
        keys.extend(entries(&["c"], "4"));
        assert_eq!(listed(keys), vec![("c".to_owned(), "4".to_owned())]);
    }
}
