//! `filter`: keeps the records for which the predicate is true (Flink's `FilterFunction`).

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `filter` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct Filter<F, D = ()> {
    f: F,
    next: D,
}

/// Types `f` against the input `T`; the output type is the input type.
pub fn filter<T, F: FnMut(&T) -> bool>(_input: Ty<T>, f: F) -> (Filter<F>, Ty<T>) {
    (Filter { f, next: () }, Ty::of())
}

impl<F> Filter<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> Filter<F, D> {
        Filter { f: self.f, next }
    }
}

impl<T, F: FnMut(&T) -> bool, D: Collector<T>> Collector<T> for Filter<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        if (self.f)(&record) {
            self.next.record(record, ts)
        }
    }
}
