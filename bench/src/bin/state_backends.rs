//! `state_backends`: W1 (`shared/bench/workloads.md`) through the built-in event-time window
//! operator, its window state in memory and in RocksDB, in the same run: the cost of a
//! disk-backed state backend.
//!
//! ```bash
//! cargo run --release -p fuseflow-bench --features rocksdb --bin state_backends -- [N]
//! ```
//!
//! Three runs of the same windows and checksums (they are checked):
//!
//! - `memory`: W1 as the benchmark runs it (`fuseflow_bench::pipeline`), a job without
//!   checkpoints or backend setting: the window's own heap tables, the fast path;
//! - `memory+wrap`: the job with `state_backend: rocksdb` in its settings but started on the
//!   memory backend (`--state-backend memory`): the window is wrapped by `checkpointed` and
//!   keeps its heap tables (the wrapper's cost alone);
//! - `rocksdb`: that job on RocksDB: the accumulators of every (key, window) are read and
//!   written through the job's `KeyedStateStore` in RocksDB, with an in-memory index of the
//!   open windows' keys.
//!
//! The in-memory runs report the best of three. Without the `rocksdb` feature the RocksDB
//! run is skipped.

use fuseflow::state::StateBackendKind;
use fuseflow::{Folded, Job, pipeline};
use fuseflow_bench::pipeline::SumCount;
use fuseflow_bench::workload::{Checksum, Outcome, Workload, event};
use std::time::Instant;

/// W1 with `state_backend: rocksdb` in its settings (so its window keeps its state in the
/// job's backend when that is a byte backend).
fn job<'a>(n: u64, out: &Folded<Checksum>) -> Job<'a> {
    pipeline! {
        job { name: "w1-state-backend", state_backend: rocksdb }
        generate(n, event::<10_000>)
            .timestamps(|e| e.ts_ms)
            .watermarks(bounded_out_of_orderness(500ms))
            .key_by(|e| e.key)
            .window(tumbling(1s))
            .drop_late_data()
            .aggregate(SumCount)
            .sink(fold(out, Checksum::default(), |acc, r| acc.add(&r)));
    }
}

/// Runs the backend-setting job on `backend`: events/s and the outcome.
fn run(n: u64, backend: StateBackendKind) -> Result<(f64, Outcome), String> {
    let out = Folded::new();
    let started = Instant::now();
    let summary = job(n, &out)
        .with_state_backend(backend, Some(std::env::temp_dir()))
        .run()
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let checksum = out.take().into_iter().fold(Checksum::default(), Checksum::merge);
    Ok((
        n as f64 / secs,
        Outcome {
            checksum,
            late: summary.late,
        },
    ))
}

/// Runs the benchmark's own W1 job (no backend setting): events/s and the outcome.
fn run_plain(n: u64) -> Result<(f64, Outcome), String> {
    let started = Instant::now();
    let outcome = fuseflow_bench::pipeline::run::<10_000>(n, 1).map_err(|e| e.to_string())?;
    Ok((n as f64 / started.elapsed().as_secs_f64(), outcome))
}

/// One timed run: events/s and the outcome.
type Run = dyn Fn() -> Result<(f64, Outcome), String>;

fn main() -> std::process::ExitCode {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let expected = Workload::W1.expected(n);
    let mut memory_rate = None;
    let mut first = None;
    println!("W1 through the event-time window operator, N = {n}, parallelism 1");
    println!("{:<12} {:>14} {:>10}", "backend", "events/s", "ratio");
    let runs: [(&str, Box<Run>); 3] = [
        ("memory", Box::new(move || run_plain(n))),
        ("memory+wrap", Box::new(move || run(n, StateBackendKind::Memory))),
        ("rocksdb", Box::new(move || run(n, StateBackendKind::RocksDb))),
    ];
    for (name, go) in runs {
        // The in-memory runs take milliseconds: the best of three.
        let tries = if name == "rocksdb" { 1 } else { 3 };
        let best = (0..tries).map(|_| go()).reduce(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => Ok(if b.0 > a.0 { b } else { a }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        });
        match best.expect("at least one run") {
            Ok((rate, outcome)) => {
                if let Some(e) = &expected {
                    assert_eq!(&outcome, e, "{name}: wrong checksums");
                }
                let same = *first.get_or_insert(outcome);
                assert_eq!(outcome, same, "{name}: checksums differ from the memory run");
                let base = *memory_rate.get_or_insert(rate);
                println!("{name:<12} {rate:>14.0} {:>9.3}x", rate / base);
            }
            Err(e) => println!("{name:<12} skipped: {e}"),
        }
    }
    std::process::ExitCode::SUCCESS
}
