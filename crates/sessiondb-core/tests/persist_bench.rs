//! Persistence figures for BENCHMARKS.md (ignored by default; run in release mode):
//!
//! ```text
//! cargo test --release -p sessiondb-core --test persist_bench -- --ignored --nocapture
//! ```
//!
//! Save and load of 1,000,000 sessions × 5 keys, the longest a concurrent `SH_GET` waited
//! during the save (and the longest shard lock hold of the capture), and journal recovery of
//! the same store. Wall and CPU time: the machine is shared.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiondb_core::clock::{Clock, SystemClock};
use sessiondb_core::persist::journal::{
    self, FsyncMode, Journal, JournalError, JournalEvents, JournalOptions,
};
use sessiondb_core::persist::write::{Encoder, SessionHead};
use sessiondb_core::persist::{save_load, SaveKind};
use sessiondb_core::store::{Arming, SessionRecord};
use sessiondb_core::{Command, Expiry, Store, StoreConfig, Value};

// Measure with the allocator the `sessiondb` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SESSIONS: u64 = 1_000_000;

struct Quiet;
impl JournalEvents for Quiet {
    fn durable(&self, _: u64) {}
    fn fatal(&self, e: &JournalError) {
        panic!("journal failed: {e}");
    }
    fn warn(&self, _: &str) {}
    fn info(&self, _: &str) {}
}

