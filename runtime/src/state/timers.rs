//! Event-time timers of a keyed operator (Flink's `InternalTimerService` for event time):
//! at most one timer per key and timestamp, firing in timestamp order, ties in registration
//! order.
//!
//! The queue is ordered by `(timestamp, registration number)`; an index per key holds the
//! key's timers, sorted by timestamp, so registering, deleting and deduplicating cost a hash
//! lookup and a binary search among that key's few timers. Each timer remembers its key
//! group, so a checkpoint can write timers per key group, as Flink does.

use crate::Timestamp;
use foldhash::fast::FixedState;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// The pending event-time timers of one operator instance.
///
/// ```
/// use fuseflow_runtime::state::EventTimeTimers;
/// let mut timers = EventTimeTimers::new();
/// timers.register(&"b", 0, 20);
/// timers.register(&"a", 0, 10);
/// assert!(!timers.register(&"a", 0, 10), "one timer per key and timestamp");
/// assert_eq!(timers.pop_due(15), Some((10, "a", 0)));
/// assert_eq!(timers.pop_due(15), None);
/// ```
#[derive(Debug, Clone)]
pub struct EventTimeTimers<K> {
    /// `(timestamp, registration number)` → key and key group, in firing order.
    queue: BTreeMap<(Timestamp, u64), (K, usize)>,
    /// Per key: its timers' `(timestamp, registration number)`, sorted by timestamp.
    by_key: HashMap<K, Vec<(Timestamp, u64)>, FixedState>,
    registered: u64,
}

impl<K: Hash + Eq + Clone> Default for EventTimeTimers<K> {
    fn default() -> Self {
        EventTimeTimers::new()
    }
}

impl<K: Hash + Eq + Clone> EventTimeTimers<K> {
    /// No timers.
    pub fn new() -> Self {
        EventTimeTimers {
            queue: BTreeMap::new(),
            by_key: HashMap::with_hasher(FixedState::with_seed(0x71_3e)),
            registered: 0,
        }
    }

    /// Registers a timer for `key` (in `key_group`) at `ts`; returns false if that key
    /// already had a timer at `ts` (which keeps its place in the order).
    pub fn register(&mut self, key: &K, key_group: usize, ts: Timestamp) -> bool {
        let seq = self.registered;
        if !self.by_key.contains_key(key) {
            self.by_key.insert(key.clone(), Vec::new());
        }
        let list = self.by_key.get_mut(key).expect("just inserted");
        let Err(at) = list.binary_search_by_key(&ts, |&(t, _)| t) else {
            return false;
        };
        list.insert(at, (ts, seq));
        self.registered += 1;
        self.queue.insert((ts, seq), (key.clone(), key_group));
        true
    }

    /// Deletes the timer of `key` at `ts`; returns false if there was none.
    pub fn delete(&mut self, key: &K, ts: Timestamp) -> bool {
        let Some(list) = self.by_key.get_mut(key) else {
            return false;
        };
        let Ok(at) = list.binary_search_by_key(&ts, |&(t, _)| t) else {
            return false;
        };
        let (_, seq) = list.remove(at);
        if list.is_empty() {
            self.by_key.remove(key);
        }
        self.queue.remove(&(ts, seq));
        true
    }

    /// The timestamp of the next timer to fire, if any.
    pub fn next_timestamp(&self) -> Option<Timestamp> {
        self.queue.first_key_value().map(|(&(ts, _), _)| ts)
    }

    /// Removes and returns the next timer `(timestamp, key, key group)` if its timestamp is
    /// at or before `watermark`.
    pub fn pop_due(&mut self, watermark: Timestamp) -> Option<(Timestamp, K, usize)> {
        let entry = self.queue.first_entry()?;
        let (ts, _) = *entry.key();
        if ts > watermark {
            return None;
        }
        let (key, key_group) = entry.remove();
        if let Some(list) = self.by_key.get_mut(&key) {
            // The key's earliest timer is the one just popped.
            if list.first().is_some_and(|&(t, _)| t == ts) {
                list.remove(0);
            }
            if list.is_empty() {
                self.by_key.remove(&key);
            }
        }
        Some((ts, key, key_group))
    }

    /// The timers of `key`, by timestamp.
    pub fn timers_of(&self, key: &K) -> impl Iterator<Item = Timestamp> + '_ {
        self.by_key.get(key).into_iter().flatten().map(|&(ts, _)| ts)
    }

    /// Every pending timer `(timestamp, key, key group)`, in firing order.
    pub fn iter(&self) -> impl Iterator<Item = (Timestamp, &K, usize)> {
        self.queue.iter().map(|(&(ts, _), (k, kg))| (ts, k, *kg))
    }

    /// The number of pending timers.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut EventTimeTimers<&'static str>, wm: Timestamp) -> Vec<(Timestamp, &'static str)> {
        std::iter::from_fn(|| t.pop_due(wm).map(|(ts, k, _)| (ts, k))).collect()
    }

    #[test]
    fn fire_in_timestamp_order_then_registration_order() {
        let mut t = EventTimeTimers::new();
        for (k, ts) in [("a", 30), ("b", 10), ("c", 30), ("a", 10), ("d", -5), ("b", 30)] {
            assert!(t.register(&k, 0, ts));
        }
        assert_eq!(t.len(), 6);
        assert_eq!(t.next_timestamp(), Some(-5));
        assert_eq!(drain(&mut t, 9), [(-5, "d")]);
        assert_eq!(drain(&mut t, 10), [(10, "b"), (10, "a")]);
        assert_eq!(drain(&mut t, 29), []);
        assert_eq!(drain(&mut t, i64::MAX), [(30, "a"), (30, "c"), (30, "b")]);
        assert!(t.is_empty());
        assert!(t.by_key.is_empty());
    }

    #[test]
    fn duplicates_are_ignored_and_deletion_frees_the_slot() {
        let mut t = EventTimeTimers::new();
        assert!(t.register(&"a", 3, 10));
        assert!(t.register(&"b", 1, 10));
        assert!(!t.register(&"a", 3, 10));
        assert!(t.register(&"a", 3, 5));
        assert_eq!(t.timers_of(&"a").collect::<Vec<_>>(), [5, 10]);
        assert!(t.delete(&"a", 10));
        assert!(!t.delete(&"a", 10));
        assert!(!t.delete(&"z", 10));
        // Registered again, it now comes after b's timer at the same time.
        assert!(t.register(&"a", 3, 10));
        assert_eq!(
            t.iter().map(|(ts, k, kg)| (ts, *k, kg)).collect::<Vec<_>>(),
            [(5, "a", 3), (10, "b", 1), (10, "a", 3)]
        );
        assert_eq!(drain(&mut t, 100), [(5, "a"), (10, "b"), (10, "a")]);
    }
}
