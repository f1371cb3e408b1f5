//! The per-window key table: a hash table that remembers insertion order.
//!
//! Each open window holds one [`KeyTable`] from key to accumulator. It answers the two
//! questions of the hot path with no allocation beyond the new entry itself: "where is this
//! key's accumulator?" (one hash, one probe sequence) and "in which order did the keys
//! arrive?" (the entries are a `Vec` in first-arrival order, which is the order results are
//! emitted in). The key is moved into the table, never cloned, and a table emptied by
//! [`clear`](KeyTable::clear) or [`drain`](KeyTable::drain) keeps its capacity so that the
//! next window can reuse it.
//!
//! The index is open addressing with linear probing over `u32` entry indices, kept at most
//! half full; each slot also stores the low 32 bits of the key's hash, so that growing never
//! rehashes a key and most probes never compare keys. Hashing uses foldhash with a fixed seed,
//! but nothing observable depends on hash values: iteration follows insertion order.

use foldhash::fast::FixedState;
use std::hash::{BuildHasher, Hash};

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Slot {
    /// Index into `entries`, or [`EMPTY`].
    idx: u32,
    /// The low 32 bits of the key's hash: the home position, and a cheap pre-filter.
    tag: u32,
}

const EMPTY_SLOT: Slot = Slot { idx: EMPTY, tag: 0 };

/// An insertion-ordered hash table from keys to values.
pub(crate) struct KeyTable<K, V> {
    entries: Vec<(K, V)>,
    /// Power-of-two length (or zero), at most half occupied.
    slots: Vec<Slot>,
    hasher: FixedState,
}

impl<K, V> Default for KeyTable<K, V> {
    fn default() -> Self {
        KeyTable {
            entries: Vec::new(),
            slots: Vec::new(),
            hasher: FixedState::with_seed(0x5eed_f00d),
        }
    }
}

impl<K: Hash + Eq, V> KeyTable<K, V> {
    /// Sets `key`'s value to `value`, appending the entry if the key is new (a restore).
    pub(crate) fn upsert(&mut self, key: K, value: V) {
        let mut value = Some(value);
        let idx = self.find_or_insert_with(key, || value.take().expect("called once"));
        if let Some(value) = value {
            *self.value_mut(idx) = value;
        }
    }

    /// The index of `key`'s entry, inserting `(key, make())` at the end if it is new.
    #[inline]
    pub(crate) fn find_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> usize {
        let tag = self.hasher.hash_one(&key) as u32;
        if self.entries.len() * 2 >= self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = tag as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.idx == EMPTY {
                let idx = self.entries.len();
                assert!(idx < EMPTY as usize, "a window holds at most {} keys", EMPTY - 1);
                self.slots[i] = Slot { idx: idx as u32, tag };
                self.entries.push((key, make()));
                return idx;
            }
            if slot.tag == tag && self.entries[slot.idx as usize].0 == key {
                return slot.idx as usize;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the index (at least 16 slots) and re-inserts every entry by its stored tag.
    #[cold]
    fn grow(&mut self) {
        let len = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; len]);
        let mask = len - 1;
        for slot in old.into_iter().filter(|s| s.idx != EMPTY) {
            let mut i = slot.tag as usize & mask;
            while self.slots[i].idx != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

impl<K, V> KeyTable<K, V> {
    /// The number of keys.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `idx` (as returned by [`find_or_insert_with`](Self::find_or_insert_with)).
    #[inline]
    pub(crate) fn entry(&self, idx: usize) -> &(K, V) {
        &self.entries[idx]
    }

    /// The value at `idx`, mutably.
    #[inline]
    pub(crate) fn value_mut(&mut self, idx: usize) -> &mut V {
        &mut self.entries[idx].1
    }

    /// The entries in insertion order.
    pub(crate) fn entries(&self) -> &[(K, V)] {
        &self.entries
    }

    /// Empties the table, yielding the entries in insertion order; capacity is kept.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, (K, V)> {
        self.slots.fill(EMPTY_SLOT);
        self.entries.drain(..)
    }

    /// Empties the table; capacity is kept.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY_SLOT);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserts_and_keeps_insertion_order() {
        let mut t: KeyTable<u64, u64> = KeyTable::default();
        for round in 0..3u64 {
            for k in (0..10_000u64).rev() {
                let i = t.find_or_insert_with(k * 7919, || 0);
                *t.value_mut(i) += k + round;
            }
        }
        assert_eq!(t.len(), 10_000);
        for (n, (k, v)) in t.entries().iter().enumerate() {
            let orig = 9_999 - n as u64;
            assert_eq!(*k, orig * 7919);
            assert_eq!(*v, 3 * orig + 3);
        }
        let drained: Vec<u64> = t.drain().map(|(k, _)| k).take(2).collect();
        assert_eq!(drained, [9_999 * 7919, 9_998 * 7919]);
        assert!(t.is_empty());
        let i = t.find_or_insert_with(5, || 1);
        assert_eq!((i, t.entry(i).1), (0, 1));
        t.clear();
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn string_keys_are_moved_not_cloned() {
        let mut t: KeyTable<String, u32> = KeyTable::default();
        for w in "a b a c b a".split(' ') {
            let i = t.find_or_insert_with(w.to_string(), || 0);
            *t.value_mut(i) += 1;
        }
        let got: Vec<(&str, u32)> = t.entries().iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("a", 3), ("b", 2), ("c", 1)]);
    }
}