fn records() -> Vec<SessionRecord> {
    (1..=SESSIONS)
        .map(|t| SessionRecord {
            tkn: t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            shared: false,
            name: None,
            expiry: Expiry::default(),
            deadline_ms: u64::MAX,
            key_deadlines: Vec::new(),
            keys: (0..5)
                .map(|k| {
                    (
                        format!("key{k}"),
                        Value::from_json_unchecked(&format!("\"value-{k}-{t}\"")),
                    )
                })
                .collect(),
            owner: None,
            ver: 1,
            ver_shown: false,
        })
        .collect()
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux; 0 if
/// unreadable). The machine is shared, so wall time alone says little.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // Clock ticks are 100 per second on Linux x86-64 (USER_HZ).
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (t, c) = (Instant::now(), cpu_time());
    let out = f();
    (out, t.elapsed(), cpu_time().saturating_sub(c))
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored --nocapture"]
fn save_load_and_recover_a_million_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = SystemClock;
    let store = Arc::new(Store::new(StoreConfig::default()));
    let recs = records();
    let probe = recs[SESSIONS as usize / 2].tkn;
    store.load_sessions(recs, clock.now_ms(), Arming::KeepDeadline);

    // A client reading one session in a loop while the save runs: its longest wait.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store.execute(
                    Command::ShGet {
                        tkn: Some(probe),
                        keys: vec![Cow::Borrowed("key1")],
                    },
                    SystemClock.now_ms(),
                );
                worst = worst.max(t.elapsed());
                n += 1;
                // A client, not a spinning core: leave the CPUs to the save being measured.
                std::thread::sleep(Duration::from_micros(200));
            }
            (worst, n)
        })
    };
    let (saved, save_time, save_cpu) = timed(|| {
        save_load::save_sessions(&store, dir.path(), "bench", None, &clock).expect("save")
    });
    stop.store(true, Ordering::Relaxed);
    let (worst_get, gets) = reader.join().expect("reader");
    let bytes = dir_bytes(&saved);
    let files = std::fs::read_dir(saved.join("data"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    println!(
        "SH_SAVE 1M x 5 keys: {:.3} s (CPU {:.2} s), {} bytes in {} files, {:.0} MB/s; concurrent SH_GET: {} calls, worst {:.2} ms",
        save_time.as_secs_f64(),
        save_cpu.as_secs_f64(),
        bytes,
        files,
        mb_s(bytes, save_time),
        gets,
        worst_get.as_secs_f64() * 1000.0
    );

    // Where the time goes: capture (encoding under the lock) alone, with its longest lock hold.
    let ((captured, holds), cap_time, cap_cpu) = timed(|| {
        let mut encoder = Encoder::new(SaveKind::Sessions);
        let mut buf = Vec::with_capacity(8 << 20);
        let (mut n, mut holds) = (0usize, Vec::new());
        for shard in 0..store.shard_count() {
            let tokens = store.shard_tokens(shard, None);
            for chunk in tokens.chunks(save_load::SAVE_CHUNK) {
                let t = Instant::now();
                n += store.visit_sessions(shard, chunk, clock.now_ms(), |tkn, s| {
                    let head = SessionHead {
                        tkn,
                        shared: s.shared,
                        name: s.name(),
                        expiry: s.expiry(),
                        key_deadlines: s.data.key_deadlines(),
                        owner: None,
                        ver: None,
                    };
                    encoder.session(&mut buf, &head, s.data.iter());
                });
                holds.push(t.elapsed());
                if buf.len() >= 4 << 20 {
                    buf.clear();
                }
            }
        }
        holds.sort();
        (n, holds)
    });
    // Percentiles of the lock holds: the longest ones on a loaded machine are preemptions of
    // the capture thread while it holds a lock, not encoding work.
    let pct = |p: f64| {
        let i = ((holds.len() as f64 - 1.0) * p) as usize;
        holds.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "  capture only (encode every session, {} per lock hold): {:.3} s (CPU {:.2} s) for {captured}; {} lock holds: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        save_load::SAVE_CHUNK,
        cap_time.as_secs_f64(),
        cap_cpu.as_secs_f64(),
        holds.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    let (parsed, parse_time, parse_cpu) =
        timed(|| sessiondb_core::persist::read_dataset(dir.path(), "bench", None).expect("read"));
    println!(
        "  read + parse only: {:.3} s (CPU {:.2} s)",
        parse_time.as_secs_f64(),
        parse_cpu.as_secs_f64()
    );
    drop(parsed);

    let fresh = Store::new(StoreConfig::default());
    let (loaded, load_time, load_cpu) = timed(|| {
        save_load::load(
            &fresh,
            dir.path(),
            "bench",
            Some(SaveKind::Sessions),
            clock.now_ms(),
        )
        .expect("load")
    });
    assert_eq!((loaded.sessions, loaded.keys), (SESSIONS, SESSIONS * 5));
    println!(
        "SH_LOAD 1M x 5 keys: {:.3} s (CPU {:.2} s), {:.0} MB/s",
        load_time.as_secs_f64(),
        load_cpu.as_secs_f64(),
        mb_s(bytes, load_time)
    );
    drop(fresh);

    // Journal: the same million sessions written as a log, then recovered.
    let jdir = dir.path().join(".journal");
    let recovered = journal::recover(&jdir, false).expect("empty recover");
    let journal = Journal::open(
        &jdir,
        recovered.report.next_index,
        JournalOptions {
            mode: FsyncMode::EverySec,
            compact_bytes: u64::MAX,
        },
        Arc::new(Quiet),
    )
    .expect("journal");
    let mut logged = Store::new(StoreConfig::default());
    logged.set_change_sink(Some(journal.clone()));
    let t = Instant::now();
    logged.load_sessions(records(), clock.now_ms(), Arming::KeepDeadline);
    journal.shutdown().expect("shutdown");
    let log_time = t.elapsed();
    let jbytes = dir_bytes(&jdir);
    drop(logged);
    let (t, c) = (Instant::now(), cpu_time());
    let recovered = journal::recover(&jdir, false).expect("recover");
    let (replay_time, replay_cpu) = (t.elapsed(), cpu_time().saturating_sub(c));
    let target = Store::new(StoreConfig::default());
    let (n, _) = target.load_sessions(recovered.sessions, clock.now_ms(), Arming::KeepDeadline);
    let (recover_time, recover_cpu) = (t.elapsed(), cpu_time().saturating_sub(c));
    assert_eq!(n, SESSIONS);
    println!(
        "journal of 1M x 5 keys: {} bytes ({} records), journaled in {:.3} s; recovery {:.3} s (CPU {:.2} s) = replay {:.3} s (CPU {:.2} s) + store load",
        jbytes,
        recovered.report.records,
        log_time.as_secs_f64(),
        recover_time.as_secs_f64(),
        recover_cpu.as_secs_f64(),
        replay_time.as_secs_f64(),
        replay_cpu.as_secs_f64()
    );
}
