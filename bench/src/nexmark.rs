//! The Nexmark benchmark: every query of [`fuseflow_nexmark::queries`] over a fixed number of
//! generated events, at each requested parallelism, with a blackhole sink.
//!
//! A run is timed with [`Instant`] (wall) and with the process's CPU clock
//! ([`ProcessTime`], `CLOCK_PROCESS_CPUTIME_ID`: every thread of the process, the source
//! thread and the workers alike), both around the whole job: generating the events, the
//! query and the sink. Events per second per core is events divided by CPU seconds, the
//! figure Flink's Nexmark publishes (throughput per core). Each query runs `--runs` times;
//! events per second come from the shortest wall time, events per second per core from the
//! smallest CPU time (each the best of the runs: on a shared machine, other processes delay
//! a run's wall time more than its CPU time). Every run must output as many rows as the
//! first (so must every deterministic query at every parallelism).
//!
//! The sink is `for_each(blackhole)`, where `blackhole` passes each row to
//! [`std::hint::black_box`], so the compiler cannot drop the work that computes a row.
//!
//! ```text
//! cargo run --release -p fuseflow-bench -- nexmark --events 10000000 --queries q0,q5 --parallelism 1,2 --runs 3
//! ```

use clap::Args;
use cpu_time::ProcessTime;
use fuseflow::JobError;
use fuseflow_nexmark::queries::SideInput;
use fuseflow_nexmark::{Config, Generator, Query, RowSink};
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::time::Instant;

/// The options of `bench nexmark`.
#[derive(Debug, Clone, Args)]
pub struct NexmarkOpt {
    /// Number of generated events per run (persons, auctions and bids).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,

    /// Queries to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "q0,q1,q2,q5,q7,q10,q12,q13,q14,q21,q22"
    )]
    pub queries: Vec<Query>,

    /// Worker counts to run each query at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: Vec<u16>,

    /// Runs per query and parallelism; the fastest one is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Event time advanced per second of events (the generator's rate; Flink's suite: 10 M).
    #[arg(long, default_value_t = 10_000_000)]
    pub rate: u64,
}

/// Runs `query` over `events` events on `parallelism` workers, rows to a blackhole; the
/// number of rows out.
pub fn run_query(query: Query, generator: &Generator, events: u64, parallelism: usize) -> Result<u64, JobError> {
    let side = SideInput::new();
    let job = query.job(generator, &side, events, &Blackhole);
    Ok(job.with_parallelism(parallelism).run()?.records_out)
}

/// The benchmark's sink: every row into [`std::hint::black_box`].
struct Blackhole;

impl RowSink for Blackhole {
    fn sink<'a, R: Serialize + Send + 'a>(&self) -> impl FnMut(R) + Clone + Send + 'a {
        blackhole
    }
}

/// The blackhole sink: consumes a row without the compiler seeing it unused.
#[inline]
fn blackhole<T>(row: T) {
    std::hint::black_box(row);
}

/// The best of several runs of one query at one parallelism.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// The query.
    pub query: Query,
    /// Workers behind each exchange.
    pub parallelism: u16,
    /// Events generated.
    pub events: u64,
    /// The shortest wall time of the runs, seconds.
    pub wall_secs: f64,
    /// The smallest CPU time of the whole process during a run, seconds.
    pub cpu_secs: f64,
    /// Rows the query output.
    pub rows: u64,
}

impl Measurement {
    /// Events per second of wall time.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall_secs
    }

    /// Events per CPU second: throughput per core.
    pub fn per_core(&self) -> f64 {
        self.events as f64 / self.cpu_secs
    }

    /// [`Measurement::per_core`] over Flink's figure, if Flink published one.
    pub fn vs_flink(&self) -> Option<f64> {
        self.query.flink_per_core().map(|f| self.per_core() / f)
    }
}

