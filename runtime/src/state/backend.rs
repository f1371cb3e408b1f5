//! The byte-level, object-safe twin of the typed state API: [`StateBackend`], and
//! [`InMemoryBackend`], its reference implementation in memory.
//!
//! A backend stores opaque bytes at an address `(state, key group, key, user key)`. The typed
//! layer ([`KeyedState`](super::KeyedState)) encodes keys and values with the
//! [codec](super) and talks to the backend through this trait only, so a backend (RocksDB
//! next) is a new implementation, not a change to operators. The key group comes first in
//! every address: a backend keeps key groups apart (a RocksDB backend prefixes its keys with
//! it, as Flink's), so a checkpoint can snapshot and a rescaled job restore whole key groups.

use std::collections::BTreeMap;

/// A failure of a state backend, or stored bytes that do not decode as the declared type.
///
/// The typed API cannot return it from inside a user function: a state access that fails
/// panics with this message and fails the task, as a state exception fails a Flink task.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend could not read or write (I/O, corruption).
    #[error("state backend: {0}")]
    Backend(String),
    /// Stored bytes do not decode as the state's declared type.
    #[error("state `{state}`: cannot decode a stored value ({reason}); was its type changed?")]
    Decode {
        /// The state's name.
        state: String,
        /// What the decoder said.
        reason: String,
    },
}

/// Receives the entries of a key group: `(state, key, user key, value)`, encoded.
pub type EntryVisitor<'a> = &'a mut dyn FnMut(u32, &[u8], &[u8], &[u8]);

/// Where the entries of one key of one state live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyAddr<'a> {
    /// The state, by its declaration index in the operator ([`StateRegistry`](super::StateRegistry)).
    pub state: u32,
    /// The key group of the key, in `0..max_parallelism`.
    pub key_group: u32,
    /// The encoded key.
    pub key: &'a [u8],
}

