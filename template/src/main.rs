//! Runs the {{project-name}} job: `cargo run [-- <input.csv> <output-dir>]`.
//!
//! By default it reads `data/orders.csv` and writes its results into `out/`; it prints the
//! counts as they are produced and ends with the job summary.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let input = args
        .next()
        .map_or_else(|| PathBuf::from("data/orders.csv"), PathBuf::from);
    let out_dir = args
        .next()
        .map_or_else(|| PathBuf::from("out"), PathBuf::from);

    match {{crate_name}}::orders_per_customer(&input, &out_dir) {
        Ok(report) => {
            eprintln!("{}", report.summary);
            eprintln!(
                "results in {}: orders_per_customer.csv, late_orders.jsonl, dead_letters.jsonl",
                out_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
