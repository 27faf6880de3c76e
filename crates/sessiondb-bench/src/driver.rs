//! What each connection asks next: the setup, timed and teardown phases as flows of operations.
//!
//! A connection runs `pipeline` independent *flows*, each with at most one request in flight;
//! a flow's next request may depend on its last reply (a lifecycle needs the token `SH_NEW`
//! returned). With one flow per connection that is plain request/response.

use crate::codec::Verdict;
use crate::op::{Op, Rng};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The workloads the generator can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// New session with expiry → set 2 keys → get 2 keys → end, repeated.
    Lifecycle,
    /// Get both keys of a random pre-created session.
    Get,
    /// Overwrite both keys of a random pre-created session.
    Set,
    /// 90% get, 10% set.
    Mixed,
    /// Get a random pre-set top-level key.
    KvGet,
    /// Overwrite a random pre-set top-level key.
    KvSet,
}

impl Workload {
    /// Whether the workload works on pre-created sessions (otherwise top-level keys, or none).
    pub fn uses_sessions(self) -> bool {
        matches!(self, Self::Get | Self::Set | Self::Mixed)
    }

    /// Whether the workload needs anything created before the timed phase.
    pub fn needs_setup(self) -> bool {
        self != Self::Lifecycle
    }
}

/// Handles of the pre-created sessions (tokens for sessiondb, ids for Redis), filled in setup.
pub type Table = Arc<Vec<AtomicU64>>;

/// Which phase a driver runs.
#[derive(Clone)]
pub enum Phase {
    /// Create `table.len()` sessions (or top-level keys) with their two keys; indices are
    /// claimed from the shared counter so connections split the work.
    Setup(Arc<AtomicUsize>),
    /// The measured workload.
    Timed,
    /// Remove what setup created.
    Teardown(Arc<AtomicUsize>),
}

/// Where one flow is.
#[derive(Debug, Clone, Copy, Default)]
struct Flow {
    /// Next lifecycle step (0..4), or setup step (0..2).
    step: u8,
    /// The session this flow works on.
    sess: u64,
    /// The table index being set up.
    index: usize,
}

/// Produces the operations of one connection and absorbs their verdicts.
pub struct Driver {
    phase: Phase,
    workload: Workload,
    table: Table,
    /// Whether handles come from the server (sessiondb) or are chosen here (Redis, echo).
    server_tokens: bool,
    flows: Vec<Flow>,
    rng: Rng,
    /// Source of fresh client-chosen session ids for the lifecycle.
    next_id: u64,
}

/// Client-chosen lifecycle ids live far above the setup ids `0..sessions`.
const LIFE_ID_BASE: u64 = 1 << 62;

impl Driver {
    /// A driver for connection number `conn` running `flows` flows.
    pub fn new(
        phase: Phase,
        workload: Workload,
        table: Table,
        server_tokens: bool,
        flows: usize,
        conn: u64,
    ) -> Self {
        let mut rng = Rng::from_entropy(conn);
        // A random run nonce keeps ids of an aborted earlier run from colliding with this one.
        let nonce = rng.below(1 << 16);
        Self {
            phase,
            workload,
            table,
            server_tokens,
            flows: vec![Flow::default(); flows],
            rng,
            next_id: LIFE_ID_BASE | (nonce << 44) | (conn << 28),
        }
    }

    /// The next operation of flow `f`, or `None` when the flow has no more work.
    pub fn next(&mut self, f: usize) -> Option<Op> {
        let sessions = self.workload.uses_sessions();
        match &self.phase {
            Phase::Setup(counter) => {
                let flow = self.flows[f];
                if flow.step == 1 {
                    return Some(Op::Life {
                        step: 1,
                        sess: flow.sess,
                    });
                }
                let index = counter.fetch_add(1, Ordering::Relaxed);
                if index >= self.table.len() {
                    return None;
                }
                self.flows[f] = Flow {
                    step: 0,
                    sess: index as u64,
                    index,
                };
                Some(if sessions {
                    Op::Life {
                        step: 0,
                        sess: index as u64,
                    }
                } else {
                    Op::KvSet(index as u64)
                })
            }
            Phase::Teardown(counter) => {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                let handle = self.table.get(index)?.load(Ordering::Relaxed);
                Some(if sessions {
                    Op::Life {
                        step: 3,
                        sess: handle,
                    }
                } else {
                    Op::KvDel(index as u64)
                })
            }
            Phase::Timed => Some(self.timed_op(f)),
        }
    }

    fn timed_op(&mut self, f: usize) -> Op {
        let n = self.table.len() as u64;
        let pick = |rng: &mut Rng| rng.below(n);
        match self.workload {
            Workload::Lifecycle => {
                let flow = &mut self.flows[f];
                if flow.step == 0 {
                    self.next_id += 1;
                    flow.sess = self.next_id;
                }
                Op::Life {
                    step: flow.step,
                    sess: flow.sess,
                }
            }
            Workload::Get | Workload::Set | Workload::Mixed => {
                let i = pick(&mut self.rng) as usize;
                let handle = self.table.get(i).map_or(0, |h| h.load(Ordering::Relaxed));
                let set = match self.workload {
                    Workload::Set => true,
                    Workload::Mixed => self.rng.below(10) == 0,
                    _ => false,
                };
                if set {
                    Op::Set(handle)
                } else {
                    Op::Get(handle)
                }
            }
            Workload::KvGet => Op::KvGet(pick(&mut self.rng)),
            Workload::KvSet => Op::KvSet(pick(&mut self.rng)),
        }
    }

