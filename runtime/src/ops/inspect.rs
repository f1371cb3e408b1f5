//! `inspect`: looks at each record (logging, metrics) and passes it on unchanged.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `inspect` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct Inspect<F, D = ()> {
    f: F,
    next: D,
}

/// Types `f` against the input `T`.
pub fn inspect<T, F: FnMut(&T)>(_input: Ty<T>, f: F) -> (Inspect<F>, Ty<T>) {
    (Inspect { f, next: () }, Ty::of())
}

impl<F> Inspect<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> Inspect<F, D> {
        Inspect { f: self.f, next }
    }
}

impl<T, F: FnMut(&T), D: Collector<T>> Collector<T> for Inspect<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        (self.f)(&record);
        self.next.record(record, ts)
    }
}
