//! Checkpoints that cannot be used are refused with a clear error: a corrupt or truncated
//! state file, a checkpoint whose state schema differs from the job's, a checkpoint taken
//! with other key groups; `--restore latest` falls back past a corrupt newest checkpoint and
//! says so. Also: a job that takes no checkpoints refuses `--restore`.

mod common;

use common::example;
use fuseflow::checkpoint::RestoreFrom;
use fuseflow::{Job, WindowResult, pipeline};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A windowed sum over `n` generated values of type `V`, checkpointing every 100 records.
fn summing_job<'a>(n: u64, seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "sums", checkpoint_every_records: 100, checkpoints_retained: 100 }
        let values = generate(n, |i: u64| (i % 7, i));
        let sums = values
            .timestamps(|v| v.1 as i64)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(50ms))
            .drop_late_data()
            .sum(|v| v.1);
        sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
}

/// The same job, but summing `i64`: its window state has another type.
fn summing_job_i64<'a>(n: u64, seen: &fuseflow::Folded<i64>) -> Job<'a> {
    pipeline! {
        job { name: "sums", checkpoint_every_records: 100, checkpoints_retained: 100 }
        let values = generate(n, |i: u64| (i % 7, i as i64));
        let sums = values
            .timestamps(|v| v.1)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(50ms))
            .drop_late_data()
            .sum(|v| v.1);
        sums.sink(fold(seen, 0i64, |acc: &mut i64, r: WindowResult<u64, i64>| *acc += r.value));
    }
}

fn checkpointed_run(dir: &Path) {
    let seen = fuseflow::Folded::new();
    summing_job(1_000, &seen).with_checkpoint_dir(dir).run().unwrap();
    assert_eq!(seen.take().iter().sum::<u64>(), (0..1_000u64).sum::<u64>());
}

