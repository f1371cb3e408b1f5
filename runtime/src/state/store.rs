//! The keyed state of one operator instance ([`KeyedStateStore`]), the scope of one key
//! ([`KeyedState`]) and the typed views of one state for that key ([`ValueRef`], [`MapRef`],
//! [`ListRef`]).
//!
//! A store runs on one of two paths, chosen by [`StateBackendConfig`]:
//!
//! - **heap** (the default): typed tables in memory, one hash map per key group, no encoding
//!   on access (see `heap.rs`);
//! - **backend**: any byte-level [`StateBackend`]; keys, user keys and values are encoded with
//!   postcard on every access (the key once per record).
//!
//! Both give the same results; every operation below documents its TTL behaviour. Reads
//! return owned values (`V: Clone`), because a byte backend has nothing to borrow from.

use super::backend::{EntryVisitor, InMemoryBackend, KeyAddr, StateBackend, StateError};
use super::codec::{decode, decode_cell, encode, encode_cell, encode_into, frame, frames};
use super::heap::{HeapTable, ListTable, MapTable, Stamped, ValueTable};
use super::registry::{Decl, StateKind, lookup};
use super::{ListState, MapState, StateKey, StateRegistry, StateTtl, StateValue, TtlUpdate, ValueState};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// The processing-time clock state TTL is measured with: milliseconds since the Unix epoch.
/// Injectable so tests control time ([`crate::window::system_clock`] by default).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What a backend factory is told about the operator instance it serves.
#[derive(Debug, Clone, Copy)]
pub struct BackendContext<'a> {
    /// The stable id of the stateful operator (a RocksDB backend names its column family
    /// after it; checkpoints map state by it).
    pub operator: &'a str,
    /// The number of key groups.
    pub max_parallelism: usize,
}

/// Builds a byte-level backend for one operator instance.
pub type BackendFactory = Arc<dyn Fn(&BackendContext<'_>) -> Result<Box<dyn StateBackend>, StateError> + Send + Sync>;

/// Where keyed operators keep their state: a job setting, never a code change (every state
/// type is serializable whichever is chosen).
#[derive(Clone, Default)]
pub enum StateBackendConfig {
    /// Typed hash maps per key group in memory: fastest; encoded only for snapshots.
    #[default]
    Heap,
    /// A byte-level backend built per operator instance when it opens.
    Backend(BackendFactory),
}

impl StateBackendConfig {
    /// The encoded path on an [`InMemoryBackend`]: what RocksDB will run, without the disk.
    pub fn in_memory_bytes() -> Self {
        StateBackendConfig::Backend(Arc::new(|c: &BackendContext<'_>| {
            Ok(Box::new(InMemoryBackend::new(c.max_parallelism)) as Box<dyn StateBackend>)
        }))
    }
}

/// Which state backend a job uses: the `state_backend` job setting, or `--state-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateBackendKind {
    /// Typed hash maps in memory ([`StateBackendConfig::Heap`]).
    #[default]
    Memory,
    /// RocksDB on disk, for state larger than memory (needs the `rocksdb` feature).
    RocksDb,
}

impl std::str::FromStr for StateBackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" => Ok(StateBackendKind::Memory),
            "rocksdb" => Ok(StateBackendKind::RocksDb),
            other => Err(format!(
                "unknown state backend `{other}`: expected `memory` or `rocksdb`"
            )),
        }
    }
}

impl StateBackendKind {
    /// The configuration of this backend; RocksDB keeps its working files under `dir`.
    /// Fails for RocksDB in a binary built without the `rocksdb` feature.
    pub fn config(self, dir: &std::path::Path) -> Result<StateBackendConfig, String> {
        match self {
            StateBackendKind::Memory => Ok(StateBackendConfig::Heap),
            #[cfg(feature = "rocksdb")]
            StateBackendKind::RocksDb => Ok(StateBackendConfig::rocksdb(dir)),
            #[cfg(not(feature = "rocksdb"))]
            StateBackendKind::RocksDb => {
                let _ = dir;
                Err(
                    "this job binary was built without the RocksDB state backend: enable the `rocksdb` \
                     feature of the `fuseflow` dependency (see docs/rocksdb.md), or use `--state-backend memory`"
                        .to_owned(),
                )
            }
        }
    }
}

