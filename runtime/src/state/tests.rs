//! Tests of the typed keyed-state API, each run on every path (heap tables, the encoded path
//! over [`InMemoryBackend`] and, with the `rocksdb` feature, over RocksDB), which must give
//! the same results.

use super::*;

/// Every path, and the temporary directory RocksDB works in while they are iterated.
struct Paths {
    configs: Vec<StateBackendConfig>,
    #[cfg(feature = "rocksdb")]
    dir: tempfile::TempDir,
}

fn paths() -> Paths {
    #[cfg(feature = "rocksdb")]
    let dir = tempfile::tempdir().unwrap();
    Paths {
        configs: vec![
            StateBackendConfig::Heap,
            StateBackendConfig::in_memory_bytes(),
            #[cfg(feature = "rocksdb")]
            StateBackendConfig::rocksdb(dir.path()),
        ],
        #[cfg(feature = "rocksdb")]
        dir,
    }
}

/// Iterates the configurations, keeping the directory until the loop ends.
struct PathsIter {
    configs: std::vec::IntoIter<StateBackendConfig>,
    #[cfg(feature = "rocksdb")]
    _dir: tempfile::TempDir,
}

impl IntoIterator for Paths {
    type Item = StateBackendConfig;
    type IntoIter = PathsIter;
    fn into_iter(self) -> PathsIter {
        PathsIter {
            configs: self.configs.into_iter(),
            #[cfg(feature = "rocksdb")]
            _dir: self.dir,
        }
    }
}

impl Iterator for PathsIter {
    type Item = StateBackendConfig;
    fn next(&mut self) -> Option<StateBackendConfig> {
        self.configs.next()
    }
}

fn store<K: StateKey>(states: StateRegistry, config: &StateBackendConfig) -> KeyedStateStore<K> {
    KeyedStateStore::new(states, 8, config, "test-op").unwrap()
}

#[test]
fn value_state_is_per_key() {
    for config in paths() {
        let mut r = StateRegistry::new();
        let v = r.value::<String>("v");
        let n = r.value::<i64>("n");
        let mut s = store::<String>(r, &config);
        let (a, b) = ("a".to_owned(), "b".to_owned());
        s.scope(&a, 1, 0).value(v).update("x".into());
        s.scope(&b, 1, 0).value(v).update("y".into());
        assert_eq!(s.scope(&a, 1, 0).value(v).get().as_deref(), Some("x"), "{config:?}");
        assert_eq!(s.scope(&b, 1, 0).value(v).get().as_deref(), Some("y"));
        // Another state of the same key is separate.
        assert_eq!(s.scope(&a, 1, 0).value(n).get(), None);
        for _ in 0..3 {
            assert!(s.scope(&a, 1, 0).value(n).update_with(
                || 10,
                |c| {
                    *c += 1;
                    *c > 10
                }
            ));
        }
        assert_eq!(s.scope(&a, 1, 0).value(n).get(), Some(13));
        s.scope(&a, 1, 0).value(v).clear();
        assert_eq!(s.scope(&a, 1, 0).value(v).get(), None);
        assert_eq!(s.scope(&b, 1, 0).value(v).get().as_deref(), Some("y"));
    }
}

#[test]
fn map_state_entries_come_in_user_key_order() {
    for config in paths() {
        let mut r = StateRegistry::new();
        let m = r.map::<i32, String>("m");
        let mut s = store::<u64>(r, &config);
        let mut k = s.scope(&1, 0, 0);
        let mut map = k.map(m);
        assert!(map.is_empty());
        // 300 encodes as two varint bytes, -1 as zigzag 1: byte order is not user-key order.
        for uk in [300, -1, 2, 7] {
            map.put(uk, format!("v{uk}"));
        }
        map.put(2, "two".into());
        map.remove(&7);
        assert_eq!(map.get(&2).as_deref(), Some("two"), "{config:?}");
        assert!(map.contains(&300) && !map.contains(&7));
        assert_eq!(
            map.entries(),
            [(-1, "v-1".to_owned()), (2, "two".to_owned()), (300, "v300".to_owned())]
        );
        assert_eq!(map.keys(), [-1, 2, 300]);
        assert!(!map.is_empty());
        assert!(s.scope(&2, 0, 0).map(m).entries().is_empty());
        s.scope(&1, 0, 0).map(m).clear();
        assert!(s.scope(&1, 0, 0).map(m).is_empty());
    }
}