    /// After the timed phase: the request that ends flow `f`'s half-finished session, if it
    /// has one, so a lifecycle run leaves nothing behind to skew the next run.
    pub fn cleanup(&mut self, f: usize) -> Option<Op> {
        let flow = &self.flows[f];
        let mid_life = matches!(self.phase, Phase::Timed)
            && self.workload == Workload::Lifecycle
            && (1..=3).contains(&flow.step);
        mid_life.then_some(Op::Life {
            step: 3,
            sess: flow.sess,
        })
    }

    /// Records the verdict on flow `f`'s operation `op`, advancing the flow.
    pub fn done(&mut self, f: usize, op: &Op, verdict: &Verdict) {
        let flow = &mut self.flows[f];
        match (&self.phase, op, verdict) {
            (Phase::Setup(_), Op::Life { step: 0, .. }, Ok(handle)) => {
                let handle = if self.server_tokens {
                    handle.unwrap_or_default()
                } else {
                    flow.sess
                };
                if let Some(slot) = self.table.get(flow.index) {
                    slot.store(handle, Ordering::Relaxed);
                }
                flow.sess = handle;
                flow.step = 1;
            }
            (Phase::Setup(_), _, _) => flow.step = 0,
            (Phase::Timed, Op::Life { step, .. }, Ok(handle)) => {
                if *step == 0 && self.server_tokens {
                    flow.sess = handle.unwrap_or_default();
                }
                flow.step = (step + 1) % 4;
            }
            // A failed step (already counted as an error) starts a fresh session.
            (Phase::Timed, Op::Life { .. }, Err(_)) => flow.step = 0,
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(n: usize) -> Table {
        Arc::new((0..n).map(|_| AtomicU64::new(0)).collect())
    }

    #[test]
    fn setup_creates_each_session_once_and_records_tokens() {
        let t = table(3);
        let counter = Arc::new(AtomicUsize::new(0));
        let mut d = Driver::new(Phase::Setup(counter), Workload::Get, t.clone(), true, 1, 0);
        let mut token = 100;
        while let Some(op) = d.next(0) {
            let verdict = match op {
                Op::Life { step: 0, .. } => {
                    token += 1;
                    Ok(Some(token))
                }
                Op::Life { step: 1, sess } => {
                    assert_eq!(sess, token);
                    Ok(None)
                }
                other => panic!("unexpected {other:?}"),
            };
            d.done(0, &op, &verdict);
        }
        let tokens: Vec<u64> = t.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        assert_eq!(tokens, vec![101, 102, 103]);
    }

    #[test]
    fn lifecycle_walks_four_steps_with_the_server_token() {
        let mut d = Driver::new(Phase::Timed, Workload::Lifecycle, table(0), true, 2, 0);
        let mut steps = Vec::new();
        for _ in 0..5 {
            let op = d.next(1).unwrap();
            let Op::Life { step, sess } = op else {
                panic!("{op:?}")
            };
            if step > 0 {
                assert_eq!(sess, 42);
            }
            steps.push(step);
            d.done(1, &op, &Ok((step == 0).then_some(42)));
        }
        assert_eq!(steps, vec![0, 1, 2, 3, 0]);
    }

    #[test]
    fn cleanup_ends_only_sessions_that_were_created() {
        let mut d = Driver::new(Phase::Timed, Workload::Lifecycle, table(0), true, 1, 0);
        assert_eq!(d.cleanup(0), None);
        let new = d.next(0).unwrap();
        d.done(0, &new, &Ok(Some(42)));
        let end = Op::Life { step: 3, sess: 42 };
        assert_eq!(d.cleanup(0), Some(end));
        d.done(0, &end, &Ok(None));
        assert_eq!(d.cleanup(0), None);
        let mut get = Driver::new(Phase::Timed, Workload::Get, table(1), true, 1, 0);
        assert_eq!(get.cleanup(0), None);
    }

    #[test]
    fn client_chosen_lifecycle_ids_are_fresh_per_session() {
        let mut d = Driver::new(Phase::Timed, Workload::Lifecycle, table(0), false, 1, 3);
        let mut ids = Vec::new();
        for _ in 0..8 {
            let op = d.next(0).unwrap();
            if let Op::Life { step: 0, sess } = op {
                assert!(sess >= LIFE_ID_BASE);
                ids.push(sess);
            }
            d.done(0, &op, &Ok(None));
        }
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn mixed_is_mostly_gets() {
        let t = table(10);
        let mut d = Driver::new(Phase::Timed, Workload::Mixed, t, true, 1, 0);
        let sets = (0..10_000)
            .filter(|_| matches!(d.next(0), Some(Op::Set(_))))
            .count();
        assert!((700..1300).contains(&sets), "{sets} sets");
    }

    #[test]
    fn teardown_visits_each_entry_then_stops() {
        let t = table(2);
        t[1].store(9, Ordering::Relaxed);
        let mut d = Driver::new(
            Phase::Teardown(Arc::new(AtomicUsize::new(0))),
            Workload::Get,
            t,
            true,
            1,
            0,
        );
        assert_eq!(d.next(0), Some(Op::Life { step: 3, sess: 0 }));
        assert_eq!(d.next(0), Some(Op::Life { step: 3, sess: 9 }));
        assert_eq!(d.next(0), None);
    }
}
