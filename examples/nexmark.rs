//! The Nexmark queries (`fuseflow_nexmark::queries`) as one job binary: pick a query, an
//! event count and the generator's settings; every job flag works too (`--parallelism`,
//! `--explain`, …).
//!
//! ```text
//! cargo run --release --example nexmark -- q5 --events 10000000 --parallelism 2
//! cargo run --release --example nexmark -- q22 --events 1000 --print      # rows as JSON lines
//! cargo run --release --example nexmark -- q7 --explain                    # the fused plan
//! ```
//!
//! Without `--print` the rows go to a blackhole (as in the benchmark) and only the summary
//! line is printed: events in, rows out, events per second.

use clap::Parser;
use fuseflow::cli::{JobArgs, Outcome};
use fuseflow_nexmark::{Config, Generator, Query, RowSink, queries};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// Runs one Nexmark query over generated events.
#[derive(Debug, Parser)]
#[command(name = "nexmark", version)]
struct Args {
    /// The query
    #[arg(value_enum)]
    query: Query,
    /// Events to generate (persons, auctions and bids)
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per second of event time
    #[arg(long, default_value_t = 10_000_000)]
    rate: u64,
    /// The generator's seed
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Shuffle events in groups of this many (1: in order)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    out_of_order: u64,
    /// Print every row as a JSON line on stdout
    #[arg(long)]
    print: bool,
    #[command(flatten)]
    job: JobArgs,
}

/// Prints each row as one JSON line (`--print`), or discards it.
struct Rows {
    print: bool,
}

impl RowSink for Rows {
    fn sink<'a, R: Serialize + Send + 'a>(&self) -> impl FnMut(R) + Clone + Send + 'a {
        let print = self.print;
        move |row: R| {
            if print {
                let line = serde_json::to_string(&row).expect("rows serialize");
                // A closed stdout (`| head`) just ends the output.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            } else {
                std::hint::black_box(row);
            }
        }
    }
}

fn main() -> ExitCode {
    let args = match fuseflow::cli::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = Config::default()
        .with_seed(args.seed)
        .with_rate(args.rate)
        .with_out_of_order_group_size(args.out_of_order);
    let generator = Generator::new(config);
    let side = queries::SideInput::new();
    let job = args
        .query
        .job(&generator, &side, args.events, &Rows { print: args.print });
    // The summary line (unless `--quiet`) gives the rows out and the events per second.
    match fuseflow::cli::execute(job, &args.job) {
        Ok(Outcome::Ran(_) | Outcome::Explained) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