#[test]
fn list_state_keeps_insertion_order() {
    for config in paths() {
        let mut r = StateRegistry::new();
        let l = r.list::<(u8, String)>("l");
        let mut s = store::<u64>(r, &config);
        let mut k = s.scope(&9, 5, 0);
        let mut list = k.list(l);
        assert!(list.is_empty() && list.get().is_empty());
        list.add((1, "a".into()));
        list.add_all([(2, "b".into()), (3, "c".into())]);
        list.add_all([]);
        assert_eq!(
            list.get().iter().map(|e| e.0).collect::<Vec<_>>(),
            [1, 2, 3],
            "{config:?}"
        );
        assert!(!list.is_empty());
        list.update([(9, "z".into())]);
        assert_eq!(list.get(), [(9, "z".to_owned())]);
        list.update([]);
        assert!(list.is_empty());
        assert!(s.scope(&8, 5, 0).list(l).get().is_empty());
    }
}

#[test]
fn value_ttl_expires_after_the_last_write_and_refreshes_on_read_if_asked() {
    for config in paths() {
        let mut r = StateRegistry::new();
        let w = r.value_with_ttl::<u32>("w", StateTtl::new(100));
        let rw = r.value_with_ttl::<u32>("rw", StateTtl::new(100).update_on_read());
        let mut s = store::<u8>(r, &config);
        s.scope(&1, 0, 1000).value(w).update(1);
        s.scope(&1, 0, 1000).value(rw).update(1);
        // Reads at 1050 refresh only `rw`.
        assert_eq!(s.scope(&1, 0, 1050).value(w).get(), Some(1));
        assert_eq!(s.scope(&1, 0, 1050).value(rw).get(), Some(1));
        assert_eq!(s.scope(&1, 0, 1099).value(w).get(), Some(1), "{config:?}");
        assert_eq!(s.scope(&1, 0, 1100).value(w).get(), None, "expires at write + ttl");
        assert_eq!(s.scope(&1, 0, 1149).value(rw).get(), Some(1));
        // A write restarts the age; update_with on an expired value starts from init.
        s.scope(&1, 0, 1200).value(w).update(2);
        assert_eq!(s.scope(&1, 0, 1299).value(w).get(), Some(2));
        let got = s.scope(&1, 0, 1500).value(w).update_with(
            || 40,
            |v| {
                *v += 2;
                *v
            },
        );
        assert_eq!(got, 42);
        // Expired entries are gone from snapshots too.
        let mut n = 0;
        s.export_key_group(0, 10_000, &mut |_, _, _, _| n += 1).unwrap();
        if matches!(config, StateBackendConfig::Heap) {
            assert_eq!(n, 0);
        }
    }
}

#[test]
fn map_entries_and_list_elements_expire_one_by_one() {
    for config in paths() {
        let mut r = StateRegistry::new();
        let m = r.map_with_ttl::<u8, u8>("m", StateTtl::new(10));
        let l = r.list_with_ttl::<u8>("l", StateTtl::new(10));
        let mut s = store::<u8>(r, &config);
        s.scope(&0, 2, 0).map(m).put(1, 1);
        s.scope(&0, 2, 0).list(l).add(1);
        s.scope(&0, 2, 5).map(m).put(2, 2);
        s.scope(&0, 2, 5).list(l).add(2);
        assert_eq!(s.scope(&0, 2, 9).map(m).entries(), [(1, 1), (2, 2)]);
        assert_eq!(s.scope(&0, 2, 10).map(m).entries(), [(2, 2)], "{config:?}");
        assert_eq!(s.scope(&0, 2, 10).map(m).get(&1), None);
        assert_eq!(s.scope(&0, 2, 10).list(l).get(), [2]);
        assert!(!s.scope(&0, 2, 14).list(l).is_empty());
        assert!(s.scope(&0, 2, 15).list(l).is_empty());
        assert!(s.scope(&0, 2, 15).map(m).is_empty());
        assert!(!s.scope(&0, 2, 15).map(m).contains(&2));
        assert!(s.scope(&0, 2, 15).list(l).get().is_empty());
    }
}

