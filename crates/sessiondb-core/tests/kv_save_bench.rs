//! How long a client waits on the top-level keys while another client lists or saves them
//! (ignored by default; run in release mode):
//!
//! ```text
//! cargo test --release -p sessiondb-core --test kv_save_bench -- --ignored --nocapture
//! ```
//!
//! Fills a store with 1,000,000 top-level keys, then runs a `KV_KEYS` and a `KV_SAVE` while
//! another thread reads one key in a loop (`KV_GET`, a client pausing 200 µs between requests),
//! and prints how long each took and the longest single `KV_GET` during each. `docs/PROTOCOL.md` §13.6:
//! no client waits for more than a few milliseconds because another client's save is running.
//! It asserts nothing about time (the machine is shared and noisy), only what was saved.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiondb_core::clock::SystemClock;
use sessiondb_core::persist::save_load;
use sessiondb_core::{Command, Outcome, Store, StoreConfig, Value};

// Measure with the allocator the `sessiondb` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEYS: usize = 1_000_000;

/// Runs `work` while another thread reads one key in a loop; returns what `work` returned, how
/// long it took, the longest single read and how many reads there were.
fn with_reader<T>(store: &Arc<Store>, work: impl FnOnce() -> T) -> (T, Duration, Duration, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (Arc::clone(store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut worst, mut n) = (Duration::ZERO, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let get = Command::KvGet(vec![Cow::Borrowed("kv:500000")]);
                let t = Instant::now();
                let outcome = store.execute(get, 0);
                worst = worst.max(t.elapsed());
                assert!(matches!(outcome, Outcome::Values(ref v) if v.len() == 1));
                n += 1;
                // A client, not a spinning core: leave the CPUs to the work being measured.
                std::thread::sleep(Duration::from_micros(200));
            }
            (worst, n)
        })
    };
    // The reader gets going before the work starts.
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    let out = work();
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (worst, n) = reader.join().expect("reader");
    (out, took, worst, n)
}

#[test]
#[ignore = "1M-key listing and save; run in release with --ignored --nocapture"]
fn waits_while_a_million_keys_are_listed_and_saved() {
    let store = Arc::new(Store::new(StoreConfig::default()));
    for i in 0..KEYS {
        let value = Value::from_json_unchecked("\"abcdefghijklmnopqrst\"");
        let set = Command::KvSet(vec![(Cow::Owned(format!("kv:{i}")), value)]);
        assert_eq!(store.execute(set, 0), Outcome::Done);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let (listed, took, worst, n) = with_reader(&store, || store.execute(Command::KvKeys, 0));
    let Outcome::KeyList(listed) = listed else {
        panic!("KV_KEYS: {listed:?}");
    };
    assert_eq!(listed.len(), KEYS);
    println!(
        "kv_save_bench: KV_KEYS of {KEYS} keys {:.0} ms; concurrent KV_GET: {n} calls, worst {:.2} ms",
        ms(took),
        ms(worst)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let (saved, took, worst, n) = with_reader(&store, || {
        save_load::save_kv(&store, dir.path(), "bench", &SystemClock).expect("save")
    });
    assert!(saved.join("md").join("md.json").is_file());
    println!(
        "kv_save_bench: KV_SAVE of {KEYS} keys {:.0} ms; concurrent KV_GET: {n} calls, worst {:.2} ms",
        ms(took),
        ms(worst)
    );
}
