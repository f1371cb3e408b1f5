//! The window operators and keyed `reduce` on every state backend: the same output on the
//! heap, on [`StateBackendConfig::in_memory_bytes`] and on RocksDB, at parallelism 1 and 2;
//! window state far larger than RocksDB's caches; checkpoints that move between the paths.

#[cfg(feature = "rocksdb")]
use super::AggregateFunction;
use super::agg::count;
use super::testing::{Log, Msg, finish, records};
use super::{WindowResult, event_time_window, processing_time_window};
use crate::checkpoint::{Stateful, checkpointed};
use crate::exchange::{by_key_group, clone_for_worker};
use crate::ops::{WatermarkStrategy, key_by, keyed_reduce, timestamps, watermarks};
use crate::state::StateBackendConfig;
use crate::{Collected, Collector, Job, JobSpec, NO_TIMESTAMP, TaskContext, Timestamp, Ty, sink, source};
use std::cell::RefCell;
use std::rc::Rc;

/// `(key, value, timestamp)`.
type Ev = (String, u32, i64);
type Res = WindowResult<String, u64>;
type Logged<T> = Rc<RefCell<Vec<Msg<T>>>>;
/// What a window sent to its main and late outputs.
type Messages = (Vec<Msg<Res>>, Vec<Msg<u32>>);

/// Every path a job's state can take; RocksDB's working files go under `dir`.
#[cfg_attr(not(feature = "rocksdb"), allow(unused_mut))]
fn backends(dir: &std::path::Path) -> Vec<(&'static str, StateBackendConfig)> {
    let mut all = vec![
        ("heap", StateBackendConfig::Heap),
        ("bytes", StateBackendConfig::in_memory_bytes()),
    ];
    #[cfg(feature = "rocksdb")]
    all.push(("rocksdb", StateBackendConfig::rocksdb(dir)));
    #[cfg(not(feature = "rocksdb"))]
    let _ = dir;
    all
}

/// `n` events over 23 keys, out of order by up to 900 ms: with a 200 ms bound and 300 ms of
/// allowed lateness some are on time, some fire their window again, some are late.
fn events(n: u64) -> Vec<Ev> {
    (0..n)
        .map(|i| {
            let key = format!("k{}", (i * 7919) % 23);
            let ts = (i * 5) as i64 - ((i * 2_654_435_761) % 900) as i64;
            (key, i as u32, ts)
        })
        .collect()
}

const SIZE: i64 = 1000;
const LATENESS: i64 = 300;
const BOUND: i64 = 200;

type Window = super::EventTimeWindowCollector<String, u32, super::agg::Count, Log<Res>, Log<u32>>;

/// A count window of [`SIZE`] with [`LATENESS`], opened on `config` as the `checkpointed`
/// wrapper opens it.
fn window_on(config: &StateBackendConfig) -> (Window, Logged<Res>, Logged<u32>, TaskContext) {
    let ty = Ty::<(String, u32)>::of();
    let (spec, _, _) = event_time_window(ty, SIZE, LATENESS, count(ty));
    let (m, main) = Log::new();
    let (l, late) = Log::new();
    let mut c = spec.into_collector(m, l);
    let ctx = TaskContext::detached_on(config.clone());
    c.use_state_backend(&ctx, "window").unwrap();
    c.open(&ctx).unwrap();
    (c, main, late, ctx)
}

/// Feeds `events` with a bounded-out-of-orderness watermark after each, as the watermark
/// operator would; returns the largest timestamp seen.
fn feed<C: Collector<(String, u32)>>(c: &mut C, events: &[Ev], mut max_ts: i64) -> i64 {
    for (key, v, ts) in events {
        c.record((key.clone(), *v), *ts);
        max_ts = max_ts.max(*ts);
        c.watermark(max_ts - BOUND - 1);
    }
    max_ts
}

