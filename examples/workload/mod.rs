//! The benchmark workloads W1 and W2 (`shared/bench/workloads.md`) as one `pipeline!` job
//! whose key count is the only difference: a generator of `N` events, bounded
//! out-of-orderness of 500 ms, 1 s tumbling event-time windows per key with sum and count,
//! and a sink that folds every result into the checksums `R`, `C`, `S`.

use clap::{CommandFactory, Parser};
use fuseflow::cli::{JobArgs, Outcome};
use fuseflow::{AggregateFunction, WindowResult, pipeline};
use std::process::ExitCode;

/// One generated event.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    key: u64,
    value: i64,
    ts_ms: i64,
}

/// Event `i` of the workload with `keys` distinct keys.
fn event(i: u64, keys: u64) -> Event {
    Event {
        key: (i * 2654435761) % keys,
        value: (i % 1000) as i64,
        ts_ms: (i / 10) as i64 - ((i * 7919) % 500) as i64,
    }
}

/// Sum of values and count of events, computed incrementally (Flink's AggregateFunction).
#[derive(Clone)]
struct SumCount;

impl AggregateFunction<Event> for SumCount {
    type Acc = (i64, u64);
    type Out = (i64, u64);
    fn create_accumulator(&self) -> (i64, u64) {
        (0, 0)
    }
    fn add(&mut self, acc: &mut (i64, u64), e: Event) {
        acc.0 += e.value;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(i64, u64)) -> (i64, u64) {
        *acc
    }
    fn merge(&self, a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// The order-independent checksums of the workload definition.
#[derive(Debug, Default, Clone)]
struct Checksum {
    r: u64,
    c: u64,
    s: i64,
}

impl Checksum {
    fn add(&mut self, w: &WindowResult<u64, (i64, u64)>) {
        let (sum, count) = w.value;
        self.r += 1;
        self.c += count;
        let t = (w.key as i64)
            .wrapping_mul(1_000_003)
            .wrapping_add(w.start.div_euclid(1000).wrapping_mul(97))
            .wrapping_add(sum);
        self.s = self.s.wrapping_add(t.rem_euclid(1 << 61));
    }

    /// Combines the checksums of two workers.
    fn merge(self, other: Checksum) -> Checksum {
        Checksum {
            r: self.r + other.r,
            c: self.c + other.c,
            s: self.s.wrapping_add(other.s),
        }
    }
}

/// `<N>` and the job flags (`--parallelism`, …).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Number of events to generate
    #[arg(value_name = "N", default_value = "1000", value_parser = parse_count)]
    n: u64,
    #[command(flatten)]
    job: JobArgs,
}

fn parse_count(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|e| format!("the event count must be a whole number ({e})"))
}

/// Runs the workload with `keys` keys; `N` is the first command-line argument.
pub fn main(name: &'static str, keys: u64) -> ExitCode {
    let args = Args::command().name(name).about(format!(
        "Benchmark workload {}: N events, 1 s tumbling windows over {keys} keys; prints R=… C=… S=… late=…",
        name.to_uppercase()
    ));
    let Args { n, job: job_args } = match fuseflow::cli::parse_with::<Args>(args, std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let sums = fuseflow::Folded::new();
    let job = pipeline! {
        job { name: "workload" }
        generate(n, |i| event(i, keys))
            .timestamps(|e| e.ts_ms)
            .watermarks(bounded_out_of_orderness(500ms))
            .key_by(|e| e.key)
            .window(tumbling(1s))
            .drop_late_data()
            .aggregate(SumCount)
            .sink(fold(sums, Checksum::default(), |acc, r| acc.add(&r)));
    };
    match fuseflow::cli::execute(job, &job_args) {
        Ok(Outcome::Ran(summary)) => {
            let checksum = sums.take().into_iter().fold(Checksum::default(), Checksum::merge);
            println!(
                "R={} C={} S={} late={}",
                checksum.r, checksum.c, checksum.s, summary.late
            );
            let secs = summary.elapsed.as_secs_f64();
            if !job_args.quiet {
                eprintln!(
                    "{name}: {n} events in {secs:.3} s ({:.1} M events/s)",
                    n as f64 / secs / 1e6
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Explained) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
