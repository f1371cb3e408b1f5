//! Runs the job on small inputs and checks what it produced.

use {{crate_name}}::{Order, orders_per_customer};

use fuseflow::WindowResult;
use std::path::{Path, PathBuf};

/// A fresh scratch directory for one test, under cargo's per-package temporary directory.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn count(key: &str, start: i64, value: u64) -> WindowResult<String, u64> {
    WindowResult {
        key: key.to_owned(),
        start,
        end: start + 60_000,
        value,
    }
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

    let report = orders_per_customer(&input, &dir.join("out")).unwrap();

    let mut counts = report.counts;
    counts.sort();
    let expected = [
        count("ana", 0, 2),
        count("ana", 60_000, 1),
        count("bo", 0, 1),
    ];
    assert_eq!(counts, expected);
    // ana's order at 70 s moved the watermark past the first minute: bo's order at 10 s is late.
    assert_eq!(
        report.late,
        vec![Order {
            customer: "bo".into(),
            amount: 500,
            ts: 10_000
        }]
    );
    assert_eq!((report.summary.records_in, report.summary.late), (5, 1));

    let csv = std::fs::read_to_string(dir.join("out/orders_per_customer.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three counts:\n{csv}");
    let late = std::fs::read_to_string(dir.join("out/late_orders.jsonl")).unwrap();
    assert_eq!(late.lines().count(), 1, "{late}");
}

#[test]
fn the_sample_input_runs() {
    let dir = scratch("sample");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/orders.csv");

    let report = orders_per_customer(&sample, &dir).unwrap();

    assert_eq!(report.summary.records_in, 15);
    assert_eq!(
        report.summary.dead_lettered, 1,
        "the `twelve` amount is malformed"
    );
    assert_eq!(
        report.late.len(),
        1,
        "bo's order at 00:50 comes after the first minute fired"
    );
    assert_eq!(report.counts.iter().map(|c| c.value).sum::<u64>(), 13);
}