#[test]
fn a_window_with_lateness_emits_the_same_messages_on_every_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let input = events(3000);
    let mut expected: Option<Messages> = None;
    for (name, config) in backends(tmp.path()) {
        let (mut c, main, late, _) = window_on(&config);
        assert_eq!(c.state_in_backend(), name != "heap", "{name}");
        feed(&mut c, &input, i64::MIN);
        finish(&mut c);
        let got = (main.borrow().clone(), late.borrow().clone());
        match &expected {
            None => {
                let results = records(&main);
                let windows: std::collections::BTreeSet<(String, i64)> =
                    results.iter().map(|(r, _)| (r.key.clone(), r.start)).collect();
                assert!(results.len() > windows.len(), "some windows fire again, late");
                assert!(records(&late).len() > 10, "some records are late");
                expected = Some(got);
            }
            Some(e) => assert!(e == &got, "{name} differs from the heap"),
        }
    }
}

#[test]
fn a_window_checkpoint_restores_onto_any_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let input = events(2000);
    let (first, rest) = input.split_at(1100);
    let (mut whole, whole_main, whole_late, _) = window_on(&StateBackendConfig::Heap);
    feed(&mut whole, &input, i64::MIN);
    finish(&mut whole);
    for (from_name, from) in backends(tmp.path()) {
        let (mut before, before_main, before_late, _) = window_on(&from);
        let max_ts = feed(&mut before, first, i64::MIN);
        let snapshot = before.snapshot().unwrap();
        for (to_name, to) in backends(tmp.path()) {
            let (mut after, after_main, after_late, ctx) = window_on(&to);
            after.restore(vec![(0, snapshot.clone())], &ctx).unwrap();
            feed(&mut after, rest, max_ts);
            finish(&mut after);
            let joined = |a: &Logged<Res>, b: &Logged<Res>| [records(a), records(b)].concat();
            assert_eq!(
                joined(&before_main, &after_main),
                records(&whole_main),
                "{from_name} -> {to_name}"
            );
            assert_eq!(
                [records(&before_late), records(&after_late)].concat(),
                records(&whole_late),
                "{from_name} -> {to_name}"
            );
        }
    }
}

/// The results and late records of a job running the window on `config` at `parallelism`,
/// each sorted.
fn run_window_job(config: &StateBackendConfig, parallelism: usize) -> (Vec<Res>, Vec<Ev>) {
    let main = Collected::new();
    let late = Collected::new();
    let (main_handle, late_handle) = (main.clone(), late.clone());
    let job = Job::build(JobSpec::default(), move |env| {
        let src = source::from_iter(events(3000));
        let (ts, ty) = timestamps(src.ty(), |e: &Ev| e.2);
        let (wms, ty) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(BOUND));
        let (kb, ty) = key_by(ty, |e: &Ev| e.0.clone());
        let (win, main_ty, late_ty) = event_time_window(ty, SIZE, LATENESS, count(ty));
        let main_sink = sink::collect(main_ty, &main_handle);
        let late_sink = sink::collect(late_ty, &late_handle);
        let mut link = env.connect(by_key_group(ty, 128), false, move |_| {
            let win = clone_for_worker(&win);
            checkpointed(win.into_collector(main_sink.clone(), late_sink.clone()), "window")
        });
        env.add_source(
            "events",
            src,
            ts.into_collector(wms.into_collector(kb.into_collector(link.output()))),
        );
    })
    .with_parallelism(parallelism)
    .with_state_backend_config(config.clone());
    job.run().unwrap();
    let (mut m, mut l) = (main.take(), late.take());
    m.sort();
    l.sort();
    (m, l)
}

#[test]
fn a_window_job_gives_the_same_output_on_every_backend_at_parallelism_1_and_2() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = run_window_job(&StateBackendConfig::Heap, 1);
    assert!(!expected.0.is_empty() && !expected.1.is_empty());
    for (name, config) in backends(tmp.path()) {
        for parallelism in [1, 2] {
            assert!(
                run_window_job(&config, parallelism) == expected,
                "{name} at parallelism {parallelism}"
            );
        }
    }
}

/// Keeps a 4 KiB block of noise per key and window, mixed with each record's seed: far more
/// state than memory caches, if there are many keys.
#[cfg(feature = "rocksdb")]
#[derive(Clone)]
struct Noise;

/// A xorshift generator: incompressible bytes, so the state is as large on disk.
#[cfg(feature = "rocksdb")]
fn noise(seed: u64, out: &mut [u8]) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

#[cfg(feature = "rocksdb")]
const BLOCK: usize = 4096;

