//! The workloads of `shared/bench/workloads.md`: the generated events, the checksums every
//! implementation must agree on, and the expected checksums listed for some event counts.
//!
//! W1 and W2 differ only in their key count, so a [`Workload`] is its name and its keys; both
//! implementations generate the events with [`event`] and fold their window results into a
//! [`Checksum`].

use fuseflow::WindowResult;
use std::fmt;

/// One of the benchmark workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Keyed tumbling windows over 10,000 keys: one event per key and window (window churn).
    W1,
    /// The same job over 100 keys: about 100 events per key and window (aggregation).
    W2,
}

impl Workload {
    /// The number of distinct keys.
    pub const fn keys(self) -> u64 {
        match self {
            Workload::W1 => 10_000,
            Workload::W2 => 100,
        }
    }

    /// The checksums `workloads.md` lists for `n` events, if it lists `n`.
    pub fn expected(self, n: u64) -> Option<Outcome> {
        let (r, c, s) = match (self, n) {
            (Workload::W1, 1_000) => (1_000, 1_000, 4_989_515_380_991),
            (Workload::W1, 5_000_000) => (5_000_000, 5_000_000, 24_997_698_376_492_500),
            (Workload::W1, 20_000_000) => (20_000_000, 20_000_000, 99_992_248_505_970_000),
            (Workload::W2, 1_000) => (176, 1_000, 8_698_515_894),
            (Workload::W2, 5_000_000) => (50_100, 5_000_000, 2_483_665_005_150),
            (Workload::W2, 20_000_000) => (200_100, 20_000_000, 9_934_360_005_150),
            _ => return None,
        };
        Some(Outcome {
            checksum: Checksum { r, c, s },
            late: 0,
        })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
        })
    }
}

/// The bounded out-of-orderness of the watermark, in milliseconds.
pub const OUT_OF_ORDERNESS_MS: i64 = 500;

/// The size of the tumbling windows, in milliseconds.
pub const WINDOW_MS: i64 = 1_000;

/// One generated event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The grouping key.
    pub key: u64,
    /// The value summed per key and window.
    pub value: i64,
    /// The event time, in milliseconds (negative for some early events).
    pub ts_ms: i64,
}

/// Event `i` of a workload with `KEYS` distinct keys, exactly as `workloads.md` defines it.
///
/// The key count is a constant, as in the workload definition, so that `% KEYS` compiles to a
/// multiplication rather than a division in every implementation alike.
///
/// ```
/// use fuseflow_bench::workload::{Event, event};
/// assert_eq!(event::<100>(3), Event { key: 83, value: 3, ts_ms: -257 });
/// ```
#[inline]
pub fn event<const KEYS: u64>(i: u64) -> Event {
    Event {
        key: (i * 2654435761) % KEYS,
        value: (i % 1000) as i64,
        ts_ms: (i / 10) as i64 - ((i * 7919) % 500) as i64,
    }
}

/// The order- and partition-independent checksums over window results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    /// The number of results.
    pub r: u64,
    /// The sum of the counts.
    pub c: u64,
    /// The wrapping sum of each result's hash.
    pub s: i64,
}

impl Checksum {
    /// Folds in the result `(sum, count)` of `key`'s window starting at `start`.
    #[inline]
    pub fn add_parts(&mut self, key: u64, start: i64, sum: i64, count: u64) {
        self.r += 1;
        self.c += count;
        let t = (key as i64)
            .wrapping_mul(1_000_003)
            .wrapping_add(start.div_euclid(WINDOW_MS).wrapping_mul(97))
            .wrapping_add(sum);
        self.s = self.s.wrapping_add(t.rem_euclid(1 << 61));
    }

    /// Folds in one window result of the `pipeline!` job.
    #[inline]
    pub fn add(&mut self, w: &WindowResult<u64, (i64, u64)>) {
        self.add_parts(w.key, w.start, w.value.0, w.value.1);
    }

    /// Combines the checksums of two disjoint sets of results.
    pub fn merge(self, other: Checksum) -> Checksum {
        Checksum {
            r: self.r + other.r,
            c: self.c + other.c,
            s: self.s.wrapping_add(other.s),
        }
    }
}

/// What one run of an implementation computed: the checksums and the number of late records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The checksums of the window results.
    pub checksum: Checksum,
    /// The number of late records.
    pub late: u64,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Checksum { r, c, s } = self.checksum;
        write!(f, "R={r} C={c} S={s} late={}", self.late)
    }
}
