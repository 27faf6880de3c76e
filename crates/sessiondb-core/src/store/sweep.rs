//! The expiry sweep: reclaims due sessions a batch per shard lock hold.

use std::time::{Duration, Instant};

use super::{ShardInner, Store};
use crate::session::{Data, Session};

/// Most due sessions the sweep handles per shard lock hold: bounds how long a sweep of a million
/// simultaneous expiries can delay a client to one batch's work (well under a millisecond;
/// BENCHMARKS.md, "Expiry sweep").
pub const SWEEP_BATCH: usize = 256;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Sessions deleted or emptied.
    pub reclaimed: usize,
    /// Shard lock acquisitions.
    pub lock_holds: usize,
    /// The longest single shard lock hold (freeing the reclaimed keys happens after release).
    pub longest_hold: Duration,
}

impl Store {
    /// Reclaims sessions past their deadline with bounded work per shard lock hold; returns how
    /// many sessions were deleted or emptied.
    pub fn sweep_expired(&self, now_ms: u64) -> usize {
        self.sweep_expired_report(now_ms).reclaimed
    }

    /// [`Store::sweep_expired`], also reporting how long it held shard locks (for metrics and
    /// measurements; timing costs one clock read per lock hold).
    pub fn sweep_expired_report(&self, now_ms: u64) -> SweepReport {
        let mut report = SweepReport::default();
        let mut reclaimed = 0;
        for shard in self.shards.iter() {
            loop {
                // Declared before the guard so that it is dropped after the lock is released.
                let mut garbage: Vec<Data> = Vec::new();
                let full_batch;
                {
                    let mut guard = shard.inner.lock();
                    let held_since = Instant::now();
                    let ShardInner { table, index } = &mut *guard;
                    let mut popped = 0;
                    while popped < SWEEP_BATCH {
                        let Some((indexed, tkn)) = index.pop_due(now_ms) else {
                            break;
                        };
                        popped += 1;
                        let h = self.hash(tkn);
                        let Ok(mut entry) = table.find_entry(h, |e| e.tkn == tkn) else {
                            continue; // ended since: a stale entry
                        };
                        let s: &mut Session = entry.get_mut();
                        if s.indexed_ms != indexed {
                            continue; // a stale entry of an earlier session with this token
                        }
                        s.indexed_ms = u64::MAX;
                        let mut freed = None;
                        if let Some(entry) = self.apply_due(&shard.stats, entry, now_ms, &mut freed)
                        {
                            let s = entry.into_mut();
                            self.expire_keys_of(s, index, &shard.stats, now_ms);
                            // Extended since it was filed, emptied and re-armed, or a key's
                            // deadline came first: file it again.
                            index.file(s);
                        }
                        if let Some(data) = freed {
                            garbage.push(data);
                            reclaimed += 1;
                        }
                    }
                    full_batch = popped == SWEEP_BATCH;
                    if !full_batch {
                        if index.needs_compaction(table.len()) {
                            index.rebuild(table.iter_mut().map(|s| &mut **s));
                        }
                        index.shrink_if_sparse();
                    }
                    report.lock_holds += 1;
                    report.longest_hold = report.longest_hold.max(held_since.elapsed());
                }
                drop(garbage);
                if !full_batch {
                    break;
                }
            }
        }
        report.reclaimed = reclaimed;
        report
    }
}
