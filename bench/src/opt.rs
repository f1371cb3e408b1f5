//! The command-line options of `bench`.

use crate::nexmark::NexmarkOpt;
use crate::workload::Workload;
use clap::{Parser, Subcommand};

/// Runs the W1/W2 workloads through a hand-written Rust baseline and through `pipeline!` at
/// each parallelism, prints events/s and checksums, and fails if any checksum disagrees.
#[derive(Debug, Clone, Parser)]
///
/// `bench nexmark` runs the Nexmark queries instead (see `bench nexmark --help`).
#[command(name = "bench", version)]
pub struct Opt {
    /// Another benchmark than W1/W2.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Number of generated events per run.
    #[arg(long, default_value_t = 20_000_000)]
    pub events: u64,

    /// Workloads to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "w1,w2")]
    pub workloads: Vec<Workload>,

    /// Worker counts to run the `pipeline!` job at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: Vec<u16>,

    /// Runs per implementation; the fastest one is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

/// The benchmarks other than W1/W2.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// The Nexmark queries: events/s and events/s per core (CPU time) next to Flink's.
    Nexmark(NexmarkOpt),
}
