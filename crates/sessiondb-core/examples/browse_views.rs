//! How long the admin console's views take over a large store, the figure behind "a store of a
//! million sessions stays responsive":
//! `cargo run --release -p sessiondb-core --example browse_views [sessions]`.
//!
//! Creates the sessions through `Store::execute` (named `user:<i>`, one key, expiries spread over
//! two hours), then times each view a few times and prints the best run and the share of one
//! shard (a view holds one shard's lock at a time, so that share is how long it can delay a
//! command). Wall-clock figures: take them on a quiet machine.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use sessiondb_core::store::{SessionFilter, SessionQuery, TimelineQuery, ViewLimits};
use sessiondb_core::{Command, Expiry, Outcome, Store, StoreConfig, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: u64 = 1_700_000_000_000;
const RUNS: usize = 5;

fn best(mut view: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            view();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let store = Store::new(StoreConfig::default());
    let mut last = 0;
    for i in 0..n {
        let expiry = Expiry {
            duration_secs: 60 + i % 7200,
            delete_session: true,
            ..Expiry::default()
        };
        let name = format!("user:{i}");
        let Outcome::Created { tkn } = store.execute(
            Command::ShNew {
                expiry: Some(expiry),
                name: Some(Cow::Owned(name)),
                shared: false,
            },
            NOW,
        ) else {
            panic!("SH_NEW failed");
        };
        let keys = vec![(Cow::Borrowed("cart"), Value::from_json_unchecked("[1,2,3]"))];
        store.execute(
            Command::ShSet {
                tkn: Some(tkn),
                keys,
            },
            NOW,
        );
        last = tkn;
    }
    let store = &store;
    let shards = store.shard_count() as u32;
    let page = |prefix: &'static str| {
        move || {
            let q = SessionQuery {
                filter: SessionFilter::NamePrefix(prefix),
                after: None,
                limit: 50,
            };
            std::hint::black_box(store.list_sessions(&q, NOW));
        }
    };
    let report = |what: &str, took: Duration| {
        println!(
            "{what:<38} {:>9.2} ms   per shard {:>7.1} µs",
            took.as_secs_f64() * 1e3,
            (took / shards).as_secs_f64() * 1e6
        );
    };
    println!("{n} sessions, {shards} shards, best of {RUNS}");
    report("list: first page of all (\"\")", best(page("")));
    report("list: prefix \"user:12\"", best(page("user:12")));
    report("list: prefix matching none", best(page("nobody")));
    report(
        "expiry timeline (10 next, 60 bars)",
        best(|| {
            std::hint::black_box(store.expiry_timeline(
                &TimelineQuery {
                    next: 10,
                    bucket_ms: 60_000,
                    buckets: 60,
                },
                NOW,
            ));
        }),
    );
    report(
        "counts (SV_INFO's scan, for comparison)",
        best(|| {
            std::hint::black_box(store.execute(Command::Stats, NOW));
        }),
    );
    let view = best(|| {
        std::hint::black_box(store.view_session(
            last,
            &ViewLimits {
                max_keys: 200,
                max_value_bytes: 2048,
            },
            NOW,
        ));
    });
    println!(
        "{:<38} {:>9.2} µs",
        "one session's view",
        view.as_secs_f64() * 1e6
    );
}
