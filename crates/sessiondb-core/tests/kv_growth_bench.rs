//! Pauses while the top-level key map grows (ignored by default; run in release mode):
//!
//! ```text
//! cargo test --release -p sessiondb-core --test kv_growth_bench -- --ignored --nocapture
//! ```
//!
//! Fills a store with 2,000,000 top-level keys, one `KV_SET` each (`kv:<i>` to a 20-character
//! string, as `kv_memory_bench` and `sessiondb-bench --workload kv-set` name them), timing every
//! call. The `KV_SET` that makes the key map grow rehashes keys while holding the map's lock, so
//! every KV command on every connection waits as long as that call takes: the slowest calls, and
//! the key count at which each happened, are what this prints, with the total time of the fill.
//! It asserts nothing about time (the machine is shared and noisy).

use std::borrow::Cow;
use std::time::Instant;

use sessiondb_core::{Command, Outcome, Store, StoreConfig, Value};

// Measure with the allocator the `sessiondb` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEYS: usize = 2_000_000;

/// How many of the slowest calls to print.
const WORST: usize = 5;

#[test]
#[ignore = "2M-key growth pauses; run in release with --ignored --nocapture"]
fn worst_kv_set_while_growing() {
    let store = Store::new(StoreConfig::default());
    let names: Vec<String> = (0..KEYS).map(|i| format!("kv:{i}")).collect();
    // Allocated and written before the fill (not zeroed, which could leave the pages to be
    // mapped on first write), so recording a time costs no allocation or page fault.
    let mut nanos = vec![u64::MAX; KEYS];
    let start = Instant::now();
    for (name, took) in names.iter().zip(nanos.iter_mut()) {
        // Fresh values per command, as the protocol layer parses them from each request.
        let value = Value::from_json_unchecked("\"abcdefghijklmnopqrst\"");
        let set = Command::KvSet(vec![(Cow::Borrowed(name.as_str()), value)]);
        let call = Instant::now();
        let outcome = store.execute(set, 0);
        *took = u64::try_from(call.elapsed().as_nanos()).unwrap_or(u64::MAX);
        assert_eq!(outcome, Outcome::Done);
    }
    let total = start.elapsed();
    assert_eq!(
        store.execute(Command::KvCount, 0),
        Outcome::Count(KEYS as u64)
    );

    // (time, keys held after the call), slowest first.
    let mut slowest: Vec<(u64, usize)> =
        nanos.iter().enumerate().map(|(i, &t)| (t, i + 1)).collect();
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    let ms = |t: u64| t as f64 / 1e6;
    let over = |limit_ns: u64| nanos.iter().filter(|&&t| t >= limit_ns).count();
    let worst: Vec<String> = slowest
        .iter()
        .take(WORST)
        .map(|&(t, keys)| format!("{:.2} ms @ {keys}", ms(t)))
        .collect();
    println!(
        "kv_growth_bench: {KEYS} KV_SETs in {:.0} ms ({:.0} ns/call); worst {:.2} ms at key {}; \
         {WORST} worst: [{}]; calls >= 1 ms: {}, >= 10 ms: {}",
        total.as_secs_f64() * 1e3,
        total.as_nanos() as f64 / KEYS as f64,
        ms(slowest[0].0),
        slowest[0].1,
        worst.join(", "),
        over(1_000_000),
        over(10_000_000),
    );
    drop(store);
}
