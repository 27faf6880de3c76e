//! Recovery from a damaged journal, with records as the log: damage with no valid record after
//! it anywhere is a torn tail and is cut; damage with valid records after it is refused, or with
//! `repair` skipped (bytes moved aside) while every valid record before and after it is kept.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sessiondb_core::change::Change;
use sessiondb_core::persist::journal::header::HEADER_LEN;
use sessiondb_core::persist::journal::record::{self, Seed};
use sessiondb_core::persist::journal::{
    files, recover, FsyncMode, Journal, JournalError, JournalEvents, JournalOptions, Recovered,
};
use sessiondb_core::{Command, Store, StoreConfig, Value};

struct Quiet;

impl JournalEvents for Quiet {
    fn durable(&self, _seq: u64) {}
    fn fatal(&self, error: &JournalError) {
        panic!("journal writer failed: {error}");
    }
    fn warn(&self, _message: &str) {}
    fn info(&self, _message: &str) {}
}

const NOW: u64 = 1_800_000_000_000;

/// One server run over `dir`: recovers (must be clean), journals `keys` as one `KV_SET` record
/// each, and shuts down. Every run starts a new segment, as the server does.
fn run(dir: &Path, keys: std::ops::Range<usize>) {
    let recovered = recover(dir, false).expect("recover");
    let journal = Journal::open(
        dir,
        recovered.report.next_index,
        JournalOptions {
            mode: FsyncMode::No,
            compact_bytes: u64::MAX,
        },
        Arc::new(Quiet),
    )
    .expect("open journal");
    let mut store = Store::new(StoreConfig::default());
    store.kv_load(recovered.kv);
    store.set_change_sink(Some(journal.clone()));
    for i in keys {
        store.execute(Command::KvSet(kv(&format!("k{i}"), &i.to_string())), NOW);
    }
    journal.shutdown().expect("shutdown");
}

fn kv(key: &str, json: &str) -> Vec<(Cow<'static, str>, Value)> {
    vec![(Cow::Owned(key.to_owned()), Value::from_json_unchecked(json))]
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let listing = files::list(dir).expect("list");
    listing
        .segments
        .iter()
        .map(|&i| files::segment_path(dir, i))
        .collect()
}

/// Byte ranges of the records of a segment (after its header), from their length fields.
fn record_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let end = at + 8 + len as usize;
        out.push(at..end);
        at = end;
    }
    out
}

/// The indices `i` of the keys `k<i>` recovered, sorted.
fn key_indices(recovered: &Recovered) -> Vec<usize> {
    let mut v: Vec<usize> = recovered
        .kv
        .iter()
        .map(|(k, _)| k[1..].parse().expect("k<i>"))
        .collect();
    v.sort_unstable();
    v
}

fn all_but(n: usize, missing: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !missing.contains(i)).collect()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(bytes).expect("append");
}

#[test]
fn a_torn_tail_before_an_empty_newer_segment_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..20);
    // A clean restart that wrote nothing leaves a header-only segment after the first.
    run(dir.path(), 0..0);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 2);
    assert_eq!(
        fs::metadata(&segs[1]).expect("meta").len(),
        HEADER_LEN as u64
    );
    let len = fs::metadata(&segs[0]).expect("meta").len();
    // Half a record at the end of the first segment: a header announcing 100 bytes, then 10.
    append(&segs[0], &[&100u32.to_le_bytes()[..], &[7u8; 14]].concat());
    let recovered = recover(dir.path(), false).expect("a torn tail is not fatal");
    assert_eq!(recovered.report.torn_tail, Some((segs[0].clone(), 18)));
    assert_eq!(fs::metadata(&segs[0]).expect("meta").len(), len);
    assert_eq!(key_indices(&recovered), all_but(20, &[]));
}

#[test]
fn damage_with_a_record_in_a_later_segment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..20);
    run(dir.path(), 20..21);
    let segs = segments(dir.path());
    let before = fs::read(&segs[0]).expect("read");
    let last = record_ranges(&before).pop().expect("a record");
    // Cut the first segment's last record short: what follows it in the log is valid.
    let cut_at = last.start + 5;
    let f = OpenOptions::new().write(true).open(&segs[0]).expect("open");
    f.set_len(cut_at as u64).expect("truncate");
    match recover(dir.path(), false) {
        Err(JournalError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (segs[0].clone(), last.start as u64));
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    let repaired = recover(dir.path(), true).expect("repair");
    assert_eq!(key_indices(&repaired), all_but(21, &[19]));
    assert_eq!(repaired.report.skipped.len(), 1);
    assert_eq!(repaired.report.skipped[0].bytes, 5);
}

