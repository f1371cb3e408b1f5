//! Keyed running `reduce` (Flink's `KeyedStream.reduce` without a window): for every record,
//! the key's value becomes `f(previous value, record)` (the record itself for the key's first
//! one), is stored, and is emitted with the record's timestamp.
//!
//! State is one value per key, in a hash map with a fixed-seed hasher; it lives as long as the
//! job (there are no windows to clean it up). When the job runs on a byte-level state backend
//! (RocksDB) and the operator is wrapped by [`checkpointed`](crate::checkpoint::checkpointed)
//! (a job with checkpoints or a `state_backend` setting), the values are in that backend
//! instead, one per key (Flink's `VoidNamespace`), see [`Stateful::use_state_backend`].
//! Control messages pass through.

use crate::checkpoint::{Stateful, decode, encode, key_group_of, warn_heap_state};
use crate::state::{NamespacedValues, StateKey, backend_values};
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use foldhash::fast::FixedState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// The keyed running `reduce` operator over `(K, T)`; `D` is the successor once the chain is
/// built.
pub struct KeyedReduce<K, T, F, D = ()> {
    f: F,
    /// The running value per key; `None` only while `f` runs (the heap path).
    state: HashMap<K, Option<T>, FixedState>,
    /// The running values when they are in a state backend (then `state` stays empty).
    backend: Option<InBackend<K, T>>,
    /// [`Stateful::use_state_backend`] was called: the operator knows where its state goes.
    backend_checked: bool,
    next: D,
}

/// The running values in a state backend, and the number of key groups.
struct InBackend<K, T> {
    values: Box<dyn NamespacedValues<K, T>>,
    max_parallelism: usize,
}

/// The namespace of the running values in a state backend (there are no windows).
const NO_NAMESPACE: i64 = 0;

/// Clones the function, the heap state and the successor; the state backend is opened by
/// each instance itself (a clone of an opened operator starts on the heap).
impl<K: Clone, T: Clone, F: Clone, D: Clone> Clone for KeyedReduce<K, T, F, D> {
    fn clone(&self) -> Self {
        KeyedReduce {
            f: self.f.clone(),
            state: self.state.clone(),
            backend: None,
            backend_checked: false,
            next: self.next.clone(),
        }
    }
}

/// Types `f(accumulated, record)` against the keyed input's record type `T`; the output is
/// the running value, of type `T`.
pub fn keyed_reduce<K, T, F>(_input: Ty<(K, T)>, f: F) -> (KeyedReduce<K, T, F>, Ty<T>)
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: FnMut(T, T) -> T,
{
    (
        KeyedReduce {
            f,
            state: HashMap::with_hasher(FixedState::with_seed(0x5eed_f00d)),
            backend: None,
            backend_checked: false,
            next: (),
        },
        Ty::of(),
    )
}

impl<K, T, F> KeyedReduce<K, T, F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> KeyedReduce<K, T, F, D> {
        KeyedReduce {
            f: self.f,
            state: self.state,
            backend: None,
            backend_checked: false,
            next,
        }
    }
}

impl<K, T, F, D> KeyedReduce<K, T, F, D>
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: FnMut(T, T) -> T,
    D: Collector<T>,
{
    /// [`record`](Collector::record) with the running values in the state backend: read the
    /// key's value, fold the record in, write it back.
    #[cold]
    #[inline(never)]
    fn record_in_backend(&mut self, key: K, value: T, ts: Timestamp) {
        let b = self.backend.as_mut().expect("state in a backend");
        let kg = key_group_of(&key, b.max_parallelism);
        let out = match b.values.get(&key, kg, NO_NAMESPACE) {
            Some(old) => (self.f)(old, value),
            None => value,
        };
        b.values.put(&key, kg, NO_NAMESPACE, &out);
        self.next.record(out, ts);
    }
}

