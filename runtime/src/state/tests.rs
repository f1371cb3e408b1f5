//! Tests of the typed keyed-state API, each run on both paths (heap tables and the encoded
//! path over [`InMemoryBackend`]), which must give the same results.

use super::*;

fn paths() -> [StateBackendConfig; 2] {
    [StateBackendConfig::Heap, StateBackendConfig::in_memory_bytes()]
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
    let exports = paths().map(|config| {
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
    });
    assert_eq!(exports[0].len(), 3 + 6 + 3);
    assert_eq!(exports[0], exports[1]);
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
