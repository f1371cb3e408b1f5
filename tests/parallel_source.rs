//! The parallel source, `generate(count, f).parallel()`: at parallelism `p`, `p` instances
//! each generate every `p`-th index and drive their own copy of the fused chain behind the
//! source. Every record is made exactly once at every parallelism, an exchange after the
//! chain takes records from every instance, and with checkpoints each instance keeps its
//! own position: a job that fails in the middle and restarts (in the process, or by
//! `--restore`) ends with the totals of a run that never failed; a restore at another
//! parallelism is refused.

use fuseflow::checkpoint::RestoreFrom;
use fuseflow::{Folded, Job, pipeline};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

const N: u64 = 20_000;

/// The value the jobs below make of index `i`.
fn value(i: u64) -> u64 {
    i * 3 + 1
}

/// What the jobs below must total: every index's value once, and how many there are.
fn expected() -> (u64, u64) {
    let kept: Vec<u64> = (0..N).map(value).filter(|v| v % 5 != 0).collect();
    (kept.iter().sum(), kept.len() as u64)
}

fn stateless_job<'a>(totals: &Folded<(u64, u64)>) -> Job<'a> {
    pipeline! {
        job { name: "parallel-stateless" }
        generate(N, |i| i)
            .parallel()
            .map(value)
            .filter(|v| v % 5 != 0)
            .sink(fold(totals, (0u64, 0u64), |acc: &mut (u64, u64), v: u64| {
                acc.0 += v;
                acc.1 += 1;
            }));
    }
}

fn add((a, b): (u64, u64), (c, d): (u64, u64)) -> (u64, u64) {
    (a + c, b + d)
}

#[test]
fn every_index_is_generated_once_at_every_parallelism() {
    for p in [1, 2, 3, 4] {
        let totals = Folded::new();
        let summary = stateless_job(&totals).with_parallelism(p).run().unwrap();
        let parts = totals.take();
        // One fold per instance: the chain behind the source runs once per worker.
        assert_eq!(parts.len(), p, "parallelism {p}");
        assert_eq!(parts.into_iter().fold((0, 0), add), expected(), "parallelism {p}");
        assert_eq!(summary.records_in, N, "parallelism {p}");
    }
}

#[test]
fn an_exchange_after_a_parallel_source_takes_records_from_every_instance() {
    let reference: BTreeMap<u64, u64> = (0..N).fold(BTreeMap::new(), |mut m, i| {
        *m.entry(value(i) % 7).or_default() += value(i);
        m
    });
    for p in [1, 2, 4] {
        let totals = Folded::new();
        pipeline! {
            job { name: "parallel-keyed" }
            generate(N, |i| i)
                .parallel()
                .map(|i| (value(i) % 7, value(i)))
                .key_by(|r| r.0)
                .reduce(|a, b| (a.0, a.1 + b.1))
                .sink(fold(&totals, BTreeMap::new(), |acc: &mut BTreeMap<u64, u64>, (k, sum): (u64, u64)| {
                    // A key's running sums only grow: its last is its largest.
                    let e = acc.entry(k).or_default();
                    *e = (*e).max(sum);
                }));
        }
        .with_parallelism(p)
        .run()
        .unwrap();
        let mut got = BTreeMap::new();
        for part in totals.take() {
            got.extend(part);
        }
        assert_eq!(got, reference, "parallelism {p}");
    }
}

/// `value(i)`, but panics at index 12,345 while `fail` is set, the first time only when
/// `once` (then it clears `fail`).
fn flaky_value(i: u64, fail: &AtomicBool, once: bool) -> u64 {
    if i == 12_345 && fail.load(Ordering::SeqCst) {
        if once {
            fail.store(false, Ordering::SeqCst);
        }
        panic!("flaky map hit index {i}");
    }
    value(i)
}

/// A checkpointed job on a parallel source, restarted in the process after a failure.
fn restarting_job<'a>(dir: &std::path::Path, fail: &'static AtomicBool, totals: &Folded<(u64, u64)>) -> Job<'a> {
    pipeline! {
        job {
            name: "parallel-restarting",
            parallelism: 2,
            checkpoint_every_records: 1000,
            restart: fixed_delay(3, 10ms),
        }
        generate(N, |i| i)
            .parallel()
            .map(move |i| flaky_value(i, fail, true))
            .filter(|v| v % 5 != 0)
            .sink(fold(totals, (0u64, 0u64), |acc: &mut (u64, u64), v: u64| {
                acc.0 += v;
                acc.1 += 1;
            }));
    }
    .with_checkpoint_dir(dir)
}