/// Writes 1,000 one-record changes, damages the segment with `damage` (given the segment's
/// bytes and its record ranges), and checks refusal, then repair: `missing` are the keys lost,
/// the quarantine file holds exactly the bytes of `lost_bytes`, and a plain start afterwards
/// recovers the same.
fn repair_case(
    damage: impl FnOnce(&mut Vec<u8>, &[std::ops::Range<usize>]) -> std::ops::Range<usize>,
    missing: &[usize],
    records: Option<u64>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..1000);
    let seg = segments(dir.path()).pop().expect("segment");
    let original = fs::read(&seg).expect("read");
    let ranges = record_ranges(&original);
    assert_eq!(ranges.len(), 1000);
    let mut bytes = original.clone();
    let lost = damage(&mut bytes, &ranges);
    fs::write(&seg, &bytes).expect("write");

    match recover(dir.path(), false) {
        Err(JournalError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg.clone(), lost.start as u64));
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    assert_eq!(
        fs::read(&seg).expect("read"),
        bytes,
        "refusing changes nothing"
    );

    let repaired = recover(dir.path(), true).expect("repair");
    assert_eq!(key_indices(&repaired), all_but(1000, missing));
    assert_eq!(repaired.report.records, 1000 - missing.len() as u64);
    let [skipped] = &repaired.report.skipped[..] else {
        panic!("one damaged stretch: {:?}", repaired.report.skipped);
    };
    assert_eq!(skipped.path, seg);
    assert_eq!(skipped.offset, lost.start as u64);
    assert_eq!(skipped.bytes, lost.len() as u64);
    assert_eq!(skipped.records, records);
    assert_eq!(
        fs::read(&skipped.quarantine).expect("quarantine file"),
        bytes[lost.clone()],
        "the quarantine file holds exactly the damaged bytes"
    );
    assert_eq!(skipped.quarantine.parent(), seg.parent());
    // The journal now holds every byte but the damaged ones, and starts cleanly.
    let mut expected = original[..lost.start].to_vec();
    expected.extend_from_slice(&original[lost.end..]);
    assert_eq!(fs::read(&seg).expect("read"), expected);
    let clean = recover(dir.path(), false).expect("clean after repair");
    assert_eq!(key_indices(&clean), all_but(1000, missing));
    assert!(clean.report.skipped.is_empty() && clean.report.torn_tail.is_none());
}

#[test]
fn repair_keeps_all_but_the_record_with_a_flipped_byte() {
    repair_case(
        |bytes, ranges| {
            let r = ranges[500].clone();
            bytes[r.start + 12] ^= 0x01;
            r
        },
        &[500],
        Some(1),
    );
}

#[test]
fn repair_keeps_all_but_a_bad_first_record() {
    repair_case(
        |bytes, ranges| {
            let r = ranges[0].clone();
            bytes[r.end - 1] ^= 0xff;
            r
        },
        &[0],
        Some(1),
    );
}

#[test]
fn repair_resynchronises_after_a_damaged_length() {
    // A length that points into the middle of the next record: the scan finds record 501 at
    // its true start.
    repair_case(
        |bytes, ranges| {
            let r = ranges[500].clone();
            let wrong = (r.len() as u32 - 8) + 7;
            bytes[r.start..r.start + 4].copy_from_slice(&wrong.to_le_bytes());
            r
        },
        &[500],
        None,
    );
}

