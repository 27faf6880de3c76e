//! Memory per top-level key (ignored by default; run in release mode):
//!
//! ```text
//! cargo test --release -p sessiondb-core --test kv_memory_bench -- --ignored --nocapture
//! ```
//!
//! Fills a store with 1,000,000 top-level keys, one `KV_SET` each (`kv:<i>` to a 20-character
//! string, as `sessiondb-bench --workload kv-set` names them), and prints the growth of the
//! process's resident set per key, 200 ms after the fill. It also times the fill and one `KV_GET`
//! per key in a shuffled order (a rough check of lookup cost once the keys no longer fit in the
//! caches; the machine is shared), then one `snapshot_kv` and one `KV_KEYS` of all keys.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use sessiondb_core::{Command, Outcome, Store, StoreConfig, Value};

mod support;
use support::rss_bytes;

// Measure with the allocator the `sessiondb` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEYS: usize = 1_000_000;

#[test]
#[ignore = "1M-key memory figure; run in release with --ignored --nocapture"]
fn memory_per_top_level_key() {
    let store = Store::new(StoreConfig::default());
    let names: Vec<String> = (0..KEYS).map(|i| format!("kv:{i}")).collect();
    // A fixed shuffle (an LCG over the indices), so gets jump around the table like a client's.
    let mut order: Vec<usize> = (0..KEYS).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..KEYS).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    let before = rss_bytes();
    let start = Instant::now();
    for name in &names {
        // Fresh values per command, as the protocol layer parses them from each request.
        let value = Value::from_json_unchecked("\"abcdefghijklmnopqrst\"");
        let set = Command::KvSet(vec![(Cow::Borrowed(name.as_str()), value)]);
        assert_eq!(store.execute(set, 0), Outcome::Done);
    }
    let fill = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let grown = rss_bytes().saturating_sub(before);
    let start = Instant::now();
    let mut found = 0usize;
    let mut sink = |_: usize, json: &str| found += json.len();
    for &i in &order {
        let get = Command::KvGet(vec![Cow::Borrowed(names[i].as_str())]);
        store.execute_into(get, 0, &mut sink);
    }
    let gets = start.elapsed();
    assert_eq!(found, 22 * KEYS);
    // What a save (or journal compaction) and a KV_KEYS of the whole store cost, lock hold and
    // ordering included.
    let start = Instant::now();
    assert_eq!(store.snapshot_kv().len(), KEYS);
    let snapshot = start.elapsed();
    let start = Instant::now();
    let Outcome::KeyList(listed) = store.execute(Command::KvKeys, 0) else {
        panic!("KV_KEYS");
    };
    assert_eq!(listed.len(), KEYS);
    let keys = start.elapsed();
    println!(
        "kv_memory_bench: {} B/key (RSS +{:.1} MiB), fill {:.0} ns/key, KV_GET {:.0} ns/key, \
         snapshot_kv {:.0} ms, KV_KEYS {:.0} ms",
        grown / KEYS as u64,
        grown as f64 / (1 << 20) as f64,
        fill.as_nanos() as f64 / KEYS as f64,
        gets.as_nanos() as f64 / KEYS as f64,
        snapshot.as_secs_f64() * 1e3,
        keys.as_secs_f64() * 1e3
    );
    drop(store);
}
