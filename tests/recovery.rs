//! Exactly-once recovery: the `recovery` example job (event-time windows over out-of-order
//! and late data, and a keyed `process` with value state and timers; parallelism 2;
//! checkpoints every 2,000 records) is killed with SIGKILL at random points and restarted
//! with `--restore latest` each time; its committed output (the published `part-*` files)
//! must equal that of a run that was never killed: nothing lost, nothing duplicated. It runs
//! once per state backend (in memory, and RocksDB, which `cargo test --workspace` builds in).
//! With `--state-backend rocksdb` the keyed `process` state and the windows' accumulators are
//! in RocksDB (the job takes checkpoints, so its windows are wrapped by `checkpointed`, which
//! moves their state into the job's backend; see docs/rocksdb.md).

mod common;

use common::events::{Events, Rng, write_events};
use common::example;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `n` events of 200 users, with a malformed line every 50,000.
fn write_events_r(path: &Path, n: usize) {
    let events = Events {
        seed: 0x9e37_79b9_7f4a_7c15,
        users: 200,
        malformed_every: Some(50_000),
    };
    write_events(path, n, &events);
}

/// The job's command line on `backend`, with every path inside `dir`.
fn job(input: &Path, dir: &Path, backend: &str) -> Command {
    let mut cmd = example("recovery");
    cmd.args([
        "--parallelism",
        "2",
        "--quiet",
        "--restore",
        "latest",
        "--state-backend",
        backend,
    ])
    .arg("--state-dir")
    .arg(dir.join("state"))
    .arg("--input")
    .arg(format!("events={}", input.display()))
    .arg("--output")
    .arg(format!("totals={}", dir.join("totals").display()))
    .arg("--output")
    .arg(format!("late={}", dir.join("late").display()))
    .arg("--output")
    .arg(format!("streaks={}", dir.join("streaks").display()))
    .arg("--checkpoint-dir")
    .arg(dir.join("checkpoints"))
    .arg("--dead-letter")
    .arg(dir.join("dead.jsonl"))
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// The committed output of a sink directory: every line of every published part file
/// (headers included once per part), sorted, since workers interleave.
fn committed(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("part-"))
        .collect();
    parts.sort();
    for p in parts {
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, line) in text.lines().enumerate() {
            // A CSV part starts with its header: compare records only.
            if i == 0 && p.extension().is_some_and(|e| e == "csv") {
                continue;
            }
            lines.push(line.to_owned());
        }
    }
    lines.sort();
    lines
}

fn run_to_end(input: &Path, dir: &Path, backend: &str) {
    let out = job(input, dir, backend).output().unwrap();
    assert!(
        out.status.success(),
        "the job failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn killed_at_random_points_and_restored_the_committed_output_is_exactly_once_in_memory() {
    killed_and_restored("memory");
}

#[test]
fn killed_at_random_points_and_restored_the_committed_output_is_exactly_once_on_rocksdb() {
    killed_and_restored("rocksdb");
}

fn killed_and_restored(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.csv");
    write_events_r(&input, 60_000);

    // The run that is never killed.
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    run_to_end(&input, &reference, backend);
    let full = started.elapsed();
    let expected_totals = committed(&reference.join("totals"));
    let expected_late = committed(&reference.join("late"));
    let expected_streaks = committed(&reference.join("streaks"));
    assert!(expected_streaks.len() > 1_000, "{} streaks", expected_streaks.len());
    assert!(
        expected_totals.len() > 10_000,
        "{} window results",
        expected_totals.len()
    );
    assert!(!expected_late.is_empty(), "the input has late events");

    // The run that is killed again and again.
    let dir = tmp.path().join("killed");
    let mut rng = Rng(42);
    let mut kills = 0;
    let mut attempts = 0;
    while kills < 20 {
        attempts += 1;
        assert!(attempts < 200, "only {kills} kills landed in {attempts} attempts");
        let mut child = job(&input, &dir, backend).spawn().unwrap();
        // Anywhere in the first half of a whole run: most kills land before the job ends.
        let delay = Duration::from_micros(rng.below(full.as_micros() as u64 / 2 + 1));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
        } else {
            let status = child.wait().unwrap();
            assert!(status.success(), "a restarted run failed");
            // It finished before the kill: start the history again.
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    run_to_end(&input, &dir, backend);
    let checkpoints: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!checkpoints.is_empty());

    let totals = committed(&dir.join("totals"));
    assert_eq!(totals.len(), expected_totals.len(), "window results lost or duplicated");
    assert!(
        totals == expected_totals,
        "window results differ from the uninterrupted run"
    );
    assert!(
        committed(&dir.join("late")) == expected_late,
        "late events differ from the uninterrupted run"
    );
    assert!(
        committed(&dir.join("streaks")) == expected_streaks,
        "the keyed process's output differs from the uninterrupted run"
    );
    // Nothing unpublished is left behind.
    for sink in ["totals", "late", "streaks"] {
        for e in std::fs::read_dir(dir.join(sink)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(name.starts_with("part-"), "{sink}/{name} left behind");
        }
    }
}

#[test]
fn restoring_a_finished_job_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.csv");
    write_events_r(&input, 5_000);
    let dir = tmp.path().join("run");
    run_to_end(&input, &dir, "memory");
    let totals = committed(&dir.join("totals"));
    run_to_end(&input, &dir, "memory");
    assert_eq!(committed(&dir.join("totals")), totals);
}