#[test]
fn a_parallel_source_that_fails_restarts_every_instance_from_its_own_position_exactly_once() {
    static FAIL: AtomicBool = AtomicBool::new(true);
    let tmp = tempfile::tempdir().unwrap();
    let totals = Folded::new();
    let summary = restarting_job(tmp.path(), &FAIL, &totals).run().unwrap();
    assert!(!FAIL.load(Ordering::SeqCst), "the map never panicked");
    assert_eq!(summary.restarts, 1);
    // Each instance's fold was restored with its position: every value counted once.
    assert_eq!(totals.take().into_iter().fold((0, 0), add), expected());
}

/// The same through a key_by: the exchange aligns the barriers of both instances.
fn restarting_keyed_job<'a>(dir: &std::path::Path, fail: &'static AtomicBool, totals: &Folded<u64>) -> Job<'a> {
    pipeline! {
        job {
            name: "parallel-restarting-keyed",
            parallelism: 2,
            checkpoint_every_records: 1000,
            restart: fixed_delay(3, 10ms),
        }
        generate(N, |i| i)
            .parallel()
            .map(move |i| flaky_value(i, fail, true))
            .key_by(|v| v % 7)
            .reduce(|a, b| a + b)
            .map(|_| 1u64)
            .sink(fold(totals, 0u64, |acc: &mut u64, one: u64| *acc += one));
    }
    .with_checkpoint_dir(dir)
}

#[test]
fn a_keyed_job_on_a_parallel_source_restarts_exactly_once() {
    static FAIL: AtomicBool = AtomicBool::new(true);
    let tmp = tempfile::tempdir().unwrap();
    let totals = Folded::new();
    let summary = restarting_keyed_job(tmp.path(), &FAIL, &totals).run().unwrap();
    assert!(!FAIL.load(Ordering::SeqCst), "the map never panicked");
    assert_eq!(summary.restarts, 1);
    // A running reduce emits once per record: as many outputs as indices, none twice.
    assert_eq!(totals.take().iter().sum::<u64>(), N);
}

/// A checkpointed job on a parallel source that fails (and does not restart) while `fail`.
fn failing_job<'a>(dir: &std::path::Path, fail: &'static AtomicBool, totals: &Folded<(u64, u64)>) -> Job<'a> {
    pipeline! {
        job {
            name: "parallel-failing",
            parallelism: 2,
            checkpoint_every_records: 1000,
        }
        generate(N, |i| i)
            .parallel()
            .map(move |i| flaky_value(i, fail, false))
            .filter(|v| v % 5 != 0)
            .sink(fold(totals, (0u64, 0u64), |acc: &mut (u64, u64), v: u64| {
                acc.0 += v;
                acc.1 += 1;
            }));
    }
    .with_checkpoint_dir(dir)
}

#[test]
fn a_failed_parallel_source_job_restores_at_its_parallelism_and_refuses_another() {
    static FAIL: AtomicBool = AtomicBool::new(true);
    let tmp = tempfile::tempdir().unwrap();
    let totals = Folded::new();
    let err = failing_job(tmp.path(), &FAIL, &totals).run().unwrap_err();
    assert!(err.to_string().contains("flaky map hit index 12345"), "{err}");
    FAIL.store(false, Ordering::SeqCst);

    // The shares of 2 instances do not fit 3: refused, naming the parallelism to use.
    let err = failing_job(tmp.path(), &FAIL, &totals)
        .with_parallelism(3)
        .with_restore(RestoreFrom::Latest)
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("split into 2 instances"), "{err}");
    assert!(err.contains("--parallelism 2"), "{err}");

    // At parallelism 2 each instance resumes from its own position.
    let summary = failing_job(tmp.path(), &FAIL, &totals)
        .with_restore(RestoreFrom::Latest)
        .run()
        .unwrap();
    assert!(summary.records_in < N, "the restored run read everything again");
    assert_eq!(totals.take().into_iter().fold((0, 0), add), expected());
}
