//! Runs the `bench` binary on small inputs: it must exit successfully and print the same
//! checksums for every implementation, and the expected ones where `workloads.md` lists N.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("the bench binary runs")
}

/// The table rows of the output, as (workload, implementation, checksum columns).
fn rows(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| W"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string(), cells[5..9].join(" "))
        })
        .collect()
}

#[test]
fn every_implementation_prints_the_baselines_checksums() {
    let out = bench(&["--events", "100000", "--runs", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = rows(&stdout);
    let names: Vec<(&str, &str)> = rows.iter().map(|(w, i, _)| (w.as_str(), i.as_str())).collect();
    assert_eq!(
        names,
        [
            ("W1", "baseline"),
            ("W1", "pipeline p=1"),
            ("W1", "pipeline p=2"),
            ("W2", "baseline"),
            ("W2", "pipeline p=1"),
            ("W2", "pipeline p=2"),
        ]
    );
    for (w, i, sums) in &rows {
        let base = &rows.iter().find(|(b, bi, _)| b == w && bi == "baseline").unwrap().2;
        assert_eq!(sums, base, "{w} {i}");
    }
    assert!(stdout.contains("all checksums match the baseline's"), "{stdout}");
}

#[test]
fn a_listed_event_count_is_checked_against_workloads_md() {
    let out = bench(&[
        "--events",
        "1000",
        "--runs",
        "2",
        "--workloads",
        "w2",
        "--parallelism",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        rows(&stdout),
        [
            ("W2".into(), "baseline".into(), "176 1000 8698515894 0".into()),
            ("W2".into(), "pipeline p=1".into(), "176 1000 8698515894 0".into()),
        ]
    );
    assert!(stdout.contains("match the baseline's and workloads.md's"), "{stdout}");
}

#[test]
fn bad_options_are_refused() {
    for args in [&["--workloads", "w3"][..], &["--parallelism", "0"], &["--runs", "0"]] {
        let out = bench(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"), "{args:?}");
    }
}

#[test]
fn nexmark_prints_one_row_per_query_and_parallelism_with_flinks_figures() {
    let out = bench(&["nexmark", "--events", "20000", "--runs", "1", "--queries", "q0,q5,q22"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| q") && !l.starts_with("| query"))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[1], r[2])).collect();
    assert_eq!(
        names,
        [
            ("q0", "1"),
            ("q0", "2"),
            ("q5", "1"),
            ("q5", "2"),
            ("q22", "1"),
            ("q22", "2")
        ]
    );
    // 20,000 events hold 18,400 bids: q0 and q22 output each one.
    for r in rows.iter().filter(|r| r[1] != "q5") {
        assert_eq!(r[8], "18400", "{r:?}");
    }
    assert_eq!(rows[0][6], "379 K");
    assert_eq!(rows[2][6], "-");
    assert!(bench(&["nexmark", "--queries", "q3"]).status.code() == Some(2));
}