#[test]
fn repair_skips_every_damaged_stretch_and_keeps_what_lies_between() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..100);
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = fs::read(&seg).expect("read");
    let ranges = record_ranges(&bytes);
    for i in [10, 11, 60] {
        bytes[ranges[i].start + 10] ^= 0x40;
    }
    fs::write(&seg, &bytes).expect("write");
    let repaired = recover(dir.path(), true).expect("repair");
    assert_eq!(key_indices(&repaired), all_but(100, &[10, 11, 60]));
    let spans: Vec<(u64, u64, Option<u64>)> = repaired
        .report
        .skipped
        .iter()
        .map(|s| (s.offset, s.bytes, s.records))
        .collect();
    let span = |a: usize, b: usize| {
        let (s, e) = (ranges[a].start, ranges[b].end);
        (s as u64, (e - s) as u64, Some((b - a + 1) as u64))
    };
    assert_eq!(spans, vec![span(10, 11), span(60, 60)]);
}

#[test]
fn a_record_embedded_in_a_key_is_not_taken_for_a_real_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..10);
    // A client stores a key whose bytes are a whole record that would replace every top-level
    // key with one of its own, checksummed as an unseeded journal would check it (and made
    // valid UTF-8 by trying a few names, as an attacker would).
    let forged_key = (1000..)
        .find_map(|n| {
            let mut forged = Vec::new();
            let entries = kv(&format!("k{n}"), "0");
            record::encode(
                &Change::KvClearSet { entries: &entries },
                &mut forged,
                Seed::NONE,
            );
            String::from_utf8(forged).ok()
        })
        .expect("a forged record that is UTF-8");
    {
        let recovered = recover(dir.path(), false).expect("recover");
        let journal = Journal::open(
            dir.path(),
            recovered.report.next_index,
            JournalOptions {
                mode: FsyncMode::No,
                compact_bytes: u64::MAX,
            },
            Arc::new(Quiet),
        )
        .expect("open");
        let mut store = Store::new(StoreConfig::default());
        store.set_change_sink(Some(journal.clone()));
        store.execute(Command::KvSet(kv(&forged_key, "1")), NOW);
        store.execute(Command::KvSet(kv("k10", "10")), NOW);
        journal.shutdown().expect("shutdown");
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = fs::read(&seg).expect("read");
    let ranges = record_ranges(&bytes);
    // Damage the length of the record holding the forged key: a scan passes over the key.
    bytes[ranges[0].start..ranges[0].start + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&seg, &bytes).expect("write");
    let repaired = recover(dir.path(), true).expect("repair");
    assert_eq!(
        key_indices(&repaired),
        all_but(11, &[]),
        "the embedded record was applied"
    );
    assert_eq!(repaired.report.skipped[0].bytes, ranges[0].len() as u64);
}

#[test]
fn a_damaged_length_in_the_last_segment_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..10);
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = fs::read(&seg).expect("read");
    // Make the first record claim to run past the end of the file: valid records follow it.
    let past_the_end = (bytes.len() as u32).to_le_bytes();
    bytes[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&past_the_end);
    fs::write(&seg, &bytes).expect("write");
    match recover(dir.path(), false) {
        Err(JournalError::Corrupt { offset, .. }) if offset == HEADER_LEN as u64 => {}
        other => panic!("expected corruption at byte {HEADER_LEN}, got {other:?}"),
    }
}

#[test]
fn a_bad_header_is_refused_and_repair_moves_the_whole_file_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), 0..5);
    run(dir.path(), 5..10);
    let segs = segments(dir.path());
    let mut bytes = fs::read(&segs[0]).expect("read");
    bytes[0] = b'X';
    fs::write(&segs[0], &bytes).expect("write");
    assert!(matches!(
        recover(dir.path(), false),
        Err(JournalError::Corrupt { offset: 0, .. })
    ));
    let repaired = recover(dir.path(), true).expect("repair");
    assert_eq!(key_indices(&repaired), (5..10).collect::<Vec<_>>());
    assert_eq!(
        fs::read(&repaired.report.skipped[0].quarantine).expect("quarantine"),
        bytes
    );
    assert_eq!(fs::metadata(&segs[0]).expect("meta").len(), 0);
}

#[test]
fn version_1_files_are_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = b"SDBJSEG1".to_vec();
    record::encode(
        &Change::KvSet {
            entries: &kv("k0", "0"),
        },
        &mut seg,
        Seed::NONE,
    );
    fs::write(files::segment_path(dir.path(), 1), &seg).expect("write");
    let recovered = recover(dir.path(), false).expect("recover");
    assert_eq!(key_indices(&recovered), vec![0]);
    assert_eq!(recovered.report.next_index, 2);
}
