//! The main example: clicks per user in 10-second event-time windows, from a CSV file.
//!
//! It shows the whole of fuseflow's first release on a small input shipped in the repo:
//! a CSV source with a malformed row (dead-lettered, the job goes on), out-of-order clicks
//! within the 2 s watermark bound, a late click inside the 5 s allowed lateness (its window
//! fires again with the updated count), a click too late for any window (sent to the
//! `late_clicks` side output), and three sinks.
//!
//! ```text
//! cargo run --release --example clicks [-- <input.csv> <output-dir> [--parallelism <p>]]
//! ```

use fuseflow::pipeline;
use std::process::ExitCode;

/// One page view.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Click {
    user: String,
    url: String,
    /// Event time, milliseconds.
    ts: i64,
}

fn main() -> ExitCode {
    let mut positional = Vec::new();
    let mut parallelism = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--parallelism" || arg == "-p" {
            match args.next().and_then(|v| v.parse().ok()).filter(|p: &usize| *p > 0) {
                Some(p) => parallelism = p,
                None => {
                    eprintln!("error: --parallelism needs a positive whole number");
                    return ExitCode::from(2);
                }
            }
        } else {
            positional.push(arg);
        }
    }
    let mut positional = positional.into_iter();
    let input = positional.next().unwrap_or_else(|| "examples/data/clicks.csv".into());
    let out = positional.next().unwrap_or_else(|| "out".into());
    let (counts_csv, late_jsonl, dead) = (
        format!("{out}/clicks_per_user.csv"),
        format!("{out}/late_clicks.jsonl"),
        format!("{out}/dead_letters.jsonl"),
    );

    let job = pipeline! {
        job { name: "clicks-per-user" }
        let clicks = csv::<Click>(input);
        let per_user = clicks
            .filter(|c| !c.url.is_empty())
            .timestamps(|c| c.ts)
            .watermarks(bounded_out_of_orderness(2s))
            .key_by(|c| c.user.clone())
            .window(tumbling(10s))
            .allowed_lateness(5s)
            .side_output_late_data(late_clicks)
            .count();
        per_user.sink(stdout());
        per_user.sink(csv(counts_csv));
        late_clicks.sink(json_lines(late_jsonl));
    };
    let job = job
        .with_dead_letter(fuseflow::DeadLetterTarget::File(dead))
        .with_parallelism(parallelism);
    match job.run() {
        Ok(summary) => {
            eprintln!("{summary}");
            eprintln!("results in {out}/: clicks_per_user.csv, late_clicks.jsonl, dead_letters.jsonl");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
