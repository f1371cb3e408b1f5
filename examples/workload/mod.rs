//! The benchmark workloads W1 and W2 (`shared/bench/workloads.md`) as one `pipeline!` job
//! whose key count is the only difference: a generator of `N` events, bounded
//! out-of-orderness of 500 ms, 1 s tumbling event-time windows per key with sum and count,
//! and a sink that folds every result into the checksums `R`, `C`, `S`.

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

/// `<N> [--parallelism <p>]`, with a message for anything else.
fn parse_args(name: &str) -> Result<(u64, usize), String> {
    let usage = format!("usage: {name} <N> [--parallelism <p>]");
    let mut n = 1_000;
    let mut parallelism = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--parallelism" || arg == "-p" {
            let v = args
                .next()
                .ok_or_else(|| format!("--parallelism needs a value\n{usage}"))?;
            parallelism = match v.parse() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(format!(
                        "the parallelism must be a positive whole number, not `{v}`\n{usage}"
                    ));
                }
            };
        } else {
            n = arg
                .parse()
                .map_err(|e| format!("the event count must be a whole number ({e})\n{usage}"))?;
        }
    }
    Ok((n, parallelism))
}

/// Runs the workload with `keys` keys; `N` is the first command-line argument.
pub fn main(name: &str, keys: u64) -> ExitCode {
    let (n, parallelism) = match parse_args(name) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
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
    match job.with_parallelism(parallelism).run() {
        Ok(summary) => {
            let checksum = sums.take().into_iter().fold(Checksum::default(), Checksum::merge);
            println!(
                "R={} C={} S={} late={}",
                checksum.r, checksum.c, checksum.s, summary.late
            );
            let secs = summary.elapsed.as_secs_f64();
            eprintln!(
                "{name}: {n} events in {secs:.3} s ({:.1} M events/s)",
                n as f64 / secs / 1e6
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
