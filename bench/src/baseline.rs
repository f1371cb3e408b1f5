//! The hand-written baseline: the workload job in plain single-threaded Rust, the yardstick
//! the `pipeline!` version is compared with.
//!
//! It is meant to be what a competent engineer would write for this one job, not a straw man.
//! The open windows are a short list in order of start, each with a `foldhash` map from key
//! to `(sum, count)`: together a hash map keyed by `(key, window)`, grouped by window so that
//! firing a window drains its map (no per-key removal, no scan of other windows) and a record
//! costs one hash lookup. A record's window is first looked for among the two newest, where
//! nearly all records go. The watermark advances per record; emptied maps are reused, so after
//! warm-up nothing is allocated.
//!
//! A single map keyed by `(key, window start)`, with each window's keys listed for removal at
//! firing, was measured too: as fast on W2, about half as fast on W1 (every record inserts, and
//! every firing removes, at a random place of a table twice as large), so it is not used.

use crate::workload::{Checksum, OUT_OF_ORDERNESS_MS, Outcome, WINDOW_MS, event};
use foldhash::HashMap;

/// One open window: its start and its keys' `(sum, count)`.
struct Window {
    start: i64,
    accs: HashMap<u64, (i64, u64)>,
}

/// The open windows of the job.
#[derive(Default)]
struct OpenWindows {
    /// In increasing order of start.
    list: Vec<Window>,
    /// Emptied maps, kept with their capacity.
    spare: Vec<HashMap<u64, (i64, u64)>>,
}

impl OpenWindows {
    /// The accumulators of the window starting at `start`, opening it if needed.
    #[inline]
    fn accs(&mut self, start: i64) -> &mut HashMap<u64, (i64, u64)> {
        let n = self.list.len();
        let i = if n >= 1 && self.list[n - 1].start == start {
            n - 1
        } else if n >= 2 && self.list[n - 2].start == start {
            n - 2
        } else {
            self.open(start)
        };
        &mut self.list[i].accs
    }

    /// The index of the window starting at `start`, opening it if needed.
    #[cold]
    fn open(&mut self, start: i64) -> usize {
        let at = self.list.partition_point(|w| w.start < start);
        if self.list.get(at).is_none_or(|w| w.start != start) {
            let accs = self.spare.pop().unwrap_or_default();
            self.list.insert(at, Window { start, accs });
        }
        at
    }

    /// The last millisecond of the oldest open window, `i64::MAX` if there is none.
    fn next_fire(&self) -> i64 {
        self.list.first().map_or(i64::MAX, |w| w.start + WINDOW_MS - 1)
    }

    /// Fires and removes every window whose last millisecond is at or before `wm`, oldest
    /// first; returns the new [`next_fire`](Self::next_fire).
    #[cold]
    fn fire(&mut self, wm: i64, out: &mut Checksum) -> i64 {
        let fired = self.list.partition_point(|w| w.start + WINDOW_MS - 1 <= wm);
        for Window { start, mut accs } in self.list.drain(..fired) {
            for (key, (sum, count)) in accs.drain() {
                out.add_parts(key, start, sum, count);
            }
            self.spare.push(accs);
        }
        self.next_fire()
    }
}

/// Runs the workload with `KEYS` keys over `n` events.
///
/// ```
/// use fuseflow_bench::{baseline, workload::Workload};
/// assert_eq!(Some(baseline::run::<100>(1_000)), Workload::W2.expected(1_000));
/// ```
pub fn run<const KEYS: u64>(n: u64) -> Outcome {
    let mut open = OpenWindows::default();
    let mut checksum = Checksum::default();
    let mut late = 0;
    let mut max_ts = i64::MIN;
    let mut wm = i64::MIN;
    let mut next_fire = i64::MAX;
    for i in 0..n {
        let e = event::<KEYS>(i);
        // A window is open until it fires, so a record is late iff its window has fired.
        let start = e.ts_ms - e.ts_ms.rem_euclid(WINDOW_MS);
        let last_ms = start + WINDOW_MS - 1;
        if last_ms <= wm {
            late += 1;
        } else {
            let acc = open.accs(start).entry(e.key).or_insert((0, 0));
            acc.0 += e.value;
            acc.1 += 1;
            next_fire = next_fire.min(last_ms);
        }
        if e.ts_ms > max_ts {
            max_ts = e.ts_ms;
            wm = max_ts - OUT_OF_ORDERNESS_MS - 1;
            if wm >= next_fire {
                next_fire = open.fire(wm, &mut checksum);
            }
        }
    }
    open.fire(i64::MAX, &mut checksum);
    Outcome { checksum, late }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    #[test]
    fn matches_the_expected_checksums_for_1000_events() {
        assert_eq!(Some(run::<10_000>(1_000)), Workload::W1.expected(1_000));
        assert_eq!(Some(run::<100>(1_000)), Workload::W2.expected(1_000));
    }

    #[test]
    fn fires_only_the_windows_the_watermark_reached() {
        let mut open = OpenWindows::default();
        open.accs(1_000).insert(7, (1, 1));
        open.accs(-1_000).insert(7, (2, 1));
        open.accs(0).insert(8, (3, 1));
        let mut sums = Checksum::default();
        assert_eq!(open.fire(-1, &mut sums), 999);
        assert_eq!(open.fire(998, &mut sums), 999);
        assert_eq!((sums.r, sums.c), (1, 1));
        assert_eq!(open.fire(i64::MAX, &mut sums), i64::MAX);
        assert_eq!((sums.r, sums.c), (3, 3));
    }
}
