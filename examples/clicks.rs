//! The main example: clicks per user in 10-second event-time windows, from a CSV file.
//!
//! It shows the whole of fuseflow's first release on a small input shipped in the repo:
//! a CSV source with a malformed row (dead-lettered, the job goes on), out-of-order clicks
//! within the 2 s watermark bound, a late click inside the 5 s allowed lateness (its window
//! fires again with the updated count), a click too late for any window (sent to the
//! `late_clicks` side output), and three sinks.
//!
//! ```text
//! cargo run --release --example clicks [-- <input.csv> <output-dir> [--parallelism <p>] …]
//! ```
//!
//! Besides its two positional arguments it takes every job flag (`--help` lists them):
//! `--input clicks=<path>` replaces the input, `--output late_clicks=<path>` the late-clicks
//! output, `--explain` prints the fused plan.

use clap::Parser;
use fuseflow::cli::JobArgs;
use fuseflow::pipeline;
use std::process::ExitCode;

/// Counts clicks per user in 10-second event-time windows.
#[derive(Debug, Parser)]
#[command(name = "clicks", version)]
struct Args {
    /// The clicks CSV file (columns user,url,ts)
    #[arg(default_value = "examples/data/clicks.csv")]
    input: String,
    /// Where to write clicks_per_user.csv, late_clicks.jsonl and dead_letters.jsonl
    #[arg(default_value = "out")]
    output_dir: String,
    #[command(flatten)]
    job: JobArgs,
}

/// One page view.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Click {
    user: String,
    url: String,
    /// Event time, milliseconds.
    ts: i64,
}

fn main() -> ExitCode {
    let args = match fuseflow::cli::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let (input, out) = (args.input, args.output_dir);
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
    // The output directory's dead-letter file, unless `--dead-letter` says otherwise.
    let job = job.with_dead_letter(fuseflow::DeadLetterTarget::File(dead));
    match fuseflow::cli::execute(job, &args.job) {
        Ok(fuseflow::cli::Outcome::Ran(_)) if !args.job.quiet => {
            eprintln!("results in {out}/: clicks_per_user.csv, late_clicks.jsonl, dead_letters.jsonl");
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