/// A store of keyed state as bytes, one instance per stateful operator and worker.
///
/// A value state uses the empty user key; a map state one user key per entry; a list state
/// the empty user key, with its elements [appended](StateBackend::append) to the value.
///
/// ```
/// use fuseflow_runtime::state::{InMemoryBackend, KeyAddr, StateBackend};
/// let mut b = InMemoryBackend::new(128);
/// let at = KeyAddr { state: 0, key_group: 7, key: b"alice" };
/// b.put(at, b"", b"1").unwrap();
/// assert_eq!(b.get(at, b"").unwrap(), Some(b"1".to_vec()));
/// ```
pub trait StateBackend: Send {
    /// The value at `addr` and `user_key`, if any.
    fn get(&self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Sets the value at `addr` and `user_key`.
    fn put(&mut self, addr: KeyAddr<'_>, user_key: &[u8], value: &[u8]) -> Result<(), StateError>;

    /// Appends `bytes` to the value at `addr` and `user_key` (creating it): the list states'
    /// append, which RocksDB implements with a merge operator instead of a read.
    fn append(&mut self, addr: KeyAddr<'_>, user_key: &[u8], bytes: &[u8]) -> Result<(), StateError> {
        let mut value = self.get(addr, user_key)?.unwrap_or_default();
        value.extend_from_slice(bytes);
        self.put(addr, user_key, &value)
    }

    /// Removes the value at `addr` and `user_key`, if any.
    fn delete(&mut self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<(), StateError>;

    /// Calls `visit(user_key, value)` for every entry of `addr`, in ascending order of the
    /// user-key bytes.
    fn scan(&self, addr: KeyAddr<'_>, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StateError>;

    /// Removes every entry of `addr`.
    fn delete_key(&mut self, addr: KeyAddr<'_>) -> Result<(), StateError>;

    /// Calls `visit(state, key, user_key, value)` for every entry of `key_group`: what a
    /// checkpoint writes for the key group.
    fn export_key_group(&self, key_group: u32, visit: EntryVisitor<'_>) -> Result<(), StateError>;

    /// Stores one entry as [`export_key_group`](StateBackend::export_key_group) reported it
    /// (`state`, `key`, `user_key`, `value`, in `key_group`), replacing any value there: what
    /// a restore from a checkpoint does for each entry of the key groups it takes over.
    fn import_entry(
        &mut self,
        key_group: u32,
        state: u32,
        key: &[u8],
        user_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.put(KeyAddr { state, key_group, key }, user_key, value)
    }
}

/// A byte-level [`StateBackend`] in memory: one ordered map per key group, from
/// `state ‖ key length ‖ key ‖ user key` to the value.
///
/// Operators normally keep in-memory state in typed heap tables instead (no encoding per
/// access; see [`StateBackendConfig`](super::StateBackendConfig)). This backend runs the
/// encoded path that RocksDB will run, so tests can check that both give the same results.
#[derive(Debug, Clone)]
pub struct InMemoryBackend {
    groups: Vec<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl InMemoryBackend {
    /// An empty backend for `max_parallelism` key groups.
    pub fn new(max_parallelism: usize) -> Self {
        InMemoryBackend {
            groups: vec![BTreeMap::new(); max_parallelism.max(1)],
        }
    }

    /// The number of entries stored, over all key groups.
    pub fn len(&self) -> usize {
        self.groups.iter().map(BTreeMap::len).sum()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(BTreeMap::is_empty)
    }

    fn group(&self, kg: u32) -> Result<&BTreeMap<Vec<u8>, Vec<u8>>, StateError> {
        self.groups
            .get(kg as usize)
            .ok_or_else(|| StateError::Backend(format!("key group {kg} out of range")))
    }

    fn group_mut(&mut self, kg: u32) -> Result<&mut BTreeMap<Vec<u8>, Vec<u8>>, StateError> {
        self.groups
            .get_mut(kg as usize)
            .ok_or_else(|| StateError::Backend(format!("key group {kg} out of range")))
    }
}

/// `state ‖ key length ‖ key`: the prefix of every entry of `addr`.
fn prefix(addr: KeyAddr<'_>, extra: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + addr.key.len() + extra);
    p.extend_from_slice(&addr.state.to_be_bytes());
    p.extend_from_slice(&(addr.key.len() as u32).to_be_bytes());
    p.extend_from_slice(addr.key);
    p
}

fn full_key(addr: KeyAddr<'_>, user_key: &[u8]) -> Vec<u8> {
    let mut k = prefix(addr, user_key.len());
    k.extend_from_slice(user_key);
    k
}

impl StateBackend for InMemoryBackend {
    fn get(&self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.group(addr.key_group)?.get(&full_key(addr, user_key)).cloned())
    }

    fn put(&mut self, addr: KeyAddr<'_>, user_key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.group_mut(addr.key_group)?
            .insert(full_key(addr, user_key), value.to_vec());
        Ok(())
    }

    fn append(&mut self, addr: KeyAddr<'_>, user_key: &[u8], bytes: &[u8]) -> Result<(), StateError> {
        self.group_mut(addr.key_group)?
            .entry(full_key(addr, user_key))
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }

    fn delete(&mut self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<(), StateError> {
        self.group_mut(addr.key_group)?.remove(&full_key(addr, user_key));
        Ok(())
    }

    fn scan(&self, addr: KeyAddr<'_>, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StateError> {
        let p = prefix(addr, 0);
        for (k, v) in self.group(addr.key_group)?.range(p.clone()..) {
            let Some(user_key) = k.strip_prefix(&p[..]) else { break };
            visit(user_key, v);
        }
        Ok(())
    }

    fn delete_key(&mut self, addr: KeyAddr<'_>) -> Result<(), StateError> {
        let p = prefix(addr, 0);
        let group = self.group_mut(addr.key_group)?;
        let doomed: Vec<Vec<u8>> = group
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            group.remove(&k);
        }
        Ok(())
    }

    fn export_key_group(&self, key_group: u32, visit: EntryVisitor<'_>) -> Result<(), StateError> {
        for (k, v) in self.group(key_group)? {
            let state = u32::from_be_bytes(k[0..4].try_into().expect("4 bytes"));
            let len = u32::from_be_bytes(k[4..8].try_into().expect("4 bytes")) as usize;
            visit(state, &k[8..8 + len], &k[8 + len..], v);
        }
        Ok(())
    }
}

/// Checks that every [`StateBackend`] must pass, run against each implementation.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    /// Every entry of key groups `0..key_groups`: `(key group, state, key, user key, value)`,
    /// in export order.
    pub(crate) type Dump = Vec<(u32, u32, Vec<u8>, Vec<u8>, Vec<u8>)>;

    fn at(state: u32, key_group: u32, key: &[u8]) -> KeyAddr<'_> {
        KeyAddr { state, key_group, key }
    }

    /// Runs every check on fresh backends from `make(max_parallelism)`.
    pub(crate) fn check_all(make: &mut dyn FnMut(usize) -> Box<dyn StateBackend>) {
        entries_are_apart_by_state_key_group_and_key(&mut *make(4));
        append_extends_and_export_walks_one_key_group(&mut *make(2));
        scans_are_in_user_key_order_and_stop_at_the_key(&mut *make(3));
        import_replaces_and_round_trips(make);
    }

    /// Every entry of key groups `0..key_groups` of `b`.
    pub(crate) fn dump(b: &dyn StateBackend, key_groups: u32) -> Dump {
        let mut out = Vec::new();
        for kg in 0..key_groups {
            b.export_key_group(kg, &mut |s, k, uk, v| {
                out.push((kg, s, k.to_vec(), uk.to_vec(), v.to_vec()))
            })
            .unwrap();
        }
        out
    }

    /// Exports every key group of `from` and imports it into `to`.
    pub(crate) fn copy(from: &dyn StateBackend, to: &mut dyn StateBackend, key_groups: u32) {
        for kg in 0..key_groups {
            from.export_key_group(kg, &mut |s, k, uk, v| to.import_entry(kg, s, k, uk, v).unwrap())
                .unwrap();
        }
    }

    /// Fills `b` with a few hundred entries of every shape (puts, appends, deletes, empty and
    /// binary keys), chosen by `seed`.
    pub(crate) fn fill(b: &mut dyn StateBackend, key_groups: u32, seed: u64) {
        let mut x = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let mut next = move |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        for _ in 0..600 {
            let kg = next(u64::from(key_groups)) as u32;
            let state = next(4) as u32;
            let key: Vec<u8> = (0..next(4)).map(|_| [0, 1, 0xff, b'k'][next(4) as usize]).collect();
            let user_key: Vec<u8> = (0..next(3)).map(|_| next(256) as u8).collect();
            let value: Vec<u8> = (0..next(20)).map(|_| next(256) as u8).collect();
            let a = at(state, kg, &key);
            match next(10) {
                0..=4 => b.put(a, &user_key, &value).unwrap(),
                5..=7 => b.append(a, &user_key, &value).unwrap(),
                8 => b.delete(a, &user_key).unwrap(),
                _ => b.delete_key(a).unwrap(),
            }
        }
    }

    fn entries_are_apart_by_state_key_group_and_key(b: &mut dyn StateBackend) {
        b.put(at(0, 1, b"a"), b"", b"v0").unwrap();
        b.put(at(1, 1, b"a"), b"", b"v1").unwrap();
        b.put(at(0, 2, b"a"), b"", b"v2").unwrap();
        // "a" + user key "b" must not be confused with key "ab".
        b.put(at(0, 1, b"a"), b"b", b"ub").unwrap();
        b.put(at(0, 1, b"ab"), b"", b"k").unwrap();
        assert_eq!(b.get(at(0, 1, b"a"), b"").unwrap().unwrap(), b"v0");
        assert_eq!(b.get(at(1, 1, b"a"), b"").unwrap().unwrap(), b"v1");
        assert_eq!(b.get(at(0, 2, b"a"), b"").unwrap().unwrap(), b"v2");
        assert_eq!(b.get(at(0, 3, b"a"), b"").unwrap(), None);
        let mut seen = Vec::new();
        b.scan(at(0, 1, b"a"), &mut |uk, v| seen.push((uk.to_vec(), v.to_vec())))
            .unwrap();
        assert_eq!(seen, [(b"".to_vec(), b"v0".to_vec()), (b"b".to_vec(), b"ub".to_vec())]);
        b.delete_key(at(0, 1, b"a")).unwrap();
        assert_eq!(b.get(at(0, 1, b"ab"), b"").unwrap().unwrap(), b"k");
        assert_eq!(dump(b, 4).len(), 3);
        assert!(b.get(at(0, 4, b"a"), b"").is_err());
        assert!(b.put(at(0, 9, b"a"), b"", b"").is_err());
        assert!(b.export_key_group(4, &mut |_, _, _, _| ()).is_err());
    }

    fn append_extends_and_export_walks_one_key_group(b: &mut dyn StateBackend) {
        b.append(at(3, 1, b"k"), b"", b"ab").unwrap();
        b.append(at(3, 1, b"k"), b"", b"c").unwrap();
        b.put(at(4, 1, b"k"), b"u", b"x").unwrap();
        b.append(at(4, 1, b"k"), b"u", b"y").unwrap();
        b.put(at(4, 0, b"other"), b"", b"y").unwrap();
        b.delete(at(4, 0, b"other"), b"").unwrap();
        b.append(at(4, 0, b"gone"), b"", b"z").unwrap();
        b.delete(at(4, 0, b"gone"), b"").unwrap();
        b.append(at(4, 0, b"gone"), b"", b"new").unwrap();
        assert_eq!(b.get(at(4, 0, b"gone"), b"").unwrap().unwrap(), b"new");
        let mut out = Vec::new();
        b.export_key_group(1, &mut |s, k, uk, v| out.push((s, k.to_vec(), uk.to_vec(), v.to_vec())))
            .unwrap();
        assert_eq!(
            out,
            [
                (3, b"k".to_vec(), vec![], b"abc".to_vec()),
                (4, b"k".to_vec(), b"u".to_vec(), b"xy".to_vec())
            ]
        );
        b.delete(at(4, 0, b"gone"), b"").unwrap();
        let mut none = 0;
        b.export_key_group(0, &mut |_, _, _, _| none += 1).unwrap();
        assert_eq!(none, 0);
    }

    fn scans_are_in_user_key_order_and_stop_at_the_key(b: &mut dyn StateBackend) {
        // Keys of 0xff bytes: the end of a prefix range has no simple successor.
        let k = [0xffu8; 3];
        for uk in [&b"\xff\xff"[..], b"\x00", b"b", b"", b"a\xff"] {
            b.put(at(u32::MAX, 2, &k), uk, uk).unwrap();
        }
        b.put(at(u32::MAX, 2, &[0xff; 4]), b"", b"longer key").unwrap();
        b.put(at(u32::MAX, 2, &[0xff; 2]), b"\xff", b"shorter key").unwrap();
        let mut seen = Vec::new();
        b.scan(at(u32::MAX, 2, &k), &mut |uk, v| {
            assert_eq!(uk, v);
            seen.push(uk.to_vec());
        })
        .unwrap();
        assert_eq!(seen, [&b""[..], b"\x00", b"a\xff", b"b", b"\xff\xff"]);
        b.delete_key(at(u32::MAX, 2, &k)).unwrap();
        b.delete_key(at(u32::MAX, 2, b"never written")).unwrap();
        b.delete(at(0, 0, b"never written"), b"").unwrap();
        let left: Vec<_> = dump(b, 3).into_iter().map(|e| e.4).collect();
        assert_eq!(left, [&b"shorter key"[..], b"longer key"]);
        let mut n = 0;
        b.scan(at(u32::MAX, 2, &k), &mut |_, _| n += 1).unwrap();
        assert_eq!(n, 0);
    }

    fn import_replaces_and_round_trips(make: &mut dyn FnMut(usize) -> Box<dyn StateBackend>) {
        let mut a = make(8);
        fill(&mut *a, 8, 7);
        let mut b = make(8);
        b.put(at(0, 3, b"stale"), b"", b"replaced").unwrap();
        b.import_entry(3, 0, b"stale", b"", b"fresh").unwrap();
        assert_eq!(b.get(at(0, 3, b"stale"), b"").unwrap().unwrap(), b"fresh");
        b.delete(at(0, 3, b"stale"), b"").unwrap();
        copy(&*a, &mut *b, 8);
        let all = dump(&*a, 8);
        assert!(all.len() > 100, "{}", all.len());
        assert_eq!(all, dump(&*b, 8));
        assert!(b.import_entry(8, 0, b"", b"", b"").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_passes_the_backend_conformance_checks() {
        conformance::check_all(&mut |n| Box::new(InMemoryBackend::new(n)));
        let mut b = InMemoryBackend::new(2);
        assert!(b.is_empty());
        b.append(
            KeyAddr {
                state: 0,
                key_group: 1,
                key: b"k",
            },
            b"",
            b"x",
        )
        .unwrap();
        assert_eq!(b.len(), 1);
    }
}
