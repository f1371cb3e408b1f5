//! Typed in-memory state tables (Flink's `HeapKeyedStateBackend`): one table per declared
//! state, each a hash map per key group from the key to its typed data.
//!
//! Nothing is encoded on access: a value state's `get` is one hash lookup and a clone. Every
//! stored value carries the time of its last update (8 bytes), used only by states with a
//! time-to-live. A table encodes itself, in the format of the byte-level backends
//! ([`codec`](super::codec)), only when asked for a key group's snapshot.

use super::codec::{decode, decode_cell, encode, encode_cell, frame, frames};
use super::{StateError, StateKey, StateTtl, StateValue};
use foldhash::fast::FixedState;
use std::any::Any;
use std::collections::{BTreeMap, HashMap};

/// Receives the encoded entries of one state: `(key, user key, value)`.
pub(crate) type KeyVisitor<'a> = &'a mut dyn FnMut(&[u8], &[u8], &[u8]);

/// A typed table behind a type-erased handle.
pub(crate) trait HeapTable: Send {
    /// For the typed accessors to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// Calls `visit(key, user_key, value)` for every live entry of `key_group`, encoded.
    fn export(&self, key_group: usize, ttl: Option<StateTtl>, now: i64, visit: KeyVisitor<'_>);

    /// Stores one entry of `key_group` as [`export`](Self::export) wrote it, replacing the
    /// key's value (a map: the user key's); `ttl` tells whether values carry their write
    /// time, `state` names the state for errors.
    fn import(&mut self, key_group: usize, entry: Imported<'_>, ttl: bool, state: &str) -> Result<(), StateError>;
}

/// An encoded entry to import: `(key, user key, value)`.
pub(crate) type Imported<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// A stored value and the time of its last update (processing time, ms).
#[derive(Debug, Clone)]
pub(crate) struct Stamped<V> {
    pub(crate) value: V,
    pub(crate) ts: i64,
}

impl<V> Stamped<V> {
    pub(crate) fn new(value: V, ts: i64) -> Self {
        Stamped { value, ts }
    }

    /// Whether this entry has expired under `ttl` at `now`.
    #[inline]
    pub(crate) fn expired(&self, ttl: Option<StateTtl>, now: i64) -> bool {
        ttl.is_some_and(|t| t.expired(self.ts, now))
    }
}

/// One hash map per key group.
pub(crate) type Groups<K, S> = Vec<HashMap<K, S, FixedState>>;

fn groups<K, S>(n: usize) -> Groups<K, S> {
    (0..n)
        .map(|_| HashMap::with_hasher(FixedState::with_seed(0x57a7e)))
        .collect()
}

/// A value state: key → value.
pub(crate) struct ValueTable<K, V> {
    pub(crate) groups: Groups<K, Stamped<V>>,
}

impl<K, V> ValueTable<K, V> {
    pub(crate) fn new(key_groups: usize) -> Self {
        ValueTable {
            groups: groups(key_groups),
        }
    }
}

/// A map state: key → (user key → value), user keys in order.
pub(crate) struct MapTable<K, UK, UV> {
    pub(crate) groups: Groups<K, BTreeMap<UK, Stamped<UV>>>,
}

impl<K, UK, UV> MapTable<K, UK, UV> {
    pub(crate) fn new(key_groups: usize) -> Self {
        MapTable {
            groups: groups(key_groups),
        }
    }
}

/// A list state: key → elements in insertion order.
pub(crate) struct ListTable<K, V> {
    pub(crate) groups: Groups<K, Vec<Stamped<V>>>,
}

impl<K, V> ListTable<K, V> {
    pub(crate) fn new(key_groups: usize) -> Self {
        ListTable {
            groups: groups(key_groups),
        }
    }
}

impl<K: StateKey, V: StateValue> HeapTable for ValueTable<K, V> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn export(&self, kg: usize, ttl: Option<StateTtl>, now: i64, visit: KeyVisitor<'_>) {
        for (k, cell) in &self.groups[kg] {
            if !cell.expired(ttl, now) {
                visit(&encode(k), &[], &encode_cell(&cell.value, cell.ts, ttl.is_some()));
            }
        }
    }

    fn import(&mut self, kg: usize, (k, _, v): Imported<'_>, ttl: bool, state: &str) -> Result<(), StateError> {
        let (value, ts) = decode_cell(v, ttl, state)?;
        self.groups[kg].insert(decode(k, state)?, Stamped::new(value, ts));
        Ok(())
    }
}

impl<K: StateKey, UK: StateValue + Ord, UV: StateValue> HeapTable for MapTable<K, UK, UV> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn export(&self, kg: usize, ttl: Option<StateTtl>, now: i64, visit: KeyVisitor<'_>) {
        for (k, map) in &self.groups[kg] {
            let key = encode(k);
            for (uk, cell) in map {
                if !cell.expired(ttl, now) {
                    visit(&key, &encode(uk), &encode_cell(&cell.value, cell.ts, ttl.is_some()));
                }
            }
        }
    }

    fn import(&mut self, kg: usize, (k, uk, v): Imported<'_>, ttl: bool, state: &str) -> Result<(), StateError> {
        let (value, ts) = decode_cell(v, ttl, state)?;
        let user_key = decode(uk, state)?;
        self.groups[kg]
            .entry(decode(k, state)?)
            .or_default()
            .insert(user_key, Stamped::new(value, ts));
        Ok(())
    }
}

impl<K: StateKey, V: StateValue> HeapTable for ListTable<K, V> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn export(&self, kg: usize, ttl: Option<StateTtl>, now: i64, visit: KeyVisitor<'_>) {
        for (k, list) in &self.groups[kg] {
            let mut bytes = Vec::new();
            for cell in list.iter().filter(|c| !c.expired(ttl, now)) {
                frame(&encode_cell(&cell.value, cell.ts, ttl.is_some()), &mut bytes);
            }
            if !bytes.is_empty() {
                visit(&encode(k), &[], &bytes);
            }
        }
    }

    fn import(&mut self, kg: usize, (k, _, v): Imported<'_>, ttl: bool, state: &str) -> Result<(), StateError> {
        let mut list = Vec::new();
        for element in frames(v, state) {
            let (value, ts) = decode_cell(element?, ttl, state)?;
            list.push(Stamped::new(value, ts));
        }
        self.groups[kg].insert(decode(k, state)?, list);
        Ok(())
    }
}
