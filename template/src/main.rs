//! Runs the {{project-name}} job with fuseflow's standard command line:
//! `cargo run -- --help` lists the flags (`--input orders=<path>`, `--output
//! per_customer=<path>`, `--parallelism`, `--explain`, …).

use std::process::ExitCode;

fn main() -> ExitCode {
    fuseflow::main({{crate_name}}::job())
}