fn state_file(dir: &Path, id: u64) -> PathBuf {
    std::fs::read_dir(dir.join(format!("chk-{id}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("window_") && p.extension().is_some_and(|e| e == "state"))
        .expect("a window state file")
}

#[test]
fn restoring_an_earlier_checkpoint_gives_the_same_total() {
    let tmp = tempfile::tempdir().unwrap();
    checkpointed_run(tmp.path());
    let seen = fuseflow::Folded::new();
    summing_job(1_000, &seen)
        .with_checkpoint_dir(tmp.path())
        .with_restore(RestoreFrom::Id(5))
        .run()
        .unwrap();
    // The fold restored its accumulator of checkpoint 5 and added the rest.
    assert_eq!(seen.take().iter().sum::<u64>(), (0..1_000u64).sum::<u64>());
}

#[test]
fn a_corrupt_state_file_is_refused_naming_the_file_and_operator() {
    let tmp = tempfile::tempdir().unwrap();
    checkpointed_run(tmp.path());
    let file = state_file(tmp.path(), 4);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let seen = fuseflow::Folded::new();
    let err = summing_job(1_000, &seen)
        .with_checkpoint_dir(tmp.path())
        .with_restore(RestoreFrom::Id(4))
        .run()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint 4") && err.contains("is corrupt") && err.contains("window_"),
        "{err}"
    );
}

#[test]
fn a_truncated_state_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    checkpointed_run(tmp.path());
    let file = state_file(tmp.path(), 3);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let seen = fuseflow::Folded::new();
    let err = summing_job(1_000, &seen)
        .with_checkpoint_dir(tmp.path())
        .with_restore(RestoreFrom::Id(3))
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated or damaged"), "{err}");
}

#[test]
fn a_checkpoint_of_other_state_types_is_refused_with_the_difference() {
    let tmp = tempfile::tempdir().unwrap();
    checkpointed_run(tmp.path());
    let seen = fuseflow::Folded::new();
    let err = summing_job_i64(1_000, &seen)
        .with_checkpoint_dir(tmp.path())
        .with_restore(RestoreFrom::Id(2))
        .run()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint 2 does not match this job: the state of operator `"),
        "{err}"
    );
    assert!(err.contains("acc=u64") && err.contains("acc=i64"), "{err}");
}

#[test]
fn a_checkpoint_of_other_key_groups_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    checkpointed_run(tmp.path());
    let seen = fuseflow::Folded::new();
    // A job built with other key groups: the same pipeline with max_parallelism 64.
    let err = pipeline! {
        job { name: "sums", max_parallelism: 64, checkpoint_every_records: 100 }
        let values = generate(1_000, |i: u64| (i % 7, i));
        let sums = values
            .timestamps(|v| v.1 as i64)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(50ms))
            .drop_late_data()
            .sum(|v| v.1);
        sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
    .with_checkpoint_dir(tmp.path())
    .with_restore(RestoreFrom::Id(2))
    .run()
    .unwrap_err()
    .to_string();
    assert!(err.contains("max_parallelism 128") && err.contains("64"), "{err}");
}

/// Runs the `recovery` example on its sample input with everything under `dir`.
fn recovery(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = example("recovery");
    cmd.args(["--quiet", "--parallelism", "2"])
        .arg("--output")
        .arg(format!("totals={}", dir.join("totals").display()))
        .arg("--output")
        .arg(format!("late={}", dir.join("late").display()))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--dead-letter")
        .arg(dir.join("dead.jsonl"))
        .args(extra);
    cmd.output().unwrap()
}

#[test]
fn restore_latest_falls_back_past_a_corrupt_newest_checkpoint_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = recovery(tmp.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ckpts = tmp.path().join("checkpoints");
    let mut ids: Vec<u64> = std::fs::read_dir(&ckpts)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .strip_prefix("chk-")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort();
    let newest = *ids.last().unwrap();
    // Damage the newest checkpoint's manifest.
    std::fs::write(ckpts.join(format!("chk-{newest}/_manifest.json")), "{ not json").unwrap();
    // An explicit restore of the damaged one is an error, not a fallback.
    let out = recovery(tmp.path(), &["--restore", &newest.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is corrupt"), "{stderr}");
    // `latest` skips it, says so, and resumes from the one before.
    let out = recovery(tmp.path(), &["--restore", "latest"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("skipping checkpoint {newest}")) && stderr.contains("falling back"),
        "{stderr}"
    );
}

#[test]
fn a_job_without_checkpoints_refuses_restore() {
    let out = example("clicks")
        .args(["--quiet", "--restore", "latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("takes no checkpoints") && stderr.contains("checkpoint_interval"),
        "{stderr}"
    );
}

/// Two exchanges: the second stage's workers each have two producers, so barriers are
/// aligned there.
fn two_stage_job<'a>(n: u64, seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "two-stage", checkpoint_every_records: 250, checkpoints_retained: 100 }
        let values = generate(n, |i: u64| (i % 13, i));
        let per_key = values
            .timestamps(|v| v.1 as i64)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(50ms))
            .drop_late_data()
            .sum(|v| v.1);
        let per_parity = per_key
            .key_by(|r| r.key % 2)
            .window(tumbling(200ms))
            .drop_late_data()
            .sum(|r| r.value);
        per_parity.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
}

#[test]
fn barriers_are_aligned_behind_a_second_exchange_and_restores_add_up() {
    let total: u64 = (0..5_000u64).sum();
    for p in [2, 4] {
        let tmp = tempfile::tempdir().unwrap();
        let seen = fuseflow::Folded::new();
        two_stage_job(5_000, &seen)
            .with_parallelism(p)
            .with_checkpoint_dir(tmp.path())
            .run()
            .unwrap();
        assert_eq!(seen.take().iter().sum::<u64>(), total);
        for id in [1, 7, 19] {
            let seen = fuseflow::Folded::new();
            two_stage_job(5_000, &seen)
                .with_parallelism(p)
                .with_checkpoint_dir(tmp.path())
                .with_restore(RestoreFrom::Id(id))
                .run()
                .unwrap();
            assert_eq!(
                seen.take().iter().sum::<u64>(),
                total,
                "parallelism {p}, restored from {id}"
            );
        }
    }
}

/// Sums each key's values per 100 ms bucket in keyed state, emitting the sum from an
/// event-time timer at the bucket's end: state and timers both live across checkpoints.
#[derive(Clone, Default)]
struct BucketSum {
    sum: fuseflow::state::ValueState<u64>,
}

impl fuseflow::KeyedProcessFunction<u64, (u64, u64)> for BucketSum {
    type Out = u64;
    fn open(&mut self, states: &mut fuseflow::state::StateRegistry) {
        self.sum = states.value("sum");
    }
    fn process_element(&mut self, v: (u64, u64), ctx: &mut fuseflow::ProcessContext<'_, u64, u64>) {
        ctx.value(self.sum).update_with(|| 0, |s| *s += v.1);
        let ts = ctx.timestamp();
        ctx.register_event_time_timer(ts - ts % 100 + 99);
    }
    fn on_timer(&mut self, _ts: i64, ctx: &mut fuseflow::ProcessContext<'_, u64, u64>) {
        let sum = ctx.value(self.sum).get().unwrap_or(0);
        ctx.value(self.sum).clear();
        ctx.collect(sum);
    }
}

fn process_job<'a>(seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "buckets", checkpoint_every_records: 300, checkpoints_retained: 100 }
        let values = generate(5_000, |i: u64| (i % 11, i));
        let sums = values
            .timestamps(|v| v.1 as i64)
            .watermarks(bounded_out_of_orderness(20ms))
            .key_by(|v| v.0)
            .process(BucketSum::default());
        sums.sink(fold(seen, 0u64, |acc: &mut u64, s: u64| *acc += s));
    }
}

#[test]
fn a_keyed_process_restores_its_state_and_timers_on_both_backends() {
    use fuseflow::state::StateBackendKind;
    let total: u64 = (0..5_000u64).sum();
    for backend in [StateBackendKind::Memory, StateBackendKind::RocksDb] {
        let tmp = tempfile::tempdir().unwrap();
        let state_dir = Some(tmp.path().join("state"));
        let seen = fuseflow::Folded::new();
        process_job(&seen)
            .with_parallelism(2)
            .with_state_backend(backend, state_dir.clone())
            .with_checkpoint_dir(tmp.path().join("ckpt"))
            .run()
            .unwrap();
        assert_eq!(seen.take().iter().sum::<u64>(), total, "{backend:?}");
        // Restore mid-run checkpoints onto both parallelisms (keyed state rescales).
        for (id, p) in [(3, 2), (9, 2), (6, 1), (12, 4)] {
            let seen = fuseflow::Folded::new();
            let run = process_job(&seen)
                .with_parallelism(p)
                .with_state_backend(backend, state_dir.clone())
                .with_checkpoint_dir(tmp.path().join("ckpt"))
                .with_restore(RestoreFrom::Id(id))
                .run();
            match run {
                Ok(_) => assert_eq!(
                    seen.take().iter().sum::<u64>(),
                    total,
                    "{backend:?}, restored from {id} at parallelism {p}"
                ),
                // The fold sink's state is not keyed: it restores only on its parallelism.
                Err(e) => assert!(p != 2 && e.to_string().contains("restore it with parallelism 2"), "{e}"),
            }
        }
    }
}

/// The sums job with `uid`s on its stateful operators, optionally with one more stateless
/// operator in front (which shifts every operator's position).
fn uid_job<'a>(extra_map: bool, seen: &fuseflow::Folded<u64>) -> Job<'a> {
    if extra_map {
        pipeline! {
            job { name: "sums", checkpoint_every_records: 100, checkpoints_retained: 100 }
            let values = generate(1_000, |i: u64| (i % 7, i));
            let sums = values
                .map(|v| v)
                .timestamps(|v| v.1 as i64)
                .watermarks(monotonous())
                .uid("event-time")
                .key_by(|v| v.0)
                .window(tumbling(50ms))
                .drop_late_data()
                .sum(|v| v.1)
                .uid("sums-per-key");
            sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
        }
    } else {
        pipeline! {
            job { name: "sums", checkpoint_every_records: 100, checkpoints_retained: 100 }
            let values = generate(1_000, |i: u64| (i % 7, i));
            let sums = values
                .timestamps(|v| v.1 as i64)
                .watermarks(monotonous())
                .uid("event-time")
                .key_by(|v| v.0)
                .window(tumbling(50ms))
                .drop_late_data()
                .sum(|v| v.1)
                .uid("sums-per-key");
            sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
        }
    }
}

#[test]
fn state_named_with_uid_restores_into_a_changed_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let seen = fuseflow::Folded::new();
    uid_job(false, &seen).with_checkpoint_dir(tmp.path()).run().unwrap();
    let manifest = std::fs::read_to_string(tmp.path().join("chk-3/_manifest.json")).unwrap();
    assert!(
        manifest.contains("\"sums-per-key\"") && manifest.contains("\"event-time\""),
        "{manifest}"
    );
    // One more operator in front: positions shift, uids do not. The fold sink has no uid, so
    // its positional id changes and the checkpoint's fold state is refused.
    let seen = fuseflow::Folded::new();
    let err = uid_job(true, &seen)
        .with_checkpoint_dir(tmp.path())
        .with_restore(RestoreFrom::Id(3))
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("fold_"), "{err}");
    assert!(!err.contains("sums-per-key") && !err.contains("event-time"), "{err}");
}

/// Event-time windows and a keyed `reduce` over their results, checkpointing every 200
/// records; the sink adds up every running value.
fn window_reduce_job<'a>(seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "running", checkpoint_every_records: 200, checkpoints_retained: 100 }
        let values = generate(3_000, |i: u64| (i % 13, i));
        let sums = values
            .timestamps(|v| v.1 as i64)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(100ms))
            .drop_late_data()
            .sum(|v| v.1);
        let running = sums.key_by(|r| r.key).reduce(|a, b| WindowResult { value: a.value + b.value, ..b });
        running.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
}

/// The same job without checkpoints, with its state in RocksDB by the job's settings.
fn window_reduce_job_on_rocksdb<'a>(seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "running", state_backend: rocksdb }
        let values = generate(3_000, |i: u64| (i % 13, i));
        let sums = values
            .timestamps(|v| v.1 as i64)
            .watermarks(monotonous())
            .key_by(|v| v.0)
            .window(tumbling(100ms))
            .drop_late_data()
            .sum(|v| v.1);
        let running = sums.key_by(|r| r.key).reduce(|a, b| WindowResult { value: a.value + b.value, ..b });
        running.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
}

#[test]
fn window_and_reduce_state_restores_from_either_backend_onto_either_backend() {
    use fuseflow::state::StateBackendKind::{Memory, RocksDb};
    let expected = {
        let seen = fuseflow::Folded::new();
        let tmp = tempfile::tempdir().unwrap();
        window_reduce_job(&seen).with_checkpoint_dir(tmp.path()).run().unwrap();
        seen.take().iter().sum::<u64>()
    };
    let on_disk = fuseflow::Folded::new();
    let tmp = tempfile::tempdir().unwrap();
    window_reduce_job_on_rocksdb(&on_disk)
        .with_parallelism(2)
        .with_state_backend(RocksDb, Some(tmp.path().to_owned()))
        .run()
        .unwrap();
    assert_eq!(on_disk.take().iter().sum::<u64>(), expected, "state_backend: rocksdb");
    for from in [Memory, RocksDb] {
        let tmp = tempfile::tempdir().unwrap();
        let (ckpt, state_dir) = (tmp.path().join("ckpt"), Some(tmp.path().join("state")));
        let seen = fuseflow::Folded::new();
        window_reduce_job(&seen)
            .with_parallelism(2)
            .with_state_backend(from, state_dir.clone())
            .with_checkpoint_dir(&ckpt)
            .run()
            .unwrap();
        assert_eq!(seen.take().iter().sum::<u64>(), expected, "{from:?}");
        for to in [Memory, RocksDb] {
            for id in [2, 7, 11] {
                let seen = fuseflow::Folded::new();
                window_reduce_job(&seen)
                    .with_parallelism(2)
                    .with_state_backend(to, state_dir.clone())
                    .with_checkpoint_dir(&ckpt)
                    .with_restore(RestoreFrom::Id(id))
                    .run()
                    .unwrap();
                assert_eq!(
                    seen.take().iter().sum::<u64>(),
                    expected,
                    "checkpoint {id} taken on {from:?}, restored on {to:?}"
                );
            }
        }
    }
}
