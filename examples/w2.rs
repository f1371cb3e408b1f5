//! Benchmark workload W2: the W1 job with 100 keys (aggregation-bound).
//!
//! ```text
//! cargo run --release --example w2 -- 20000000
//! ```
//! prints `R=<r> C=<c> S=<s> late=<l>`, to compare with `shared/bench/workloads.md`.

#[path = "workload/mod.rs"]
mod workload;

fn main() -> std::process::ExitCode {
    workload::main("w2", 100)
}