#[cfg(feature = "rocksdb")]
impl AggregateFunction<u64> for Noise {
    type Acc = (u32, Vec<u8>);
    type Out = (u32, u64);
    fn create_accumulator(&self) -> (u32, Vec<u8>) {
        (0, vec![0; BLOCK])
    }
    fn add(&mut self, acc: &mut (u32, Vec<u8>), seed: u64) {
        let mut block = vec![0; BLOCK];
        noise(seed, &mut block);
        acc.0 += 1;
        acc.1.iter_mut().zip(block).for_each(|(a, b)| *a ^= b);
    }
    fn get_result(&self, acc: &(u32, Vec<u8>)) -> (u32, u64) {
        (acc.0, acc.1.iter().map(|&b| u64::from(b)).sum())
    }
    fn merge(&self, a: (u32, Vec<u8>), _: (u32, Vec<u8>)) -> (u32, Vec<u8>) {
        a
    }
}

#[cfg(feature = "rocksdb")]
#[test]
fn a_window_with_far_more_state_than_the_rocksdb_caches_runs_on_rocksdb() {
    use crate::state::RocksDbOptions;
    const KEYS: u64 = 6_500; // 27 MB of accumulators, 25 times the cache and the write buffer
    let tmp = tempfile::tempdir().unwrap();
    let small = RocksDbOptions::default()
        .block_cache_bytes(1 << 20)
        .write_buffer_bytes(1 << 20);
    let config = StateBackendConfig::rocksdb_with(tmp.path(), small);
    let ty = Ty::<(u64, u64)>::of();
    let (spec, _, _) = event_time_window(ty, SIZE, 0, Noise);
    let (m, main) = Log::new();
    let mut c = spec.into_collector(m, crate::Discard);
    let ctx = TaskContext::detached_on(config);
    c.use_state_backend(&ctx, "big-window").unwrap();
    c.open(&ctx).unwrap();
    // Every key twice in window [0, 1000), the second time in reverse order after the state
    // went to disk (its accumulator is read back), and key 7 once in [1000, 2000).
    let seed = |key: u64, pass: u64| key * 2 + pass;
    for key in 0..KEYS {
        c.record((key, seed(key, 0)), 10);
    }
    let on_disk: u64 = files(tmp.path())
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "sst"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        on_disk > 20 << 20,
        "the state is on disk, not in memory: {on_disk} bytes"
    );
    for key in (0..KEYS).rev() {
        c.record((key, seed(key, 1)), 20);
    }
    c.record((7, 7), 1500);
    finish(&mut c);
    let results = records(&main);
    assert_eq!(results.len(), KEYS as usize + 1);
    let (mut a, mut b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let sum = |x: &[u8]| x.iter().map(|&v| u64::from(v)).sum::<u64>();
    for (key, (r, ts)) in (0..KEYS).zip(&results) {
        noise(seed(key, 0), &mut a);
        noise(seed(key, 1), &mut b);
        a.iter_mut().zip(&b).for_each(|(x, y)| *x ^= y);
        assert_eq!((r.key, r.start, *ts, r.value), (key, 0, 999, (2, sum(&a))), "key {key}");
    }
    let last = &results[KEYS as usize].0;
    noise(7, &mut a);
    assert_eq!((last.key, last.start, last.value), (7, 1000, (1, sum(&a))));
}

/// The files under `dir`, recursively, with their sizes.
#[cfg(feature = "rocksdb")]
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), meta.len()));
        }
    }
    out
}

/// The running sums of a keyed `reduce` job on `config` at `parallelism`, sorted.
fn run_reduce_job(config: &StateBackendConfig, parallelism: usize) -> Vec<(String, i64)> {
    let out = Collected::new();
    let handle = out.clone();
    let job = Job::build(JobSpec::default(), move |env| {
        let src = source::from_iter((0..2000i64).map(|i| (format!("k{}", i % 37), i)));
        let (kb, ty) = key_by(src.ty(), |e: &(String, i64)| e.0.clone());
        let (red, out_ty) = keyed_reduce(ty, |a: (String, i64), b: (String, i64)| (a.0, a.1 + b.1));
        let sink = sink::collect(out_ty, &handle);
        let mut link = env.connect(by_key_group(ty, 128), false, move |_| {
            checkpointed(clone_for_worker(&red).into_collector(sink.clone()), "reduce")
        });
        env.add_source("numbers", src, kb.into_collector(link.output()));
    })
    .with_parallelism(parallelism)
    .with_state_backend_config(config.clone());
    job.run().unwrap();
    let mut got = out.take();
    got.sort();
    got
}

