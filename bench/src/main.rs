//! The `bench` command: parses the options and runs the benchmark (see `lib.rs`).

use clap::Parser;
use fuseflow_bench::opt::Opt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let opt = Opt::parse();
    match fuseflow_bench::run(&opt) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
