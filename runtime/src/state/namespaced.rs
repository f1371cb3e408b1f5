//! Values per key and *namespace* in a [`KeyedStateStore`], behind an object-safe interface
//! without serde bounds: how the window operators and keyed `reduce` keep their state in the
//! job's [`StateBackend`](super::StateBackend) (RocksDB, or
//! [`StateBackendConfig::in_memory_bytes`]).
//!
//! A namespace is Flink's: the window a window operator's accumulator belongs to (its start),
//! or a single constant for state that has none (keyed `reduce`, Flink's `VoidNamespace`).
//! The values live in one map state of the store, from namespace to the value's encoding, so
//! the key group is the first part of every address and a checkpoint or a rescaled restore
//! moves whole key groups, as for keyed `process`. The value is stored encoded (postcard)
//! rather than as a typed map value so that it needs no `Clone` (an
//! [`AggregateFunction`](crate::AggregateFunction)'s accumulator has no such bound).
//!
//! The operators' generic code has no serde bounds (a job without checkpoints and without a
//! state backend setting must not need them), so it reaches the store through the
//! [`NamespacedValues`] trait object that [`namespaced_values`] builds where the bounds are
//! known: in the operators' [`Stateful`](crate::checkpoint::Stateful) implementations.
//!
//! ```
//! use fuseflow_runtime::state::{StateBackendConfig, namespaced_values};
//! let config = StateBackendConfig::in_memory_bytes();
//! let mut accs = namespaced_values::<String, (i64, u64)>(&config, 128, "window", "accumulators").unwrap();
//! let key = "alice".to_owned();
//! accs.put(&key, 3, 1000, &(5, 1));
//! assert_eq!(accs.get(&key, 3, 1000), Some((5, 1)));
//! assert_eq!(accs.take(&key, 3, 1000), Some((5, 1)));
//! assert_eq!(accs.get(&key, 3, 1000), None);
//! ```

use super::codec::{decode, encode};
use super::{KeyedStateStore, MapState, StateBackendConfig, StateError, StateKey, StateRegistry};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Values of type `V` per key `K`, key group and namespace, kept in a keyed state store.
///
/// A failing backend or a stored value that does not decode panics with the error, which
/// fails the task, as any keyed state access does.
pub trait NamespacedValues<K, V>: Send {
    /// The value of `key` (in `key_group`) in `namespace`, if any.
    fn get(&mut self, key: &K, key_group: usize, namespace: i64) -> Option<V>;

    /// Sets the value of `key` (in `key_group`) in `namespace`.
    fn put(&mut self, key: &K, key_group: usize, namespace: i64, value: &V);

    /// Removes the value of `key` in `namespace`, if any.
    fn remove(&mut self, key: &K, key_group: usize, namespace: i64);

    /// Removes and returns the value of `key` in `namespace`, if any.
    fn take(&mut self, key: &K, key_group: usize, namespace: i64) -> Option<V> {
        let value = self.get(key, key_group, namespace)?;
        self.remove(key, key_group, namespace);
        Some(value)
    }

    /// Calls `visit(key_group, key, namespace, value)` for every stored value, key group by
    /// key group: what a snapshot of state without an index of its keys reads.
    fn for_each(&self, visit: &mut dyn FnMut(usize, K, i64, V)) -> Result<(), StateError>;
}

/// The [`NamespacedValues`] of an operator instance on the path `config` names, over
/// `max_parallelism` key groups: a [`KeyedStateStore`] with one map state named `state`, for
/// the operator with the stable id `operator` (a RocksDB backend names its column family
/// after it).
pub fn namespaced_values<K, V>(
    config: &StateBackendConfig,
    max_parallelism: usize,
    operator: &str,
    state: &'static str,
) -> Result<Box<dyn NamespacedValues<K, V>>, StateError>
where
    K: StateKey,
    V: Serialize + DeserializeOwned + 'static,
{
    let mut states = StateRegistry::new();
    let values = states.map::<i64, Encoded>(state);
    let store = KeyedStateStore::new(states, max_parallelism, config, operator)?;
    Ok(Box::new(StoreValues {
        store,
        values,
        name: state,
        _ty: PhantomData,
    }))
}

/// An operator instance's values in the job's byte-level backend, and the job's
/// `max_parallelism` (see [`backend_values`]).
pub type BackendValues<K, V> = (Box<dyn NamespacedValues<K, V>>, usize);

