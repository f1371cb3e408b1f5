//! Benchmark workload W1: keyed tumbling event-time windows over 10,000 keys.
//!
//! ```text
//! cargo run --release --example w1 -- 20000000
//! ```
//! prints `R=<r> C=<c> S=<s> late=<l>`, to compare with `shared/bench/workloads.md`.

#[path = "workload/mod.rs"]
mod workload;

fn main() -> std::process::ExitCode {
    workload::main("w1", 10_000)
}
