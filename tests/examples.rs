//! Runs the example jobs as their users would (the built example binaries), and checks what
//! they print and write.

mod common;

use common::example;
use std::path::PathBuf;
use std::process::Command;

fn run(mut cmd: Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The expected lines of `shared/bench/workloads.md`, for every N it lists.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("w1", "1000", "R=1000 C=1000 S=4989515380991 late=0"),
    ("w1", "5000000", "R=5000000 C=5000000 S=24997698376492500 late=0"),
    ("w1", "20000000", "R=20000000 C=20000000 S=99992248505970000 late=0"),
    ("w2", "1000", "R=176 C=1000 S=8698515894 late=0"),
    ("w2", "5000000", "R=50100 C=5000000 S=2483665005150 late=0"),
    ("w2", "20000000", "R=200100 C=20000000 S=9934360005150 late=0"),
];

#[test]
fn w1_and_w2_print_the_expected_checksums_for_every_listed_n_at_every_parallelism() {
    for (name, n, line) in EXPECTED {
        for p in ["1", "2", "4"] {
            let mut cmd = example(name);
            cmd.args([n, "--parallelism", p]);
            let (stdout, _) = run(cmd);
            assert_eq!(stdout.trim_end(), *line, "{name} {n} at parallelism {p}");
        }
    }
}

#[test]
fn w1_rejects_a_bad_event_count_without_panicking() {
    let mut cmd = example("w1");
    cmd.arg("lots");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("whole number") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn clicks_example_counts_clicks_per_user_with_late_and_bad_data() {
    for p in ["1", "2", "4"] {
        let dir = tempfile::tempdir().unwrap();
        let out_dir: PathBuf = dir.path().into();
        let mut cmd = example("clicks");
        cmd.arg("examples/data/clicks.csv")
            .arg(&out_dir)
            .args(["--parallelism", p]);
        let (stdout, stderr) = run(cmd);
        let csv = std::fs::read_to_string(out_dir.join("clicks_per_user.csv")).unwrap();
        let mut lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.remove(0), "key,start,end,value");
        let expected = [
            "ana,0,10000,2",
            "bo,0,10000,2",
            "cy,0,10000,1",
            "bo,0,10000,3",
            "ana,10000,20000,1",
            "cy,10000,20000,1",
            "ana,20000,30000,2",
            "bo,20000,30000,1",
            "cy,30000,40000,1",
        ];
        if p == "1" {
            // One worker: results in firing order.
            assert_eq!(lines, expected);
        } else {
            // Workers interleave their output: the same lines, in some order.
            let mut sorted = expected.to_vec();
            sorted.sort();
            lines.sort();
            assert_eq!(lines, sorted, "parallelism {p}");
        }
        assert_eq!(stdout.lines().count(), 9, "{stdout}");
        let late = std::fs::read_to_string(out_dir.join("late_clicks.jsonl")).unwrap();
        assert_eq!(late, "{\"user\":\"dan\",\"url\":\"/home\",\"ts\":4000}\n");
        let dead = std::fs::read_to_string(out_dir.join("dead_letters.jsonl")).unwrap();
        assert!(
            dead.contains("\"line\":13") && dead.contains("eve,/docs,not-a-time"),
            "{dead}"
        );
        assert!(
            stderr.contains("15 records in") && stderr.contains("1 late") && stderr.contains("1 dead-lettered"),
            "{stderr}"
        );
    }
}

#[test]
fn nexmark_example_prints_the_rows_of_a_query_as_json_lines() {
    use fuseflow_nexmark::{Config, Generator, reference};
    let generator = Generator::new(Config::default().with_seed(3).with_rate(1_000));
    let mut expected: Vec<String> = reference::q21(&generator, 5_000)
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    expected.sort();
    for p in ["1", "2"] {
        let mut cmd = example("nexmark");
        cmd.args([
            "q21",
            "--events",
            "5000",
            "--seed",
            "3",
            "--rate",
            "1000",
            "--print",
            "--parallelism",
            p,
        ]);
        let (stdout, stderr) = run(cmd);
        let mut lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
        lines.sort();
        assert_eq!(lines, expected, "parallelism {p}");
        assert!(stderr.contains("5000 records in"), "{stderr}");
    }
    let mut cmd = example("nexmark");
    cmd.args(["q5", "--explain"]);
    let (plan, _) = run(cmd);
    assert!(
        plan.contains("job \"nexmark-q5\"") && plan.contains("tumbling(10s)"),
        "{plan}"
    );
}
