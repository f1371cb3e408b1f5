//! fuseflow's benchmark: the workloads W1 and W2 of `shared/bench/workloads.md`, run in one
//! process through a hand-written Rust baseline ([`baseline`]) and through the same job
//! written with `pipeline!` ([`pipeline`]) at each requested parallelism.
//!
//! Each implementation is timed with [`Instant`] around its whole run, event generation
//! included; the fastest of `--runs` runs is reported as events per second, next to the ratio
//! to the baseline and the checksums ([`report::table`]). Every run's checksums must equal the
//! baseline's and, when `workloads.md` lists the event count, the expected ones; [`run`] fails
//! otherwise.
//!
//! ```text
//! cargo run --release -p fuseflow-bench -- --events 20000000 --workloads w1,w2 --parallelism 1,2 --runs 3
//! ```
//!
//! `bench nexmark` runs the Nexmark queries instead ([`nexmark`]).

pub mod baseline;
pub mod nexmark;
pub mod opt;
pub mod pipeline;
pub mod report;
pub mod workload;

use fuseflow::JobError;
use opt::Opt;
use report::{Implementation, Measurement};
use std::time::Instant;
use workload::{Outcome, Workload};

/// Why a benchmark run failed.
#[derive(Debug)]
pub enum Error {
    /// A `pipeline!` job failed.
    Job(JobError),
    /// Some implementation computed different checksums (one message per disagreement).
    Mismatch(Vec<String>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Job(e) => write!(f, "the pipeline job failed: {e}"),
            Error::Mismatch(found) => {
                f.write_str("checksums differ:")?;
                found.iter().try_for_each(|m| write!(f, "\n  {m}"))
            }
        }
    }
}

impl std::error::Error for Error {}

/// Runs the benchmark `opt` describes, printing the table to stdout (and progress to
/// stderr); returns the measurements, or an error if a job failed or checksums disagree.
pub fn run(opt: &Opt) -> Result<Vec<Measurement>, Error> {
    let n = opt.events;
    let mut rows = Vec::new();
    for &workload in &opt.workloads {
        let mut implementations = vec![Implementation::Baseline];
        implementations.extend(
            opt.parallelism
                .iter()
                .map(|&parallelism| Implementation::Pipeline { parallelism }),
        );
        for implementation in implementations {
            let measure = || match implementation {
                Implementation::Baseline => Ok(match workload {
                    Workload::W1 => baseline::run::<{ Workload::W1.keys() }>(n),
                    Workload::W2 => baseline::run::<{ Workload::W2.keys() }>(n),
                }),
                Implementation::Pipeline { parallelism } => match workload {
                    Workload::W1 => pipeline::run::<{ Workload::W1.keys() }>(n, parallelism.into()),
                    Workload::W2 => pipeline::run::<{ Workload::W2.keys() }>(n, parallelism.into()),
                },
            };
            let (secs, outcome) = best_of(opt.runs, measure).map_err(|e| match e {
                RunError::Job(e) => Error::Job(e),
                RunError::Unstable(a, b) => Error::Mismatch(vec![format!(
                    "{workload} {implementation}: one run gave {a}, another {b}"
                )]),
            })?;
            let m = Measurement {
                workload,
                implementation,
                events_per_sec: n as f64 / secs,
                outcome,
            };
            eprintln!(
                "{workload} {implementation}: {:.1} M events/s, {outcome}",
                m.events_per_sec / 1e6
            );
            rows.push(m);
        }
    }
    println!("N = {n}, best of {} run(s)\n", opt.runs);
    print!("{}", report::table(&rows));
    let found = report::mismatches(&rows, n);
    if !found.is_empty() {
        return Err(Error::Mismatch(found));
    }
    let against = if opt.workloads.iter().all(|w| w.expected(n).is_some()) {
        "the baseline's and workloads.md's"
    } else {
        "the baseline's (workloads.md lists no checksums for this N)"
    };
    println!("\nall checksums match {against}");
    Ok(rows)
}

/// Why [`best_of`] failed.
enum RunError {
    Job(JobError),
    /// Two runs computed different outcomes.
    Unstable(Outcome, Outcome),
}

/// Runs `f` `runs` times; the shortest wall time in seconds and the outcome all runs agree on.
fn best_of(runs: u32, mut f: impl FnMut() -> Result<Outcome, JobError>) -> Result<(f64, Outcome), RunError> {
    let mut best: Option<(f64, Outcome)> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let outcome = f().map_err(RunError::Job)?;
        let secs = t.elapsed().as_secs_f64();
        best = match best {
            Some((_, first)) if first != outcome => return Err(RunError::Unstable(first, outcome)),
            Some((b, first)) => Some((b.min(secs), first)),
            None => Some((secs, outcome)),
        };
    }
    Ok(best.expect("at least one run"))
}