impl std::fmt::Debug for StateBackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateBackendConfig::Heap => f.write_str("Heap"),
            StateBackendConfig::Backend(_) => f.write_str("Backend(..)"),
        }
    }
}

/// The tables of a store, on one of the two paths.
enum Tables {
    Heap {
        /// One per declared state, created at its first access (when its types are known).
        tables: Vec<Option<Box<dyn HeapTable>>>,
        /// Per declared state, the entries imported before its table exists (the types are
        /// not known before the first access): loaded into the table when it is created.
        pending: Vec<Vec<PendingEntry>>,
        key_groups: usize,
    },
    Bytes {
        backend: Box<dyn StateBackend>,
        /// The current key, encoded once per scope.
        key: Vec<u8>,
    },
}

/// An imported entry waiting for its table: `(key group, key, user key, value)`, encoded.
type PendingEntry = (usize, Vec<u8>, Vec<u8>, Vec<u8>);

/// The keyed state of one operator instance: every declared state, for every key of the key
/// groups it owns.
///
/// ```
/// use fuseflow_runtime::state::{KeyedStateStore, StateBackendConfig, StateRegistry};
/// let mut states = StateRegistry::new();
/// let count = states.value::<u64>("count");
/// let mut store = KeyedStateStore::<String>::new(states, 128, &StateBackendConfig::Heap, "op").unwrap();
/// let key = "alice".to_owned();
/// let mut scope = store.scope(&key, 3, 0);
/// scope.value(count).update_with(|| 0, |c| *c += 1);
/// assert_eq!(scope.value(count).get(), Some(1));
/// ```
pub struct KeyedStateStore<K> {
    decls: Vec<Decl>,
    any_ttl: bool,
    max_parallelism: usize,
    tables: Tables,
    _key: PhantomData<fn(K) -> K>,
}

impl<K: StateKey> KeyedStateStore<K> {
    /// The declared states as `name:kind` in declaration order, for a checkpoint's schema.
    pub fn describe_states(&self) -> String {
        self.decls.iter().map(|d| d.describe()).collect::<Vec<_>>().join(",")
    }

    /// A store for the states declared in `registry`, over `max_parallelism` key groups, on
    /// the path `config` chooses; `operator` is the operator's stable id.
    pub fn new(
        registry: StateRegistry,
        max_parallelism: usize,
        config: &StateBackendConfig,
        operator: &str,
    ) -> Result<Self, StateError> {
        let max_parallelism = max_parallelism.max(1);
        let decls = registry.decls;
        let tables = match config {
            StateBackendConfig::Heap => Tables::Heap {
                tables: decls.iter().map(|_| None).collect(),
                pending: decls.iter().map(|_| Vec::new()).collect(),
                key_groups: max_parallelism,
            },
            StateBackendConfig::Backend(factory) => Tables::Bytes {
                backend: factory(&BackendContext {
                    operator,
                    max_parallelism,
                })?,
                key: Vec::new(),
            },
        };
        Ok(KeyedStateStore {
            any_ttl: decls.iter().any(|d| d.ttl.is_some()),
            decls,
            max_parallelism,
            tables,
            _key: PhantomData,
        })
    }

    /// Whether some state has a time-to-live (then the operator reads its clock per call).
    pub fn has_ttl(&self) -> bool {
        self.any_ttl
    }

    /// The number of key groups.
    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    /// The state of `key` (in `key_group`), at processing time `now` (for TTL).
    ///
    /// # Panics
    ///
    /// On access, if `key_group >= max_parallelism`.
    pub fn scope<'a>(&'a mut self, key: &'a K, key_group: usize, now: i64) -> KeyedState<'a, K> {
        if let Tables::Bytes { key: buf, .. } = &mut self.tables {
            buf.clear();
            encode_into(key, buf);
        }
        KeyedState {
            decls: &self.decls,
            tables: &mut self.tables,
            key,
            key_group,
            now,
        }
    }