/// The [`NamespacedValues`] of an operator instance of the job `ctx` belongs to, with the
/// job's `max_parallelism`, when the job runs on a byte-level backend (RocksDB, or
/// [`StateBackendConfig::in_memory_bytes`]); `None` on the heap path, where the operator keeps
/// its own typed tables. What the window operators and keyed `reduce` call when the
/// `checkpointed` wrapper opens them.
pub fn backend_values<K, V>(
    ctx: &crate::TaskContext,
    operator: &str,
    state: &'static str,
) -> Result<Option<BackendValues<K, V>>, crate::JobError>
where
    K: StateKey,
    V: Serialize + DeserializeOwned + 'static,
{
    let config = ctx.state_backend();
    if !matches!(config, StateBackendConfig::Backend(_)) {
        return Ok(None);
    }
    let max_parallelism = ctx.max_parallelism().max(1);
    let values = namespaced_values(config, max_parallelism, operator, state)
        .map_err(|e| crate::JobError::Other(e.to_string()))?;
    Ok(Some((values, max_parallelism)))
}

/// A value's encoding, stored as a map state's value: serialized as one byte string (the
/// bytes postcard writes for a `Vec<u8>`, copied at once rather than byte by byte).
#[derive(Clone)]
struct Encoded(Vec<u8>);

impl Serialize for Encoded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Encoded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Encoded;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Encoded, E> {
                Ok(Encoded(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Encoded, E> {
                Ok(Encoded(v))
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// The store and its one map state: namespace → encoded value.
struct StoreValues<K, V> {
    store: KeyedStateStore<K>,
    values: MapState<i64, Encoded>,
    name: &'static str,
    _ty: PhantomData<fn() -> V>,
}

impl<K, V> NamespacedValues<K, V> for StoreValues<K, V>
where
    K: StateKey,
    V: Serialize + DeserializeOwned + 'static,
{
    fn get(&mut self, key: &K, key_group: usize, namespace: i64) -> Option<V> {
        let bytes = self.store.scope(key, key_group, 0).map(self.values).get(&namespace)?;
        Some(decode(&bytes.0, self.name).unwrap_or_else(|e| panic!("{e}")))
    }

    fn put(&mut self, key: &K, key_group: usize, namespace: i64, value: &V) {
        let bytes = Encoded(encode(value));
        self.store
            .scope(key, key_group, 0)
            .map(self.values)
            .put(namespace, bytes);
    }

    fn remove(&mut self, key: &K, key_group: usize, namespace: i64) {
        self.store.scope(key, key_group, 0).map(self.values).remove(&namespace);
    }

    fn for_each(&self, visit: &mut dyn FnMut(usize, K, i64, V)) -> Result<(), StateError> {
        let mut failed = None;
        for kg in 0..self.store.max_parallelism() {
            self.store.export_key_group(kg, 0, &mut |_, key, namespace, value| {
                if failed.is_some() {
                    return;
                }
                let decoded = (|| {
                    let key: K = decode(key, self.name)?;
                    let namespace: i64 = decode(namespace, self.name)?;
                    let bytes: Encoded = decode(value, self.name)?;
                    Ok::<_, StateError>((key, namespace, decode::<V>(&bytes.0, self.name)?))
                })();
                match decoded {
                    Ok((key, namespace, value)) => visit(kg, key, namespace, value),
                    Err(e) => failed = Some(e),
                }
            })?;
            if let Some(e) = failed.take() {
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_value_is_stored_as_the_bytes_of_a_vec() {
        let bytes = vec![0u8, 1, 255, 7];
        assert_eq!(encode(&Encoded(bytes.clone())), encode(&bytes));
        let back: Encoded = decode(&encode(&bytes), "v").unwrap();
        assert_eq!(back.0, bytes);
    }

    #[test]
    fn values_are_apart_by_key_and_namespace_and_listed_by_key_group() {
        for config in [StateBackendConfig::Heap, StateBackendConfig::in_memory_bytes()] {
            let mut v = namespaced_values::<u32, String>(&config, 4, "op", "values").unwrap();
            v.put(&1, 2, -1000, &"a".to_owned());
            v.put(&1, 2, 0, &"b".to_owned());
            v.put(&7, 0, 0, &"c".to_owned());
            v.put(&1, 2, 0, &"b2".to_owned());
            assert_eq!(v.get(&1, 2, -1000).as_deref(), Some("a"));
            assert_eq!(v.get(&1, 2, 0).as_deref(), Some("b2"));
            assert_eq!(v.get(&7, 0, -1000), None);
            assert_eq!(v.take(&1, 2, -1000).as_deref(), Some("a"));
            assert_eq!(v.take(&1, 2, -1000), None);
            let mut all = Vec::new();
            v.for_each(&mut |kg, k, ns, val| all.push((kg, k, ns, val))).unwrap();
            assert_eq!(
                all,
                [(0, 7, 0, "c".to_owned()), (2, 1, 0, "b2".to_owned())],
                "{config:?}"
            );
        }
    }
}
