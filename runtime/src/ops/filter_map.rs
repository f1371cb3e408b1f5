//! `filter_map`: maps and drops in one step (`Option` out), as `Iterator::filter_map`.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `filter_map` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct FilterMap<F, D = ()> {
    f: F,
    next: D,
}

/// Types `f` against the input `T`; records for which it returns `None` are dropped.
pub fn filter_map<T, U, F: FnMut(T) -> Option<U>>(_input: Ty<T>, f: F) -> (FilterMap<F>, Ty<U>) {
    (FilterMap { f, next: () }, Ty::of())
}

impl<F> FilterMap<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> FilterMap<F, D> {
        FilterMap { f: self.f, next }
    }
}

impl<T, U, F: FnMut(T) -> Option<U>, D: Collector<U>> Collector<T> for FilterMap<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        if let Some(out) = (self.f)(record) {
            self.next.record(out, ts)
        }
    }
}
