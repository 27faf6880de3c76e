//! A million sessions expiring at once: how long does the sweep keep a client waiting?
//!
//! A measurement, not a timed assertion (ignored by default; run it in release):
//! `cargo test -p sessiondb-core --release --test sweep_stall -- --ignored --nocapture`
//! It prints the sweep's total time and the longest a concurrent client command waited. Per lock
//! hold the sweep handles at most `SWEEP_BATCH` sessions by construction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sessiondb_core::store::SWEEP_BATCH;
use sessiondb_core::{Command, Expiry, Outcome, Store, StoreConfig, Token};

const SESSIONS: usize = 1_000_000;

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn million_sessions_expiring_together() {
    let store = Arc::new(Store::new(StoreConfig::default()));
    let t0 = 1_700_000_000_000u64;
    let expiry = Some(Expiry {
        duration_secs: 1,
        delete_session: true,
        ..Expiry::default()
    });
    let start = Instant::now();
    for _ in 0..SESSIONS {
        let out = store.execute(
            Command::ShNew {
                expiry,
                name: None,
                shared: false,
            },
            t0,
        );
        assert!(matches!(out, Outcome::Created { .. }));
    }
    println!("created {SESSIONS} sessions in {:?}", start.elapsed());
    // Probes that never expire, spread over the shards.
    let probes: Vec<Token> = (0..64)
        .map(|_| {
            match store.execute(
                Command::ShNew {
                    expiry: None,
                    name: None,
                    shared: false,
                },
                t0,
            ) {
                Outcome::Created { tkn } => tkn,
                other => panic!("{other:?}"),
            }
        })
        .collect();

    let due = t0 + 1_000;
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        thread::spawn(move || {
            let (mut worst, mut n) = (Duration::ZERO, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for &t in &probes {
                    let begin = Instant::now();
                    let out = store.execute(Command::ShCount { tkn: Some(t) }, due);
                    worst = worst.max(begin.elapsed());
                    assert_eq!(out, Outcome::Count(0));
                    n += 1;
                }
            }
            (worst, n)
        })
    };
    let begin = Instant::now();
    let report = store.sweep_expired_report(due);
    let sweep_time = begin.elapsed();
    let reclaimed = report.reclaimed;
    stop.store(true, Ordering::Relaxed);
    let (worst, probes_run) = client.join().expect("client thread");
    assert_eq!(reclaimed, SESSIONS);
    assert_eq!(store.session_count_estimate(), 64);
    println!(
        "sweep reclaimed {reclaimed} sessions in {sweep_time:?}: {} lock holds of at most \
         {SWEEP_BATCH} sessions, {:?} per batch on average (freeing included), the longest hold {:?}; a concurrent client ran {probes_run} SH_COUNTs, \
         the slowest took {worst:?} (includes OS scheduling on a shared machine)",
        report.lock_holds,
        sweep_time / report.lock_holds.max(1) as u32,
        report.longest_hold
    );
}
