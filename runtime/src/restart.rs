//! Restart strategies: what a job does when it fails while running (a panic or an `Err` in
//! user code, a failing sink), Flink's `restart-strategy` settings.
//!
//! A job whose settings name a strategy other than [`RestartStrategy::None`] is restarted in
//! the same process after the strategy's delay, from its latest complete checkpoint (or from
//! the beginning if it takes none), until it succeeds or the strategy gives up; each restart
//! is logged with the failure that caused it. Failures before any record flows (a missing
//! input, a bad output name, a checkpoint that does not fit) are not restarted: trying again
//! cannot help.

use std::time::Duration;

/// How a failing job is restarted (the `restart` job setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartStrategy {
    /// Fail the job at the first failure (the default; Flink's `none`).
    #[default]
    None,
    /// Restart up to `attempts` times, waiting `delay` before each (Flink's `fixed-delay`).
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Restart up to `attempts` times, waiting `initial`, then twice as long each time, at
    /// most `max` (Flink's `exponential-delay` with a backoff multiplier of 2).
    ExponentialDelay {
        /// Wait before the first restart.
        initial: Duration,
        /// Longest wait.
        max: Duration,
        /// Restarts allowed.
        attempts: u32,
    },
}

impl RestartStrategy {
    /// The wait before restart number `restart` (1-based), or `None` when the strategy gives
    /// up.
    ///
    /// ```
    /// use fuseflow_runtime::restart::RestartStrategy;
    /// use std::time::Duration;
    /// let s = RestartStrategy::ExponentialDelay {
    ///     initial: Duration::from_millis(100),
    ///     max: Duration::from_millis(300),
    ///     attempts: 4,
    /// };
    /// let waits: Vec<_> = (1..=5).map(|n| s.delay_before(n).map(|d| d.as_millis())).collect();
    /// assert_eq!(waits, [Some(100), Some(200), Some(300), Some(300), None]);
    /// ```
    pub fn delay_before(&self, restart: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => (restart <= attempts).then_some(delay),
            RestartStrategy::ExponentialDelay { initial, max, attempts } => (restart <= attempts).then(|| {
                let factor = 2u32.saturating_pow(restart.saturating_sub(1));
                initial.saturating_mul(factor).min(max)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_gives_up_after_its_attempts() {
        let s = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_secs(1),
        };
        assert_eq!(s.delay_before(1), Some(Duration::from_secs(1)));
        assert_eq!(s.delay_before(2), Some(Duration::from_secs(1)));
        assert_eq!(s.delay_before(3), None);
        assert_eq!(RestartStrategy::None.delay_before(1), None);
    }
}
