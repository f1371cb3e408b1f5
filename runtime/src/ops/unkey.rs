//! `unkey`: drops the key from `(key, record)` pairs, where a keyed stream meets an operator
//! that is not keyed (`key_by(…).map(…)`, `key_by(…).sink(…)`): as in Flink, the operator
//! sees the record, and runs on the worker that owns the record's key.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The witness of the records of a keyed stream, without their keys.
pub fn unkeyed<K, T>(_input: Ty<(K, T)>) -> Ty<T> {
    Ty::of()
}

/// Passes `record` on from each `(key, record)` pair.
#[derive(Debug, Clone)]
pub struct Unkey<D> {
    next: D,
}

/// Drops the keys of a keyed stream before `next`.
pub fn unkey<D>(next: D) -> Unkey<D> {
    Unkey { next }
}

impl<K, T, D: Collector<T>> Collector<(K, T)> for Unkey<D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: (K, T), ts: Timestamp) {
        self.next.record(record.1, ts)
    }
}
