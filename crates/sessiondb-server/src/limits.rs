//! Connection-level limits: how many connections may be open, and brute-force protection
//! against clients that probe for session tokens or shared-session names.
//!
//! Store limits (sessions, keys per session, memory) live in the engine, which answers 170
//! (`LimitReached`) with nothing changed; this module only covers what the transport decides.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Caps the number of open WebSocket connections. Cloning shares the same count.
#[derive(Clone, Debug)]
pub struct ConnectionLimiter {
    open: Arc<AtomicUsize>,
    /// `None`: no limit.
    max: Option<usize>,
}

impl ConnectionLimiter {
    /// A limiter admitting at most `max` connections at once (`None` for no limit).
    pub fn new(max: Option<usize>) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Admits one more connection, or `None` when the limit is reached. The connection counts
    /// as open until the returned permit is dropped.
    pub fn try_acquire(&self) -> Option<ConnectionPermit> {
        let admitted =
            self.open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| match self.max {
                    Some(max) if open >= max => None,
                    _ => Some(open + 1),
                });
        admitted.ok().map(|_| ConnectionPermit {
            open: Arc::clone(&self.open),
        })
    }

    /// Connections currently holding a permit.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Proof that a connection was admitted; releases its slot when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    open: Arc<AtomicUsize>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Thresholds of the brute-force protection. A *miss* is a request naming a token that is no
/// live session (`st` 100), a shared name that opens nothing (102), or each token of an
/// `SH_EXISTS` list that does not exist — all ways of guessing tokens or names.
///
/// Each miss adds one to the connection's score, which decays at `decay_per_sec`, so a client
/// that misses occasionally (a returning user whose session expired) is never affected. Above
/// `slow_above` every request is delayed by 1 ms per point over the threshold, at most
/// `max_delay`; above `close_above` the connection is closed with 1008 (Policy Violation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePolicy {
    /// Score points removed per second.
    pub decay_per_sec: u32,
    /// Score above which requests are delayed.
    pub slow_above: u32,
    /// Longest delay applied to one request.
    pub max_delay: Duration,
    /// Score above which the connection is closed.
    pub close_above: u32,
}

impl Default for ProbePolicy {
    /// 1 point/s decay, slowed above 1,000 misses (≤ 250 ms per request, so at most 4 probes/s,
    /// faster than the decay: a persistent prober still climbs), closed above 10,000.
    fn default() -> Self {
        Self {
            decay_per_sec: 1,
            slow_above: 1_000,
            max_delay: Duration::from_millis(250),
            close_above: 10_000,
        }
    }
}

/// What the transport must do after a request, according to [`ProbeGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Carry on.
    Proceed,
    /// Wait this long before reading the next request.
    Delay(Duration),
    /// Close the connection with 1008.
    Close,
}

/// One connection's brute-force score under a [`ProbePolicy`].
#[derive(Debug, Clone)]
pub struct ProbeGuard {
    policy: ProbePolicy,
    score: u64,
    last: Instant,
}

impl ProbeGuard {
    /// A fresh guard with a zero score, starting its decay clock at `now`.
    pub fn new(policy: ProbePolicy, now: Instant) -> Self {
        Self {
            policy,
            score: 0,
            last: now,
        }
    }

    /// Records `misses` misses observed at `now` and says what to do next. Call after every
    /// request (with 0 misses too, so that the delay keeps applying while the score is high).
    pub fn record(&mut self, misses: u64, now: Instant) -> ProbeVerdict {
        // The common case, costing no clock arithmetic: nothing to decay and nothing to add.
        // Leaving `last` behind is harmless: decay runs before misses are added, and a score of
        // 0 cannot go lower.
        if misses == 0 && self.score == 0 {
            return ProbeVerdict::Proceed;
        }
        self.decay(now);
        self.score = self.score.saturating_add(misses);
        if self.score > u64::from(self.policy.close_above) {
            return ProbeVerdict::Close;
        }
        let over = self.score.saturating_sub(u64::from(self.policy.slow_above));
        if over == 0 {
            return ProbeVerdict::Proceed;
        }
        ProbeVerdict::Delay(Duration::from_millis(over).min(self.policy.max_delay))
    }

    /// The current score (for logs and tests).
    pub fn score(&self) -> u64 {
        self.score
    }