impl<K, T, F, D> Collector<(K, T)> for KeyedReduce<K, T, F, D>
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: FnMut(T, T) -> T,
    D: Collector<T>,
{
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        if !self.backend_checked {
            warn_heap_state(ctx, "keyed reduce");
        }
        self.next.open(ctx)
    }

    #[inline]
    fn record(&mut self, (key, value): (K, T), ts: Timestamp) {
        if self.backend.is_some() {
            return self.record_in_backend(key, value, ts);
        }
        let out = match self.state.entry(key) {
            Entry::Occupied(mut o) => {
                let slot = o.get_mut();
                let new = match slot.take() {
                    Some(old) => (self.f)(old, value),
                    None => value,
                };
                slot.insert(new).clone()
            }
            Entry::Vacant(v) => v.insert(Some(value)).clone().expect("just inserted"),
        };
        self.next.record(out, ts);
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        self.next.watermark(wm)
    }

    fn checkpoint(&mut self, barrier: crate::checkpoint::Barrier) {
        self.next.checkpoint(barrier)
    }

    fn flush(&mut self) {
        self.next.flush();
    }

    fn end(&mut self) {
        self.next.end()
    }
}

/// The state is the running value of every key, in the same bytes whether the values are on
/// the heap or in a state backend, so a checkpoint restores onto either path and any
/// parallelism (each instance keeps the keys of its key groups).
impl<K, T, F, D> Stateful for KeyedReduce<K, T, F, D>
where
    K: StateKey,
    T: Serialize + DeserializeOwned + 'static,
{
    fn schema(&self) -> String {
        format!(
            "keyed_reduce key={} value={}",
            std::any::type_name::<K>(),
            std::any::type_name::<T>()
        )
    }

    fn use_state_backend(&mut self, ctx: &TaskContext, operator: &'static str) -> Result<(), JobError> {
        self.backend_checked = true;
        if self.backend.is_none()
            && let Some((values, max_parallelism)) = backend_values(ctx, operator, "reduce-values")?
        {
            self.backend = Some(InBackend {
                values,
                max_parallelism,
            });
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        match &self.backend {
            None => {
                let entries: Vec<(&K, &T)> = self
                    .state
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                    .collect();
                encode(&entries)
            }
            Some(b) => {
                let mut entries: Vec<(K, T)> = Vec::new();
                b.values
                    .for_each(&mut |_, k, _, v| entries.push((k, v)))
                    .map_err(|e| JobError::Other(e.to_string()))?;
                encode(&entries)
            }
        }
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        for (_, bytes) in parts {
            for (k, v) in decode::<Vec<(K, T)>>(&bytes)? {
                if ctx.owns_key(&k) {
                    match &mut self.backend {
                        None => {
                            self.state.insert(k, Some(v));
                        }
                        Some(b) => {
                            let kg = key_group_of(&k, b.max_parallelism);
                            b.values.put(&k, kg, NO_NAMESPACE, &v);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testing::{Log, Msg, finish};
    use crate::{MAX_WATERMARK, ops};

    #[test]
    fn emits_the_running_value_per_key_with_the_record_timestamp() {
        let (kb, ty) = ops::key_by(Ty::<(&str, i64)>::of(), |r: &(&str, i64)| r.0);
        let (red, ty) = keyed_reduce(ty, |a, b| (a.0, a.1 + b.1));
        let (log, out) = Log::new();
        let _: Ty<(&str, i64)> = ty;
        let mut c = kb.into_collector(red.into_collector(log));
        c.open(&TaskContext::detached()).unwrap();
        c.record(("a", 1), 10);
        c.record(("b", 5), 11);
        c.watermark(3);
        c.record(("a", 2), 12);
        c.record(("a", 4), 9);
        c.record(("b", -5), 13);
        finish(&mut c);
        assert_eq!(
            *out.borrow(),
            [
                Msg::R(("a", 1), 10),
                Msg::R(("b", 5), 11),
                Msg::W(3),
                Msg::R(("a", 3), 12),
                Msg::R(("a", 7), 9),
                Msg::R(("b", 0), 13),
                Msg::W(MAX_WATERMARK),
                Msg::End,
            ]
        );
    }

    #[test]
    fn the_first_record_of_a_key_is_not_passed_to_f() {
        let mut calls = 0;
        let (red, _) = keyed_reduce(Ty::<(u8, String)>::of(), |a: String, b: String| {
            calls += 1;
            a + &b
        });
        let (log, out) = Log::new();
        let mut c = red.into_collector(log);
        c.record((1, "x".into()), 0);
        c.record((2, "y".into()), 0);
        c.record((1, "z".into()), 0);
        drop(c);
        assert_eq!(calls, 1);
        let got: Vec<_> = out.borrow().iter().map(|m| format!("{m:?}")).collect();
        assert_eq!(got, [r#"R("x", 0)"#, r#"R("y", 0)"#, r#"R("xz", 0)"#]);
    }
}
