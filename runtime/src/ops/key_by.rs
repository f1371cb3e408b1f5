//! `key_by`: computes each record's key once, before the exchange, and sends `(key, record)`
//! pairs on, so keyed operators after the exchange never recompute it.
//!
//! With one worker the exchange is a direct call; the parallel runtime puts a hash exchange
//! (key → key group → worker) between this operator and its successor.

use super::forward_control;
use crate::{Collector, Timestamp, Ty};

/// The `key_by` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct KeyBy<F, D = ()> {
    f: F,
    next: D,
}

/// Types the key selector against the input `T`; the output is `(K, T)`.
pub fn key_by<T, K, F>(_input: Ty<T>, f: F) -> (KeyBy<F>, Ty<(K, T)>)
where
    K: std::hash::Hash + Eq + Clone,
    F: FnMut(&T) -> K,
{
    (KeyBy { f, next: () }, Ty::of())
}

impl<F> KeyBy<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> KeyBy<F, D> {
        KeyBy { f: self.f, next }
    }
}

impl<T, K, F: FnMut(&T) -> K, D: Collector<(K, T)>> Collector<T> for KeyBy<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        let key = (self.f)(&record);
        self.next.record((key, record), ts)
    }
}
