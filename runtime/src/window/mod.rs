//! Keyed tumbling windows with Flink's semantics, and the functions that aggregate them.
//!
//! A window operator sits after `key_by`, so it receives `(key, record)` pairs. It assigns
//! each record to the tumbling window `[start, start + size)` that contains its timestamp
//! ([`event_time_window`]) or the wall clock at its arrival ([`processing_time_window`]),
//! folds it into that key's accumulator with an [`AggregateFunction`], and emits one
//! [`WindowResult`] per key and window when the window fires. The built-in window functions
//! (`count`, `sum`, `min`, `max`, `avg`, `reduce`, `aggregate`) are in [`agg`].
//!
//! The rules (firing, allowed lateness, late data, end of input, output order) are those of
//! Flink's `WindowOperator` with `EventTimeTrigger`, evaluated against a per-record watermark;
//! `docs/semantics.md` writes them down.
//!
//! The accumulators are in the operator's own heap tables, or in the job's state backend when
//! the job runs on a byte backend (RocksDB) and takes checkpoints or names its
//! `state_backend`; the results are the same (see the operators' module docs and
//! `docs/rocksdb.md`).

pub mod agg;
#[cfg(test)]
mod backend_tests;
mod event_time;
mod processing_time;
mod table;

pub use event_time::{EventTimeWindow, EventTimeWindowCollector, event_time_window};
pub use processing_time::{ProcessingTimeWindow, ProcessingTimeWindowCollector, processing_time_window, system_clock};

use crate::Timestamp;

/// What a window emits: the aggregate of one key's records in the window `[start, end)`.
///
/// The result record's timestamp is `end - 1`, the window's last millisecond (Flink's
/// `TimeWindow.maxTimestamp()`), so a downstream event-time operator sees it in time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct WindowResult<K, V> {
    /// The key the records were grouped by.
    pub key: K,
    /// The window's first millisecond (inclusive).
    pub start: i64,
    /// The window's end (exclusive): `start + size`.
    pub end: i64,
    /// The window function's result.
    pub value: V,
}

/// An incremental window function, as Flink's `AggregateFunction`: records are folded into an
/// accumulator one at a time, so a window keeps one accumulator per key, never its records.
///
/// `merge` combines two partial accumulators (Flink uses it for merging windows; fuseflow's
/// tumbling windows never call it, but tuples of functions and future session windows do).
///
/// A user-defined average:
///
/// ```
/// use fuseflow_runtime::AggregateFunction;
///
/// struct Sale { amount: i64 }
///
/// /// The average amount of the sales in a window.
/// struct AvgAmount;
///
/// impl AggregateFunction<Sale> for AvgAmount {
///     type Acc = (i64, u64); // (sum, count)
///     type Out = f64;
///     fn create_accumulator(&self) -> (i64, u64) {
///         (0, 0)
///     }
///     fn add(&mut self, acc: &mut (i64, u64), sale: Sale) {
///         acc.0 += sale.amount;
///         acc.1 += 1;
///     }
///     fn get_result(&self, acc: &(i64, u64)) -> f64 {
///         acc.0 as f64 / acc.1 as f64
///     }
///     fn merge(&self, a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
///         (a.0 + b.0, a.1 + b.1)
///     }
/// }
///
/// let mut avg = AvgAmount;
/// let mut acc = avg.create_accumulator();
/// avg.add(&mut acc, Sale { amount: 3 });
/// avg.add(&mut acc, Sale { amount: 6 });
/// assert_eq!(avg.get_result(&acc), 4.5);
/// assert_eq!(avg.get_result(&avg.merge(acc, (1, 1))), 10.0 / 3.0);
/// ```
///
/// In a pipeline it is used as `.window(tumbling(1min)).aggregate(AvgAmount)`.
pub trait AggregateFunction<T> {
    /// The accumulator: the state kept per key and window.
    type Acc;
    /// The result emitted when the window fires.
    type Out;
    /// A fresh accumulator, for a key's first record in a window.
    fn create_accumulator(&self) -> Self::Acc;
    /// Folds one record into the accumulator.
    fn add(&mut self, acc: &mut Self::Acc, value: T);
    /// The result for the records folded so far (a window may fire more than once).
    fn get_result(&self, acc: &Self::Acc) -> Self::Out;
    /// Combines two accumulators of the same key.
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
}