/// Why `bench nexmark` failed.
#[derive(Debug)]
pub enum Error {
    /// A job failed.
    Job(JobError),
    /// Runs of a deterministic query output different numbers of rows.
    Unstable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Job(e) => write!(f, "a Nexmark job failed: {e}"),
            Error::Unstable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Runs the benchmark `opt` describes; prints the table to stdout, progress to stderr.
pub fn run(opt: &NexmarkOpt) -> Result<Vec<Measurement>, Error> {
    let generator = Generator::new(Config::default().with_rate(opt.rate));
    // Builds the generator's static tables before anything is timed.
    std::hint::black_box(generator.event(opt.events.min(1_000)));
    let mut rows = Vec::new();
    for &query in &opt.queries {
        let mut first_rows: Option<u64> = None;
        for &parallelism in &opt.parallelism {
            let mut best: Option<Measurement> = None;
            for _ in 0..opt.runs {
                let wall = Instant::now();
                let cpu = ProcessTime::now();
                let out = run_query(query, &generator, opt.events, parallelism.into()).map_err(Error::Job)?;
                let m = Measurement {
                    query,
                    parallelism,
                    events: opt.events,
                    wall_secs: wall.elapsed().as_secs_f64(),
                    cpu_secs: cpu.elapsed().as_secs_f64(),
                    rows: out,
                };
                if !query.uses_processing_time() {
                    match first_rows {
                        Some(n) if n != out => {
                            return Err(Error::Unstable(format!(
                                "{query} output {out} rows at parallelism {parallelism}, {n} before"
                            )));
                        }
                        _ => first_rows = Some(out),
                    }
                }
                best = Some(match best {
                    None => m,
                    Some(b) => Measurement {
                        wall_secs: b.wall_secs.min(m.wall_secs),
                        cpu_secs: b.cpu_secs.min(m.cpu_secs),
                        ..b
                    },
                });
            }
            let m = best.expect("at least one run");
            eprintln!(
                "{query} p={parallelism}: {:.2} M events/s, {:.2} M events/s per core, {} rows",
                m.events_per_sec() / 1e6,
                m.per_core() / 1e6,
                m.rows
            );
            rows.push(m);
        }
    }
    println!(
        "Nexmark, N = {} events at {} events/s of event time, best of {} run(s)\n",
        opt.events, opt.rate, opt.runs
    );
    print!("{}", table(&rows));
    Ok(rows)
}

/// Renders the measurements as a Markdown table next to Flink's per-core figures.
pub fn table(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "| query | p | events/s | CPU s / wall s | events/s per core | Flink per core | vs Flink | rows out |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for m in rows {
        let flink = m
            .query
            .flink_per_core()
            .map_or("-".to_string(), |f| format!("{:.0} K", f / 1e3));
        let ratio = m.vs_flink().map_or("-".to_string(), |r| format!("{r:.1}x"));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} M | {:.2} / {:.2} | {:.2} M | {} | {} | {} |",
            m.query,
            m.parallelism,
            m.events_per_sec() / 1e6,
            m.cpu_secs,
            m.wall_secs,
            m.per_core() / 1e6,
            flink,
            ratio,
            m.rows
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn the_table_shows_per_core_throughput_next_to_flink() {
        let m = Measurement {
            query: Query::Q0,
            parallelism: 2,
            events: 10_000_000,
            wall_secs: 1.0,
            cpu_secs: 1.25,
            rows: 9_200_000,
        };
        assert_eq!(m.per_core(), 8e6);
        let t = table(&[m]);
        assert!(
            t.contains("| q0 | 2 | 10.00 M | 1.25 / 1.00 | 8.00 M | 379 K | 21.1x | 9200000 |"),
            "{t}"
        );
        let q5 = Measurement { query: Query::Q5, ..m };
        assert!(table(&[q5]).contains("| - | - |"));
    }

    #[test]
    fn every_query_runs_and_deterministic_ones_agree_across_parallelism() {
        let g = Generator::new(Config::default().with_rate(1_000));
        for q in Query::value_variants() {
            let one = run_query(*q, &g, 10_000, 1).unwrap();
            assert!(one > 0, "{q}");
            if !q.uses_processing_time() {
                assert_eq!(run_query(*q, &g, 10_000, 2).unwrap(), one, "{q}");
            }
        }
    }
}