    /// Calls `visit(state, key, user_key, value)` for the entries of `key_group`, encoded as
    /// the byte backends store them: what a checkpoint will write. The heap path leaves out
    /// entries expired at `now` (except imported entries of a state not accessed since,
    /// exported as imported); a byte backend exports what it holds.
    pub fn export_key_group(&self, key_group: usize, now: i64, visit: EntryVisitor<'_>) -> Result<(), StateError> {
        match &self.tables {
            Tables::Heap { tables, pending, .. } => {
                for (id, table) in tables.iter().enumerate() {
                    if let Some(t) = table {
                        let ttl = self.decls[id].ttl;
                        t.export(key_group, ttl, now, &mut |k, uk, v| visit(id as u32, k, uk, v));
                    }
                    for (kg, k, uk, v) in &pending[id] {
                        if *kg == key_group {
                            visit(id as u32, k, uk, v);
                        }
                    }
                }
                Ok(())
            }
            Tables::Bytes { backend, .. } => backend.export_key_group(key_group as u32, visit),
        }
    }

    /// Stores one entry as [`export_key_group`](Self::export_key_group) reported it: what a
    /// restore does for each entry of the key groups this instance takes over, on either
    /// path. `state` is the declaration index of the state in this operator's registry.
    ///
    /// On the heap path an entry of a state not yet accessed waits, encoded, until the
    /// state's first access (its types are not known before): a bad entry then fails that
    /// access, as a bad stored value fails a byte backend's read.
    pub fn import_entry(
        &mut self,
        key_group: usize,
        state: u32,
        key: &[u8],
        user_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let Some(decl) = self.decls.get(state as usize) else {
            return Err(StateError::Backend(format!(
                "no state with index {state} in this operator ({} declared)",
                self.decls.len()
            )));
        };
        if key_group >= self.max_parallelism {
            return Err(StateError::Backend(format!("key group {key_group} out of range")));
        }
        match &mut self.tables {
            Tables::Heap { tables, pending, .. } => match &mut tables[state as usize] {
                Some(t) => t.import(key_group, (key, user_key, value), decl.ttl.is_some(), &decl.name),
                None => {
                    pending[state as usize].push((key_group, key.to_vec(), user_key.to_vec(), value.to_vec()));
                    Ok(())
                }
            },
            Tables::Bytes { backend, .. } => backend.import_entry(key_group as u32, state, key, user_key, value),
        }
    }
}

/// The state of the current key: what a keyed function reads and writes while it handles a
/// record or a timer of that key. Get a typed view of one declared state with
/// [`value`](Self::value), [`map`](Self::map) or [`list`](Self::list).
pub struct KeyedState<'a, K> {
    decls: &'a [Decl],
    tables: &'a mut Tables,
    key: &'a K,
    key_group: usize,
    now: i64,
}

impl<'a, K: StateKey> KeyedState<'a, K> {
    /// The current key.
    pub fn key(&self) -> &'a K {
        self.key
    }

    /// The current key's key group.
    pub fn key_group(&self) -> usize {
        self.key_group
    }

    /// The processing time TTL is measured against during this call (read once per call).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The current key's value in `state`.
    ///
    /// # Panics
    ///
    /// If `state` was not declared in this operator's registry, or with other types.
    pub fn value<V: StateValue>(&mut self, state: ValueState<V>) -> ValueRef<'_, K, V> {
        ValueRef {
            slot: self.slot(state.id, StateKind::Value),
            _ty: PhantomData,
        }
    }

    /// The current key's map in `state` (panics as [`value`](Self::value)).
    pub fn map<UK: StateValue + Ord, UV: StateValue>(&mut self, state: MapState<UK, UV>) -> MapRef<'_, K, UK, UV> {
        MapRef {
            slot: self.slot(state.id, StateKind::Map),
            _ty: PhantomData,
        }
    }

    /// The current key's list in `state` (panics as [`value`](Self::value)).
    pub fn list<V: StateValue>(&mut self, state: ListState<V>) -> ListRef<'_, K, V> {
        ListRef {
            slot: self.slot(state.id, StateKind::List),
            _ty: PhantomData,
        }
    }

    fn slot(&mut self, id: u32, kind: StateKind) -> Slot<'_, K> {
        let decls = self.decls;
        let decl = lookup(decls, id, kind);
        Slot {
            name: &decl.name,
            ttl: decl.ttl,
            id,
            tables: &mut *self.tables,
            key: self.key,
            key_group: self.key_group,
            now: self.now,
        }
    }
}

