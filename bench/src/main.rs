//! The `bench` command: parses the options and runs the benchmark (see `lib.rs`).

use clap::Parser;
use fuseflow_bench::opt::{Command, Opt};
use std::process::ExitCode;

fn main() -> ExitCode {
    let opt = Opt::parse();
    let result = match &opt.command {
        Some(Command::Nexmark(nexmark)) => fuseflow_bench::nexmark::run(nexmark)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => fuseflow_bench::run(&opt).map(|_| ()).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