/// The tumbling window `(start, end)` of size `size` (> 0) that contains `ts`:
/// `start = ts - ts.rem_euclid(size)`, correct for negative timestamps (`-1` lies in
/// `[-size, 0)`). `None` when the window would start before `i64::MIN` (a record without
/// timestamp); `end` saturates at `i64::MAX`.
#[inline]
pub(crate) fn tumbling(ts: Timestamp, size: i64) -> Option<(i64, i64)> {
    let start = ts.checked_sub(ts.rem_euclid(size))?;
    Some((start, start.saturating_add(size)))
}

/// Panics with a clear message on a non-positive window size (the macro rejects them).
pub(crate) fn check_size(size_ms: i64) {
    assert!(size_ms > 0, "a window size must be positive, got {size_ms} ms");
}

#[cfg(test)]
pub(crate) mod testing {
    //! A collector that logs everything it receives, for the window tests.

    use crate::{Collector, JobError, MAX_WATERMARK, TaskContext, Timestamp};
    use std::cell::RefCell;
    use std::fmt::Debug;
    use std::rc::Rc;

    /// One message received by a [`Log`].
    #[derive(Debug, Clone, PartialEq)]
    pub enum Msg<T> {
        /// A record with its timestamp.
        R(T, Timestamp),
        /// A watermark.
        W(Timestamp),
        /// End of input.
        End,
    }

    /// Logs every message into a shared vector.
    pub struct Log<T>(pub Rc<RefCell<Vec<Msg<T>>>>);

    impl<T> Log<T> {
        /// A log and the handle to read it.
        pub fn new() -> (Self, Rc<RefCell<Vec<Msg<T>>>>) {
            let v = Rc::new(RefCell::new(Vec::new()));
            (Log(v.clone()), v)
        }
    }

    impl<T: Debug> Collector<T> for Log<T> {
        fn open(&mut self, _: &TaskContext) -> Result<(), JobError> {
            Ok(())
        }
        fn record(&mut self, r: T, ts: Timestamp) {
            self.0.borrow_mut().push(Msg::R(r, ts));
        }
        fn watermark(&mut self, wm: Timestamp) {
            self.0.borrow_mut().push(Msg::W(wm));
        }
        fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

        fn end(&mut self) {
            self.0.borrow_mut().push(Msg::End);
        }
    }

    /// The records of a log, without control messages.
    pub fn records<T: Clone>(log: &Rc<RefCell<Vec<Msg<T>>>>) -> Vec<(T, Timestamp)> {
        log.borrow()
            .iter()
            .filter_map(|m| match m {
                Msg::R(r, ts) => Some((r.clone(), *ts)),
                _ => None,
            })
            .collect()
    }

    /// Sends the final watermark and end of input.
    pub fn finish<T, C: Collector<T>>(c: &mut C) {
        c.watermark(MAX_WATERMARK);
        c.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_assignment_including_negative_timestamps() {
        assert_eq!(tumbling(0, 1000), Some((0, 1000)));
        assert_eq!(tumbling(999, 1000), Some((0, 1000)));
        assert_eq!(tumbling(1000, 1000), Some((1000, 2000)));
        assert_eq!(tumbling(-1, 1000), Some((-1000, 0)));
        assert_eq!(tumbling(-1000, 1000), Some((-1000, 0)));
        assert_eq!(tumbling(-1001, 1000), Some((-2000, -1000)));
        assert_eq!(tumbling(i64::MIN, 1000), None);
        assert_eq!(tumbling(i64::MAX, 1000), Some((i64::MAX - i64::MAX % 1000, i64::MAX)));
    }

    #[test]
    fn window_result_serializes_with_named_fields() {
        let r = WindowResult {
            key: "a",
            start: 0,
            end: 1000,
            value: 3u64,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"key":"a","start":0,"end":1000,"value":3}"#
        );
    }
}