/// One state of the current key, before its types are known.
struct Slot<'s, K> {
    name: &'s str,
    ttl: Option<StateTtl>,
    id: u32,
    tables: &'s mut Tables,
    key: &'s K,
    key_group: usize,
    now: i64,
}

/// The typed table of a state, or the backend and the address of the current key.
enum Access<'s, T> {
    Heap(&'s mut T),
    Bytes(&'s mut dyn StateBackend, KeyAddr<'s>),
}

impl<K> Slot<'_, K> {
    fn access<T: HeapTable + 'static>(&mut self, make: fn(usize) -> T) -> Access<'_, T> {
        let (name, id, ttl) = (self.name, self.id as usize, self.ttl.is_some());
        match &mut *self.tables {
            Tables::Heap {
                tables,
                pending,
                key_groups,
            } => {
                let n = *key_groups;
                let table = tables[id].get_or_insert_with(|| {
                    let mut table = Box::new(make(n)) as Box<dyn HeapTable>;
                    for (kg, k, uk, v) in std::mem::take(&mut pending[id]) {
                        or_fail(table.import(kg, (&k, &uk, &v), ttl, name));
                    }
                    table
                });
                Access::Heap(table.as_any_mut().downcast_mut::<T>().unwrap_or_else(|| {
                    panic!("keyed state `{name}` is used with other types than it was declared with")
                }))
            }
            Tables::Bytes { backend, key } => Access::Bytes(
                &mut **backend,
                KeyAddr {
                    state: self.id,
                    key_group: self.key_group as u32,
                    key,
                },
            ),
        }
    }

    /// Whether reads refresh an entry's age.
    fn refresh_on_read(&self) -> bool {
        self.ttl.is_some_and(|t| t.update == TtlUpdate::OnReadAndWrite)
    }
}

/// Unwraps a backend result: a failing state access fails the task.
fn or_fail<T>(r: Result<T, StateError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The current key's value in a [`ValueState`].
pub struct ValueRef<'s, K, V> {
    slot: Slot<'s, K>,
    _ty: PhantomData<fn() -> V>,
}

