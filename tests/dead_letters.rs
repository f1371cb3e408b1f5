//! Bad input never stops a job and is never lost: malformed CSV and JSON-lines records go to
//! the dead-letter output with source, line, raw text and reason, and are counted.

use fuseflow::{Collected, DeadLetterTarget, pipeline};
use std::io::Write;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Reading {
    sensor: String,
    value: f64,
}

fn dead_letters(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn malformed_csv_rows_are_dead_lettered_and_the_rest_delivered() {
    for p in [1, 2, 4] {
        malformed_csv_rows_at(p);
    }
}

fn malformed_csv_rows_at(parallelism: usize) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.csv");
    let mut f = std::fs::File::create(&input).unwrap();
    write!(f, "sensor,value\ns1,1.5\ns2,warm\ns3,2.5,extra\ns4,4\n").unwrap();
    drop(f);
    let dead = dir.path().join("dead.jsonl");
    let out = Collected::new();
    let path = input.to_str().unwrap().to_owned();
    let job = pipeline! {
        let readings = csv::<Reading>(path);
        readings.key_by(|r| r.sensor.clone()).sink(collect(out));
    };
    let summary = job
        .with_dead_letter(DeadLetterTarget::File(dead.to_str().unwrap().into()))
        .with_parallelism(parallelism)
        .run()
        .unwrap();
    let mut got: Vec<String> = out.take().into_iter().map(|r| r.sensor).collect();
    got.sort();
    assert_eq!(got, ["s1", "s4"]);
    assert_eq!(
        (summary.records_in, summary.records_out, summary.dead_lettered),
        (4, 2, 2)
    );
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0]["source"], "readings");
    assert_eq!(letters[0]["line"], 3);
    assert_eq!(letters[0]["raw"], "s2,warm");
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("float"),
        "{}",
        letters[0]["reason"]
    );
    assert_eq!(letters[1]["line"], 4);
    assert_eq!(letters[1]["raw"], "s3,2.5,extra");
}

#[test]
fn malformed_json_lines_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.jsonl");
    std::fs::write(&input, "{\"sensor\":\"a\",\"value\":1}\n{\"sensor\":\"b\",\n\n{\"sensor\":\"c\",\"value\":\"x\"}\n{\"sensor\":\"d\",\"value\":2}\n").unwrap();
    let dead = dir.path().join("dead.jsonl");
    let out = Collected::new();
    let path = input.to_str().unwrap().to_owned();
    let job = pipeline! {
        json_lines::<Reading>(path).map(|r| r.sensor).sink(collect(out));
    };
    let summary = job
        .with_dead_letter(DeadLetterTarget::File(dead.to_str().unwrap().into()))
        .run()
        .unwrap();
    assert_eq!(out.take(), ["a", "d"]);
    assert_eq!(summary.dead_lettered, 2);
    let letters = dead_letters(&dead);
    assert_eq!(
        (letters[0]["line"].as_u64(), letters[0]["raw"].as_str()),
        (Some(2), Some("{\"sensor\":\"b\","))
    );
    assert_eq!(letters[1]["line"], 4);
}

#[test]
fn a_missing_input_file_is_an_error_not_a_panic() {
    let job = pipeline! {
        csv::<Reading>("/definitely/not/here.csv").sink(stdout());
    };
    let err = job.run().unwrap_err().to_string();
    assert!(err.contains("/definitely/not/here.csv"), "{err}");
}
