//! Runs the job on small inputs and checks what it produced.

use {{crate_name}}::job;

use fuseflow::{DeadLetterTarget, JobSummary};
use std::path::{Path, PathBuf};

/// A fresh scratch directory for one test, under cargo's per-package temporary directory.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one run wrote: the counts' CSV rows (sorted, without the header) and the late
/// orders' JSON lines.
struct Outputs {
    counts: Vec<String>,
    late: Vec<String>,
    summary: JobSummary,
}

fn run(input: &Path, dir: &Path) -> Outputs {
    let counts = dir.join("orders_per_customer.csv");
    let late = dir.join("late_orders.jsonl");
    let summary = job()
        .with_input("orders", input)
        .with_output("per_customer", counts.display().to_string())
        .with_output("late_orders", late.display().to_string())
        .with_dead_letter(DeadLetterTarget::File(dir.join("dead_letters.jsonl").display().to_string()))
        .run()
        .unwrap();
    let text = std::fs::read_to_string(&counts).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("key,start,end,value"), "the header");
    let mut counts: Vec<String> = lines.map(str::to_owned).collect();
    counts.sort();
    let late = std::fs::read_to_string(&late).unwrap().lines().map(str::to_owned).collect();
    Outputs { counts, late, summary }
}

#[test]
fn counts_orders_per_customer_per_minute_and_sets_late_orders_aside() {
    let dir = scratch("tiny");
    let input = dir.join("orders.csv");
    std::fs::write(
        &input,
        "customer,amount,ts\n\
         ana,100,1000\n\
         bo,200,2000\n\
         ana,300,30000\n\
         ana,400,70000\n\
         bo,500,10000\n",
    )
    .unwrap();

    let out = run(&input, &dir.join("out"));

    assert_eq!(out.counts, ["ana,0,60000,2", "ana,60000,120000,1", "bo,0,60000,1"]);
    // ana's order at 70 s moved the watermark past the first minute: bo's order at 10 s is late.
    assert_eq!(out.late, [r#"{"customer":"bo","amount":500,"ts":10000}"#]);
    assert_eq!((out.summary.records_in, out.summary.late), (5, 1));
}

#[test]
fn the_sample_input_runs() {
    let dir = scratch("sample");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/orders.csv");

    let out = run(&sample, &dir);

    assert_eq!(out.summary.records_in, 15);
    assert_eq!(out.summary.dead_lettered, 1, "the `twelve` amount is malformed");
    assert_eq!(out.late.len(), 1, "bo's order at 00:50 comes after the first minute fired");
    let total: u64 = out
        .counts
        .iter()
        .map(|row| row.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 13);
}