impl<K: StateKey, V: StateValue> ValueRef<'_, K, V> {
    /// The value, if set and not expired (an expired value is removed). With
    /// [`TtlUpdate::OnReadAndWrite`] a returned value's age restarts.
    pub fn get(&mut self) -> Option<V> {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, name, ttl, refresh) = (s.key, s.name, s.ttl, s.refresh_on_read());
        match s.access(ValueTable::<K, V>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let cell = map.get_mut(key)?;
                if cell.expired(ttl, now) {
                    map.remove(key);
                    return None;
                }
                if refresh {
                    cell.ts = now;
                }
                Some(cell.value.clone())
            }
            Access::Bytes(b, at) => {
                let bytes = or_fail(b.get(at, &[]))?;
                let (v, ts) = or_fail(decode_cell::<V>(&bytes, ttl.is_some(), name));
                if ttl.is_some_and(|t| t.expired(ts, now)) {
                    or_fail(b.delete(at, &[]));
                    return None;
                }
                if refresh {
                    or_fail(b.put(at, &[], &encode_cell(&v, now, true)));
                }
                Some(v)
            }
        }
    }

    /// Sets the value (a write: its age restarts).
    pub fn update(&mut self, value: V) {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, ttl) = (s.key, s.ttl);
        match s.access(ValueTable::<K, V>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                match map.get_mut(key) {
                    Some(cell) => *cell = Stamped::new(value, now),
                    None => {
                        map.insert(key.clone(), Stamped::new(value, now));
                    }
                }
            }
            Access::Bytes(b, at) => or_fail(b.put(at, &[], &encode_cell(&value, now, ttl.is_some()))),
        }
    }

    /// Changes the value in place: `f` gets the current value, or `init()` if there is none
    /// (or it expired). A write: the value's age restarts. On the heap path this is one hash
    /// lookup and no clone, the fastest way to keep a counter.
    pub fn update_with<R>(&mut self, init: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, name, ttl) = (s.key, s.name, s.ttl);
        match s.access(ValueTable::<K, V>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                if let Some(cell) = map.get_mut(key) {
                    if cell.expired(ttl, now) {
                        cell.value = init();
                    }
                    cell.ts = now;
                    return f(&mut cell.value);
                }
                let cell = map.entry(key.clone()).or_insert(Stamped::new(init(), now));
                f(&mut cell.value)
            }
            Access::Bytes(b, at) => {
                let mut value = match or_fail(b.get(at, &[])) {
                    Some(bytes) => {
                        let (v, ts) = or_fail(decode_cell::<V>(&bytes, ttl.is_some(), name));
                        if ttl.is_some_and(|t| t.expired(ts, now)) {
                            init()
                        } else {
                            v
                        }
                    }
                    None => init(),
                };
                let r = f(&mut value);
                or_fail(b.put(at, &[], &encode_cell(&value, now, ttl.is_some())));
                r
            }
        }
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let key = s.key;
        match s.access(ValueTable::<K, V>::new) {
            Access::Heap(t) => {
                t.groups[kg].remove(key);
            }
            Access::Bytes(b, at) => or_fail(b.delete(at, &[])),
        }
    }
}

/// The current key's map in a [`MapState`]. Each entry has its own age under a TTL.
pub struct MapRef<'s, K, UK, UV> {
    slot: Slot<'s, K>,
    _ty: PhantomData<fn() -> (UK, UV)>,
}

