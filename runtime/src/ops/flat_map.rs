//! `flat_map`: zero or more records out per record in (Flink's `FlatMapFunction`); each
//! output keeps the input's timestamp.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `flat_map` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct FlatMap<F, D = ()> {
    f: F,
    next: D,
}

/// Types `f` against the input `T`; it returns anything iterable.
pub fn flat_map<T, I, F>(_input: Ty<T>, f: F) -> (FlatMap<F>, Ty<I::Item>)
where
    I: IntoIterator,
    F: FnMut(T) -> I,
{
    (FlatMap { f, next: () }, Ty::of())
}

impl<F> FlatMap<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> FlatMap<F, D> {
        FlatMap { f: self.f, next }
    }
}

impl<T, I, F, D> Collector<T> for FlatMap<F, D>
where
    I: IntoIterator,
    F: FnMut(T) -> I,
    D: Collector<I::Item>,
{
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        for out in (self.f)(record) {
            self.next.record(out, ts)
        }
    }
}
