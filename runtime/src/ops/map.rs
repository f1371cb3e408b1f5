//! `map`: one record in, one record out (Flink's `MapFunction`). The timestamp is kept.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `map` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct Map<F, D = ()> {
    f: F,
    next: D,
}

/// Types `f` against the input `T` and returns the spec with the witness of its output.
pub fn map<T, U, F: FnMut(T) -> U>(_input: Ty<T>, f: F) -> (Map<F>, Ty<U>) {
    (Map { f, next: () }, Ty::of())
}

impl<F> Map<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> Map<F, D> {
        Map { f: self.f, next }
    }
}

impl<T, U, F: FnMut(T) -> U, D: Collector<U>> Collector<T> for Map<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        self.next.record((self.f)(record), ts)
    }
}
