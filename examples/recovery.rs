//! A windowed job that takes checkpoints and survives being killed: per-user sums of
//! amounts in 10-second event-time windows over out-of-order events, with late events to a
//! side output. Run it, kill it (even with SIGKILL), and run it again with `--restore latest`:
//! the committed output (the `part-*` files) is exactly that of a run that was never killed.
//!
//! ```bash
//! cargo run --release --example recovery -- --parallelism 2
//! cargo run --release --example recovery -- --parallelism 2 --restore latest
//! ```

use fuseflow::pipeline;
use std::process::ExitCode;

/// One event: a user spent `amount` at `ts` (ms).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Event {
    user: String,
    amount: u64,
    ts: i64,
}

fn main() -> ExitCode {
    fuseflow::main(pipeline! {
        job {
            name: "recovery",
            checkpoint_every_records: 2000,
            checkpoint_dir: "out/recovery/checkpoints",
            checkpoints_retained: 2,
        }
        let events = csv::<Event>("examples/data/events.csv");
        let totals = events
            .timestamps(|e| e.ts)
            .watermarks(bounded_out_of_orderness(2s))
            .key_by(|e| e.user.clone())
            .window(tumbling(10s))
            .allowed_lateness(3s)
            .side_output_late_data(late)
            .sum(|e| e.amount);
        totals.sink(csv("out/recovery/totals"));
        late.sink(json_lines("out/recovery/late"));
    })
}
