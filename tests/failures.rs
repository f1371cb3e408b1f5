//! Failures inside a running job (issue 4): a panicking `map`, an `Err`-returning `try_map`
//! and a sink that fails twice then recovers. With a restart strategy the job restarts in the
//! same process from its latest checkpoint and its exactly-once results are those of a run
//! without failures; with `.on_error(dead_letter)` the offending record goes to the
//! dead-letter output with the error and the job goes on; without either, the job fails
//! with a message naming the operator.

use fuseflow::{Job, WindowResult, pipeline};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const N: u64 = 20_000;

fn expected_total() -> u64 {
    (0..N).sum()
}

/// Panics once (the first time it meets record 12,345), then behaves.
fn flaky_double(x: u64, panicked: &AtomicBool) -> u64 {
    if x == 12_345 && !panicked.swap(true, Ordering::SeqCst) {
        panic!("flaky map hit record {x}");
    }
    x
}

fn flaky_map_job<'a>(dir: &std::path::Path, panicked: &'static AtomicBool, seen: &fuseflow::Folded<u64>) -> Job<'a> {
    pipeline! {
        job {
            name: "flaky-map",
            parallelism: 2,
            checkpoint_every_records: 1000,
            restart: fixed_delay(3, 10ms),
        }
        let values = generate(N, |i: u64| i);
        let sums = values
            .map(move |x| flaky_double(x, panicked))
            .timestamps(|x| *x as i64)
            .watermarks(monotonous())
            .key_by(|x| x % 5)
            .window(tumbling(100ms))
            .drop_late_data()
            .sum(|x| *x);
        sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
    .with_checkpoint_dir(dir)
}

#[test]
fn a_panicking_map_restarts_the_job_from_its_latest_checkpoint_exactly_once() {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let seen = fuseflow::Folded::new();
    let summary = flaky_map_job(tmp.path(), &PANICKED, &seen).run().unwrap();
    assert!(PANICKED.load(Ordering::SeqCst), "the map never panicked");
    assert_eq!(summary.restarts, 1);
    // The fold's accumulators were restored from the checkpoint: every value counted once.
    assert_eq!(seen.take().iter().sum::<u64>(), expected_total());
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Reading {
    sensor: u32,
    value: String,
}

fn parse_reading(r: Reading) -> Result<(u32, f64), String> {
    r.value
        .parse::<f64>()
        .map(|v| (r.sensor, v))
        .map_err(|e| format!("sensor {}: `{}` is not a number ({e})", r.sensor, r.value))
}

fn readings() -> Vec<Reading> {
    (0..100)
        .map(|i| Reading {
            sensor: i % 3,
            value: if i % 10 == 7 {
                format!("bad{i}")
            } else {
                format!("{i}.5")
            },
        })
        .collect()
}

#[test]
fn an_err_from_try_map_goes_to_the_dead_letter_output_with_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("dead.jsonl");
    let out = fuseflow::Collected::new();
    let summary = pipeline! {
        let raw = from_iter(readings());
        raw.try_map(parse_reading).on_error(dead_letter).sink(collect(out));
    }
    .with_dead_letter(fuseflow::DeadLetterTarget::File(dead.display().to_string()))
    .run()
    .unwrap();
    assert_eq!(out.take().len(), 90);
    assert_eq!(summary.dead_lettered, 10);
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 10);
    assert_eq!(letters[0]["source"], "try_map_1");
    assert!(letters[0]["raw"].as_str().unwrap().contains("bad7"), "{}", letters[0]);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("`bad7` is not a number"),
        "{}",
        letters[0]
    );
}

#[test]
fn an_err_from_try_map_without_a_policy_fails_the_job_naming_the_operator() {
    let out = fuseflow::Collected::new();
    let err = pipeline! {
        let raw = from_iter(readings());
        raw.try_map(parse_reading).sink(collect(out));
    }
    .run()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("operator `try_map_1` failed on a record: sensor 1: `bad7` is not a number"),
        "{err}"
    );
}

#[test]
fn a_panicking_map_with_the_dead_letter_policy_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("dead.jsonl");
    let out = fuseflow::Collected::new();
    let summary = pipeline! {
        let xs = from_iter(0..50u32);
        xs.map(|x| 100 / (x % 10)).on_error(dead_letter).sink(collect(out));
    }
    .with_dead_letter(fuseflow::DeadLetterTarget::File(dead.display().to_string()))
    .run()
    .unwrap();
    assert_eq!(out.take().len(), 45);
    assert_eq!(summary.dead_lettered, 5);
    let text = std::fs::read_to_string(&dead).unwrap();
    assert!(text.contains("panicked: attempt to divide by zero"), "{text}");
}

#[test]
fn a_panicking_map_without_restarts_fails_the_job() {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let seen = fuseflow::Folded::new();
    let err = pipeline! {
        job { name: "no-restart" }
        let values = generate(N, |i: u64| i);
        values
            .map(move |x| flaky_double(x, &PANICKED))
            .sink(fold(seen, 0u64, |acc: &mut u64, x: u64| *acc += x));
    }
    .run()
    .unwrap_err()
    .to_string();
    assert!(err.contains("panicked: flaky map hit record 12345"), "{err}");
}

/// A sink that fails (panics) on its first two attempts at record 5,000, then works.
fn failing_sink_job<'a>(
    dir: &std::path::Path,
    attempts: &'static AtomicUsize,
    seen: &fuseflow::Folded<u64>,
) -> Job<'a> {
    pipeline! {
        job {
            name: "failing-sink",
            checkpoint_every_records: 500,
            restart: exponential_delay(5ms, 20ms, 5),
        }
        let values = generate(N, |i: u64| i);
        values.sink(for_each(move |x: u64| {
            if x == 5_000 && attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("the sink's server is down");
            }
        }));
        values.sink(fold(seen, 0u64, |acc: &mut u64, x: u64| *acc += x));
    }
    .with_checkpoint_dir(dir)
}

#[test]
fn a_sink_that_fails_twice_then_recovers_restarts_twice_and_completes() {
    static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
    let tmp = tempfile::tempdir().unwrap();
    let seen = fuseflow::Folded::new();
    let summary = failing_sink_job(tmp.path(), &ATTEMPTS, &seen).run().unwrap();
    assert_eq!(summary.restarts, 2);
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 3);
    assert_eq!(seen.take().iter().sum::<u64>(), expected_total());
}