#[test]
fn a_keyed_reduce_job_gives_the_same_output_on_every_backend_at_parallelism_1_and_2() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = run_reduce_job(&StateBackendConfig::Heap, 1);
    assert_eq!(expected.len(), 2000);
    // The last running sum of key k0: 0 + 37 + 74 + … over the 55 numbers ≡ 0 (mod 37).
    assert!(expected.contains(&("k0".to_owned(), 37 * (54 * 55 / 2))));
    for (name, config) in backends(tmp.path()) {
        for parallelism in [1, 2] {
            assert!(
                run_reduce_job(&config, parallelism) == expected,
                "{name} at parallelism {parallelism}"
            );
        }
    }
}

#[test]
fn a_keyed_reduce_keeps_its_values_in_the_backend_and_restores_them_onto_any_path() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |config: &StateBackendConfig, snapshot: Option<Vec<u8>>, from: i64, to: i64| {
        let (red, _) = keyed_reduce(Ty::<(u8, i64)>::of(), |a: i64, b: i64| a * 3 + b);
        let (log, out) = Log::new();
        let mut c = red.into_collector(log);
        let ctx = TaskContext::detached_on(config.clone());
        c.use_state_backend(&ctx, "reduce").unwrap();
        c.open(&ctx).unwrap();
        if let Some(s) = snapshot {
            c.restore(vec![(0, s)], &ctx).unwrap();
        }
        for i in from..to {
            c.record(((i % 5) as u8, i), i);
        }
        let snapshot = c.snapshot().unwrap();
        (records(&out), snapshot)
    };
    let (whole, _) = run(&StateBackendConfig::Heap, None, 0, 60);
    for (from_name, from) in backends(tmp.path()) {
        let (first, snapshot) = run(&from, None, 0, 25);
        for (to_name, to) in backends(tmp.path()) {
            let (rest, _) = run(&to, Some(snapshot.clone()), 25, 60);
            assert_eq!([first.clone(), rest].concat(), whole, "{from_name} -> {to_name}");
        }
    }
}

#[test]
fn a_processing_time_window_gives_the_same_results_and_snapshots_on_every_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = None;
    for (name, config) in backends(tmp.path()) {
        let clock = Rc::new(std::cell::Cell::new(0i64));
        let ty = Ty::<(String, u32)>::of();
        let (spec, _) = processing_time_window(ty, 100, count(ty));
        let c2 = clock.clone();
        let (log, out) = Log::new();
        let mut c = spec.with_clock(move || c2.get()).into_collector(log);
        let ctx = TaskContext::detached_on(config.clone());
        c.use_state_backend(&ctx, "window").unwrap();
        c.open(&ctx).unwrap();
        let mut snapshots = Vec::new();
        for (i, (key, v, _)) in events(500).into_iter().enumerate() {
            clock.set(i as i64 * 3);
            c.record((key, v), NO_TIMESTAMP);
            if i % 97 == 0 {
                snapshots.push(c.snapshot().unwrap());
            }
        }
        finish(&mut c);
        let got = (records(&out), snapshots);
        assert!(got.0.len() > 15 * 23 / 2, "{}", got.0.len());
        match &expected {
            None => expected = Some(got),
            Some(e) => assert!(e == &got, "{name} differs from the heap"),
        }
    }
}

/// An operator not wrapped by `checkpointed` keeps its state on the heap whatever the job's
/// backend (and says so on stderr).
#[test]
fn an_unwrapped_window_keeps_its_state_on_the_heap() {
    let ty = Ty::<(String, u32)>::of();
    let (spec, _, _) = event_time_window(ty, SIZE, LATENESS, count(ty));
    let (m, main) = Log::new();
    let mut c = spec.into_collector(m, crate::Discard);
    c.open(&TaskContext::detached_on(StateBackendConfig::in_memory_bytes()))
        .unwrap();
    feed(&mut c, &events(100), Timestamp::MIN);
    assert!(!c.state_in_backend());
    finish(&mut c);
    assert!(!records(&main).is_empty());
}