#[test]
fn heap_snapshots_write_the_bytes_a_byte_backend_stores() {
    let exports: Vec<_> = paths()
        .into_iter()
        .map(|config| {
            let mut r = StateRegistry::new();
            let v = r.value::<String>("v");
            let m = r.map_with_ttl::<String, i64>("m", StateTtl::new(1_000));
            let l = r.list::<u32>("l");
            let mut s = store::<String>(r, &config);
            for (i, key) in ["a", "b", "c"].map(String::from).iter().enumerate() {
                let kg = i % 2;
                let mut k = s.scope(key, kg, 100 + i as i64);
                k.value(v).update(key.repeat(2));
                k.map(m).put(format!("{key}1"), i as i64);
                k.map(m).put("z".into(), -1);
                k.list(l).add_all([i as u32, 7]);
            }
            let mut out = Vec::new();
            for kg in 0..2 {
                s.export_key_group(kg, 200, &mut |st, k, uk, val| {
                    out.push((kg, st, k.to_vec(), uk.to_vec(), val.to_vec()))
                })
                .unwrap();
            }
            out.sort();
            out
        })
        .collect();
    assert_eq!(exports[0].len(), 3 + 6 + 3);
    for other in &exports[1..] {
        assert_eq!(&exports[0], other);
    }
}

#[test]
fn a_store_restores_what_another_exported_whatever_the_paths() {
    fn declare() -> (StateRegistry, ValueState<String>, MapState<u16, i64>, ListState<String>) {
        let mut r = StateRegistry::new();
        let v = r.value_with_ttl::<String>("v", StateTtl::new(1_000));
        let m = r.map::<u16, i64>("m");
        let l = r.list_with_ttl::<String>("l", StateTtl::new(1_000));
        (r, v, m, l)
    }
    let keys: Vec<String> = (0..20).map(|i| format!("key{i}")).collect();
    let export = |s: &KeyedStateStore<String>| {
        let mut out = Vec::new();
        for kg in 0..8 {
            s.export_key_group(kg, 100, &mut |st, k, uk, v| {
                out.push((kg, st, k.to_vec(), uk.to_vec(), v.to_vec()))
            })
            .unwrap();
        }
        out.sort();
        out
    };
    for from in paths() {
        let (r, v, m, l) = declare();
        let mut source = store::<String>(r, &from);
        for (i, key) in keys.iter().enumerate() {
            let mut k = source.scope(key, i % 8, 10 + i as i64);
            k.value(v).update(key.to_uppercase());
            k.map(m).put(i as u16, -(i as i64));
            k.map(m).put(999, 1);
            k.list(l).add_all([key.clone(), "x".into()]);
        }
        let exported = export(&source);
        assert_eq!(exported.len(), 20 * 4, "{from:?}");
        for (touch_first, to) in paths().into_iter().enumerate().map(|(i, c)| (i % 2 == 0, c)) {
            let (r, v, m, l) = declare();
            let mut restored = store::<String>(r, &to);
            let nobody = "nobody".to_owned();
            if touch_first {
                // The heap path then imports into existing tables, not pending entries.
                assert!(restored.scope(&nobody, 0, 0).list(l).get().is_empty());
            }
            for (kg, st, k, uk, val) in &exported {
                restored.import_entry(*kg, *st, k, uk, val).unwrap();
            }
            assert_eq!(export(&restored), exported, "{from:?} -> {to:?}");
            for (i, key) in keys.iter().enumerate() {
                let mut k = restored.scope(key, i % 8, 20 + i as i64);
                assert_eq!(k.value(v).get(), Some(key.to_uppercase()), "{from:?} -> {to:?}");
                assert_eq!(k.map(m).entries(), [(i as u16, -(i as i64)), (999, 1)]);
                assert_eq!(k.list(l).get(), [key.clone(), "x".to_owned()]);
            }
            // Write times come along: everything expires 1 s after it was written.
            assert_eq!(restored.scope(&keys[0], 0, 1_010).value(v).get(), None);
            assert_eq!(restored.scope(&keys[1], 1, 1_010).value(v).get(), Some("KEY1".into()));
            assert!(restored.import_entry(8, 0, &[], &[], &[]).is_err());
            assert!(restored.import_entry(0, 3, &[], &[], &[]).is_err());
        }
    }
}

#[test]
fn a_handle_used_with_the_wrong_type_or_undeclared_panics() {
    let mut r = StateRegistry::new();
    let _ = r.value::<u32>("v");
    let mut s = store::<u8>(r, &StateBackendConfig::Heap);
    s.scope(&0, 0, 0)
        .value(ValueState::<u32>::default().clone_from_id(0))
        .update(1);
    let wrong = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.scope(&0, 0, 0)
            .value(ValueState::<String>::default().clone_from_id(0))
            .get()
    }));
    assert!(wrong.is_err());
    let undeclared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.scope(&0, 0, 0).value(ValueState::<u32>::default()).get()
    }));
    assert!(undeclared.is_err());
}

impl<V> ValueState<V> {
    /// A handle to the state declared at `id` (tests only).
    fn clone_from_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }
}