    /// Removes whole decay points for the time elapsed since the last decay; the remainder of
    /// a second carries over so that frequent calls do not lose decay to rounding.
    fn decay(&mut self, now: Instant) {
        let rate = u64::from(self.policy.decay_per_sec);
        if rate == 0 {
            self.last = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.last);
        let points = u64::try_from(elapsed.as_millis().saturating_mul(u128::from(rate)) / 1000)
            .unwrap_or(u64::MAX);
        if points == 0 {
            return;
        }
        self.score = self.score.saturating_sub(points);
        // Advance the clock by exactly the time those points account for.
        let used = Duration::from_millis(points.saturating_mul(1000) / rate);
        self.last = self.last.checked_add(used).unwrap_or(now).min(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_admits_up_to_max_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(Some(2));
        let a = limiter.try_acquire();
        let b = limiter.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(limiter.try_acquire().is_none());
        assert_eq!(limiter.open(), 2);
        drop(a);
        assert_eq!(limiter.open(), 1);
        let c = limiter.try_acquire();
        assert!(c.is_some());
        assert!(limiter.try_acquire().is_none());
    }

    #[test]
    fn limiter_without_max_counts_only() {
        let limiter = ConnectionLimiter::new(None);
        let permits: Vec<_> = (0..100).filter_map(|_| limiter.try_acquire()).collect();
        assert_eq!(permits.len(), 100);
        assert_eq!(limiter.clone().open(), 100);
        drop(permits);
        assert_eq!(limiter.open(), 0);
    }

    #[test]
    fn limit_zero_refuses_everything() {
        assert!(ConnectionLimiter::new(Some(0)).try_acquire().is_none());
    }

    fn small_policy() -> ProbePolicy {
        ProbePolicy {
            decay_per_sec: 2,
            slow_above: 10,
            max_delay: Duration::from_millis(5),
            close_above: 20,
        }
    }

    #[test]
    fn guard_proceeds_then_slows_then_closes() {
        let t0 = Instant::now();
        let mut guard = ProbeGuard::new(small_policy(), t0);
        assert_eq!(guard.record(10, t0), ProbeVerdict::Proceed);
        assert_eq!(guard.record(0, t0), ProbeVerdict::Proceed);
        assert_eq!(
            guard.record(1, t0),
            ProbeVerdict::Delay(Duration::from_millis(1))
        );
        assert_eq!(
            guard.record(3, t0),
            ProbeVerdict::Delay(Duration::from_millis(4))
        );
        // Capped at max_delay.
        assert_eq!(
            guard.record(5, t0),
            ProbeVerdict::Delay(Duration::from_millis(5))
        );
        // While high, even a request without misses is delayed.
        assert_eq!(
            guard.record(0, t0),
            ProbeVerdict::Delay(Duration::from_millis(5))
        );
        assert_eq!(guard.score(), 19);
        assert_eq!(
            guard.record(1, t0),
            ProbeVerdict::Delay(Duration::from_millis(5))
        );
        assert_eq!(guard.record(1, t0), ProbeVerdict::Close);
    }

    #[test]
    fn misses_after_a_long_quiet_spell_count_in_full() {
        // At score 0, record(0) skips the decay bookkeeping; the decay owed for the quiet
        // spell must not then eat misses that arrive later.
        let t0 = Instant::now();
        let mut guard = ProbeGuard::new(small_policy(), t0);
        assert_eq!(guard.record(0, t0), ProbeVerdict::Proceed);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(guard.record(0, later), ProbeVerdict::Proceed);
        assert_eq!(
            guard.record(11, later),
            ProbeVerdict::Delay(Duration::from_millis(1))
        );
        assert_eq!(guard.score(), 11);
        // And decay resumes from then: one second later, 2 points are gone.
        assert_eq!(
            guard.record(0, later + Duration::from_secs(1)),
            ProbeVerdict::Proceed
        );
        assert_eq!(guard.score(), 9);
    }

    #[test]
    fn one_bulk_probe_closes_at_once() {
        let t0 = Instant::now();
        let mut guard = ProbeGuard::new(ProbePolicy::default(), t0);
        assert_eq!(guard.record(10_001, t0), ProbeVerdict::Close);
        let mut guard = ProbeGuard::new(ProbePolicy::default(), t0);
        assert_eq!(
            guard.record(10_000, t0),
            ProbeVerdict::Delay(Duration::from_millis(250))
        );
    }

    #[test]
    fn score_decays_over_time_without_losing_fractions() {
        let t0 = Instant::now();
        let mut guard = ProbeGuard::new(small_policy(), t0);
        assert_eq!(
            guard.record(15, t0),
            ProbeVerdict::Delay(Duration::from_millis(5))
        );
        // 2 points per second: 250 ms steps are half a point each; four of them remove two.
        for i in 1..=4 {
            guard.record(0, t0 + Duration::from_millis(250 * i));
        }
        assert_eq!(guard.score(), 13);
        assert_eq!(
            guard.record(0, t0 + Duration::from_secs(2)),
            ProbeVerdict::Delay(Duration::from_millis(1))
        );
        assert_eq!(guard.score(), 11);
        assert_eq!(
            guard.record(0, t0 + Duration::from_secs(100)),
            ProbeVerdict::Proceed
        );
        assert_eq!(guard.score(), 0);
    }

    #[test]
    fn occasional_misses_never_slow() {
        let t0 = Instant::now();
        let mut guard = ProbeGuard::new(ProbePolicy::default(), t0);
        // One miss a second for three hours.
        for s in 0..10_800 {
            assert_eq!(
                guard.record(1, t0 + Duration::from_secs(s)),
                ProbeVerdict::Proceed
            );
        }
        assert!(guard.score() <= 1);
    }
}
