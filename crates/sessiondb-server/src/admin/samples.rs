//! The recent rate of operations: a ring of per-second samples of the reply counter, taken by a
//! task while the console serves, so the ops/s chart shows the last minutes at any moment.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::metrics::Metrics;

/// Seconds of history kept (the chart's width): five minutes.
pub const HISTORY_SECS: usize = 300;
/// Time between samples.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// Operations per second over the last [`HISTORY_SECS`] seconds, oldest first.
#[derive(Debug, Default)]
pub struct OpsRate {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    /// The reply counter at the last sample, once there was one.
    last_total: Option<u64>,
    per_sec: VecDeque<u64>,
}

impl OpsRate {
    /// Records the reply counter's value `total`, one [`SAMPLE_PERIOD`] after the previous.
    pub fn sample(&self, total: u64) {
        let mut ring = self.inner.lock();
        if let Some(last) = ring.last_total {
            if ring.per_sec.len() == HISTORY_SECS {
                ring.per_sec.pop_front();
            }
            ring.per_sec.push_back(total.saturating_sub(last));
        }
        ring.last_total = Some(total);
    }

    /// The samples, oldest first (fewer than [`HISTORY_SECS`] while the history fills).
    pub fn per_sec(&self) -> Vec<u64> {
        self.inner.lock().per_sec.iter().copied().collect()
    }
}

/// Samples `metrics`' reply counter into `rate` every [`SAMPLE_PERIOD`], forever (the caller
/// aborts the task).
pub async fn run_sampler(metrics: Arc<Metrics>, rate: Arc<OpsRate>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        rate.sample(metrics.replies_total());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_differences_of_the_last_minutes() {
        let rate = OpsRate::default();
        rate.sample(10);
        assert!(rate.per_sec().is_empty(), "one total is no rate yet");
        rate.sample(15);
        rate.sample(15);
        assert_eq!(rate.per_sec(), [5, 0]);
        for i in 0..HISTORY_SECS as u64 {
            rate.sample(15 + 2 * (i + 1));
        }
        let kept = rate.per_sec();
        assert_eq!(kept.len(), HISTORY_SECS);
        assert!(kept.iter().all(|&n| n == 2));
    }
}
