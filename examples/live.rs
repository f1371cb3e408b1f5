//! A live job: counts the lines of standard input per distinct line, printing each updated
//! count as soon as the line arrives (a keyed running `reduce` behind a `key_by` exchange).
//!
//! ```bash
//! cargo run --release --example live -- --parallelism 2
//! ```
//!
//! Type lines; each prints `("<line>", <count so far>)`. End with Ctrl-D.

use fuseflow::pipeline;
use std::process::ExitCode;

fn main() -> ExitCode {
    fuseflow::main(pipeline! {
        job { name: "live-line-counts" }
        let lines = stdin_lines();
        let counts = lines
            .map(|l| (l, 1u64))
            .key_by(|p| p.0.clone())
            .reduce(|a, b| (a.0, a.1 + b.1));
        counts.sink(stdout());
    })
}