impl<K: StateKey, UK: StateValue + Ord, UV: StateValue> MapRef<'_, K, UK, UV> {
    /// Applies `f` to the live value at `user_key` (removing it if expired, refreshing its
    /// age if reads do).
    fn with<R>(&mut self, user_key: &UK, f: impl FnOnce(&UV) -> R) -> Option<R> {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, name, ttl, refresh) = (s.key, s.name, s.ttl, s.refresh_on_read());
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let inner = map.get_mut(key)?;
                let cell = inner.get_mut(user_key)?;
                if cell.expired(ttl, now) {
                    inner.remove(user_key);
                    if inner.is_empty() {
                        map.remove(key);
                    }
                    return None;
                }
                if refresh {
                    cell.ts = now;
                }
                Some(f(&cell.value))
            }
            Access::Bytes(b, at) => {
                let uk = encode(user_key);
                let bytes = or_fail(b.get(at, &uk))?;
                let (v, ts) = or_fail(decode_cell::<UV>(&bytes, ttl.is_some(), name));
                if ttl.is_some_and(|t| t.expired(ts, now)) {
                    or_fail(b.delete(at, &uk));
                    return None;
                }
                if refresh {
                    or_fail(b.put(at, &uk, &encode_cell(&v, now, true)));
                }
                Some(f(&v))
            }
        }
    }

    /// The value at `user_key`, if present and not expired.
    pub fn get(&mut self, user_key: &UK) -> Option<UV> {
        self.with(user_key, UV::clone)
    }

    /// Whether `user_key` has a live value (a read, for TTL).
    pub fn contains(&mut self, user_key: &UK) -> bool {
        self.with(user_key, |_| ()).is_some()
    }

    /// Sets the value at `user_key` (a write: the entry's age restarts).
    pub fn put(&mut self, user_key: UK, value: UV) {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, ttl) = (s.key, s.ttl);
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let cell = Stamped::new(value, now);
                match map.get_mut(key) {
                    Some(inner) => {
                        inner.insert(user_key, cell);
                    }
                    None => {
                        map.insert(key.clone(), BTreeMap::from([(user_key, cell)]));
                    }
                }
            }
            Access::Bytes(b, at) => or_fail(b.put(at, &encode(&user_key), &encode_cell(&value, now, ttl.is_some()))),
        }
    }

    /// Removes the entry at `user_key`, if any.
    pub fn remove(&mut self, user_key: &UK) {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let key = s.key;
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                if let Some(inner) = map.get_mut(key) {
                    inner.remove(user_key);
                    if inner.is_empty() {
                        map.remove(key);
                    }
                }
            }
            Access::Bytes(b, at) => or_fail(b.delete(at, &encode(user_key))),
        }
    }

    /// The live entries in ascending order of user key, whatever the backend (expired ones
    /// are removed; with [`TtlUpdate::OnReadAndWrite`] the returned ones are refreshed).
    pub fn entries(&mut self) -> Vec<(UK, UV)> {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, name, ttl, refresh) = (s.key, s.name, s.ttl, s.refresh_on_read());
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let Some(inner) = map.get_mut(key) else {
                    return Vec::new();
                };
                if ttl.is_some() {
                    inner.retain(|_, c| !c.expired(ttl, now));
                    if refresh {
                        inner.values_mut().for_each(|c| c.ts = now);
                    }
                }
                let out: Vec<(UK, UV)> = inner.iter().map(|(k, c)| (k.clone(), c.value.clone())).collect();
                if out.is_empty() {
                    map.remove(key);
                }
                out
            }
            Access::Bytes(b, at) => {
                let mut raw = Vec::new();
                or_fail(b.scan(at, &mut |uk, v| raw.push((uk.to_vec(), v.to_vec()))));
                let mut out = Vec::with_capacity(raw.len());
                for (uk, bytes) in raw {
                    let (v, ts) = or_fail(decode_cell::<UV>(&bytes, ttl.is_some(), name));
                    if ttl.is_some_and(|t| t.expired(ts, now)) {
                        or_fail(b.delete(at, &uk));
                        continue;
                    }
                    if refresh {
                        or_fail(b.put(at, &uk, &encode_cell(&v, now, true)));
                    }
                    out.push((or_fail(decode::<UK>(&uk, name)), v));
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
        }
    }

    /// The live user keys, in ascending order.
    pub fn keys(&mut self) -> Vec<UK> {
        self.entries().into_iter().map(|(k, _)| k).collect()
    }

    /// Whether the map has no live entry (does not refresh ages).
    pub fn is_empty(&mut self) -> bool {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let (key, name, ttl, now) = (s.key, s.name, s.ttl, s.now);
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => t.groups[kg]
                .get(key)
                .is_none_or(|inner| inner.values().all(|c| c.expired(ttl, now))),
            Access::Bytes(b, at) => {
                let (mut live, mut error) = (false, None);
                or_fail(b.scan(at, &mut |_, bytes| {
                    if live || error.is_some() {
                        return;
                    }
                    match decode_cell::<UV>(bytes, ttl.is_some(), name) {
                        Ok((_, ts)) => live = !ttl.is_some_and(|t| t.expired(ts, now)),
                        Err(e) => error = Some(e),
                    }
                }));
                if let Some(e) = error {
                    panic!("{e}");
                }
                !live
            }
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let key = s.key;
        match s.access(MapTable::<K, UK, UV>::new) {
            Access::Heap(t) => {
                t.groups[kg].remove(key);
            }
            Access::Bytes(b, at) => or_fail(b.delete_key(at)),
        }
    }
}

/// The current key's list in a [`ListState`]. Each element has its own age under a TTL.
pub struct ListRef<'s, K, V> {
    slot: Slot<'s, K>,
    _ty: PhantomData<fn() -> V>,
}

