//! Keyed state: what a keyed operator remembers per key (Flink's `ValueState`, `MapState` and
//! `ListState`, with optional time-to-live), the event-time timers of keyed operators, and
//! the [`StateBackend`] that stores it all.
//!
//! The pieces, in the order an operator meets them:
//!
//! 1. **Declaring.** In its `open` hook a keyed function declares its states by name in a
//!    [`StateRegistry`] and keeps the typed handles it gets back ([`ValueState`],
//!    [`MapState`], [`ListState`]), optionally with a [`StateTtl`].
//! 2. **Storing.** The operator builds a [`KeyedStateStore`] from the registry when it opens,
//!    on the path its [`StateBackendConfig`] names: typed hash maps per key group in memory
//!    (the default), or any byte-level [`StateBackend`] ([`InMemoryBackend`], or RocksDB
//!    with the `rocksdb` feature: `StateBackendConfig::rocksdb(dir)`), which sees only bytes
//!    addressed by `(state, key group, key, user key)`.
//! 3. **Using.** For each record or timer the operator opens the [`KeyedState`] of the
//!    current key; the function reaches its states only through it, so state is always
//!    scoped to the current key.
//! 4. **Timers.** [`EventTimeTimers`] keeps a keyed operator's event-time timers, one per key
//!    and timestamp, in firing order.
//!
//! The built-in stateful operators use the same store: keyed `process` declares its
//! function's states; the window operators and keyed `reduce`, when the job runs on a byte
//! backend, keep their accumulators as [`NamespacedValues`] (one map state from namespace,
//! the window, to value), see `docs/rocksdb.md`.
//!
//! ```
//! use fuseflow_runtime::state::{KeyedStateStore, StateBackendConfig, StateRegistry};
//!
//! let mut states = StateRegistry::new();
//! let clicks = states.value::<u64>("clicks");
//! let pages = states.list::<String>("pages");
//! let mut store = KeyedStateStore::<u32>::new(states, 128, &StateBackendConfig::Heap, "op").unwrap();
//!
//! let user = 7;
//! let mut s = store.scope(&user, 0, 0);
//! s.value(clicks).update_with(|| 0, |n| *n += 1);
//! s.list(pages).add("/home".to_owned());
//! assert_eq!((s.value(clicks).get(), s.list(pages).get()), (Some(1), vec!["/home".to_owned()]));
//! let other = 8;
//! assert_eq!(store.scope(&other, 0, 0).value(clicks).get(), None);
//! ```
//!
//! **Types.** Keys and state values must be `Serialize + DeserializeOwned + Clone + Send`
//! ([`StateKey`], [`StateValue`]) whichever backend runs, so that the backend is a job
//! setting and never a code change. The heap path stores typed values and encodes nothing
//! on access (a counter update is one hash lookup); encoding happens only for snapshots
//! ([`KeyedStateStore::export_key_group`]), in the same bytes a byte backend stores.
//!
//! **TTL** follows Flink's `StateTtlConfig` in processing time: an entry expires `ttl` after
//! its last write (or read, with [`TtlUpdate::OnReadAndWrite`]); expired entries are never
//! returned and are removed when read. See `docs/semantics.md`, "Keyed state and timers".

mod backend;
mod codec;
mod heap;
mod namespaced;
mod registry;
#[cfg(feature = "rocksdb")]
mod rocksdb;
mod store;
mod timers;

#[cfg(feature = "rocksdb")]
pub use self::rocksdb::{RocksDbBackend, RocksDbOptions};
pub use backend::{EntryVisitor, InMemoryBackend, KeyAddr, StateBackend, StateError};
pub use namespaced::{BackendValues, NamespacedValues, backend_values, namespaced_values};
pub use registry::{ListState, MapState, StateKey, StateRegistry, StateTtl, StateValue, TtlUpdate, ValueState};
pub use store::{
    BackendContext, BackendFactory, Clock, KeyedState, KeyedStateStore, ListRef, MapRef, StateBackendConfig,
    StateBackendKind, ValueRef,
};
pub use timers::EventTimeTimers;

#[cfg(test)]
mod tests;
