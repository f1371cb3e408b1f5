//! The `fuseflow` command: parses the options and runs them (see `lib.rs`).

use clap::Parser;
use fuseflow_cli::Opt;
use std::process::ExitCode;

fn main() -> ExitCode {
    match fuseflow_cli::run(Opt::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