impl<K: StateKey, V: StateValue> ListRef<'_, K, V> {
    /// The live elements in insertion order (expired ones are removed; with
    /// [`TtlUpdate::OnReadAndWrite`] the returned ones are refreshed).
    pub fn get(&mut self) -> Vec<V> {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, name, ttl, refresh) = (s.key, s.name, s.ttl, s.refresh_on_read());
        match s.access(ListTable::<K, V>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let Some(list) = map.get_mut(key) else {
                    return Vec::new();
                };
                if ttl.is_some() {
                    list.retain(|c| !c.expired(ttl, now));
                    if refresh {
                        list.iter_mut().for_each(|c| c.ts = now);
                    }
                }
                let out: Vec<V> = list.iter().map(|c| c.value.clone()).collect();
                if out.is_empty() {
                    map.remove(key);
                }
                out
            }
            Access::Bytes(b, at) => {
                let Some(bytes) = or_fail(b.get(at, &[])) else {
                    return Vec::new();
                };
                let mut all = Vec::new();
                for element in frames(&bytes, name) {
                    all.push(or_fail(decode_cell::<V>(or_fail(element), ttl.is_some(), name)));
                }
                let before = all.len();
                all.retain(|(_, ts)| !ttl.is_some_and(|t| t.expired(*ts, now)));
                if all.is_empty() {
                    or_fail(b.delete(at, &[]));
                } else if all.len() != before || refresh {
                    let mut rewritten = Vec::new();
                    for (v, ts) in &all {
                        let ts = if refresh { now } else { *ts };
                        frame(&encode_cell(v, ts, ttl.is_some()), &mut rewritten);
                    }
                    or_fail(b.put(at, &[], &rewritten));
                }
                all.into_iter().map(|(v, _)| v).collect()
            }
        }
    }

    /// Appends `value` (a write for this element).
    pub fn add(&mut self, value: V) {
        self.add_all(std::iter::once(value));
    }

    /// Appends every value, in order.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = V>) {
        let (kg, now) = (self.slot.key_group, self.slot.now);
        let s = &mut self.slot;
        let (key, ttl) = (s.key, s.ttl);
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return;
        }
        match s.access(ListTable::<K, V>::new) {
            Access::Heap(t) => {
                let map = &mut t.groups[kg];
                let cells = values.map(|v| Stamped::new(v, now));
                match map.get_mut(key) {
                    Some(list) => list.extend(cells),
                    None => {
                        map.insert(key.clone(), cells.collect());
                    }
                }
            }
            Access::Bytes(b, at) => {
                let mut bytes = Vec::new();
                for v in values {
                    frame(&encode_cell(&v, now, ttl.is_some()), &mut bytes);
                }
                or_fail(b.append(at, &[], &bytes));
            }
        }
    }

    /// Replaces the list with `values` (all written now).
    pub fn update(&mut self, values: impl IntoIterator<Item = V>) {
        self.clear();
        self.add_all(values);
    }

    /// Whether the list has no live element (does not refresh ages).
    pub fn is_empty(&mut self) -> bool {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let (key, name, ttl, now) = (s.key, s.name, s.ttl, s.now);
        match s.access(ListTable::<K, V>::new) {
            Access::Heap(t) => t.groups[kg]
                .get(key)
                .is_none_or(|list| list.iter().all(|c| c.expired(ttl, now))),
            Access::Bytes(b, at) => {
                let Some(bytes) = or_fail(b.get(at, &[])) else {
                    return true;
                };
                !frames(&bytes, name).any(|element| {
                    let (_, ts) = or_fail(decode_cell::<V>(or_fail(element), ttl.is_some(), name));
                    !ttl.is_some_and(|t| t.expired(ts, now))
                })
            }
        }
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        let kg = self.slot.key_group;
        let s = &mut self.slot;
        let key = s.key;
        match s.access(ListTable::<K, V>::new) {
            Access::Heap(t) => {
                t.groups[kg].remove(key);
            }
            Access::Bytes(b, at) => or_fail(b.delete(at, &[])),
        }
    }
}
