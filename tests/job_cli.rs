//! The job command line as a user meets it: runs the built `clicks` example binary with the
//! flags every job gets (`--help`, `--version`, `--explain`, `--input`, `--output`,
//! `--metrics-addr`, …) and checks what it prints, writes and exits with.

mod common;

use common::example;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Output, Stdio};

fn clicks(args: &[&str]) -> Output {
    example("clicks").args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Asserts that a failed run said exactly one line, `error: …` containing `needle`.
fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_job_flag_with_examples() {
    let out = clicks(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--parallelism <N>",
        "--input <NAME=PATH>",
        "--output <NAME=PATH>",
        "--dead-letter <stderr|PATH>",
        "--explain [<FORMAT>]",
        "--log-level <LEVEL>",
        "--metrics-addr <ADDR|PORT>",
        "--quiet",
        "--progress",
        "Examples:",
        "clicks --explain mermaid",
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
}

#[test]
fn version() {
    let out = clicks(&["--version"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), concat!("clicks ", env!("CARGO_PKG_VERSION")));
}

#[test]
fn explain_prints_the_fused_plan_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = example("clicks")
        .arg("examples/data/clicks.csv")
        .arg(&out_dir)
        .arg("--explain")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("chain 0:") && plan.contains("source csv \"clicks\""),
        "{plan}"
    );
    assert!(!out_dir.exists(), "--explain ran the job");
    // Formats the build does not have yet are a clear one-line error.
    for format in ["mermaid", "dot"] {
        let out = clicks(&["--explain", format]);
        if out.status.success() {
            assert!(!text(&out.stdout).trim().is_empty(), "{format}");
        } else {
            assert_one_line_error(&out, 1, &format!("no {format} plan"));
        }
    }
}

#[test]
fn bad_flags_are_one_line_usage_errors() {
    assert_one_line_error(&clicks(&["--bogus"]), 2, "unexpected argument '--bogus'");
    assert_one_line_error(&clicks(&["--parallelism", "0"]), 2, "positive whole number");
    assert_one_line_error(&clicks(&["--input", "clicks"]), 2, "expected NAME=PATH");
    assert_one_line_error(&clicks(&["--explain", "svg"]), 2, "invalid value 'svg'");
    assert_one_line_error(&clicks(&["a", "b", "c"]), 2, "unexpected argument 'c'");
}

#[test]
fn a_missing_input_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let out = clicks(&["examples/data/no-such-file.csv", &out_dir]);
    assert_one_line_error(&out, 1, "cannot open input `examples/data/no-such-file.csv`");
}

#[test]
fn input_and_output_overrides_by_name() {
    for p in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.csv");
        std::fs::copy("examples/data/clicks.csv", &copy).unwrap();
        let out_dir = dir.path().join("out");
        let late = dir.path().join("elsewhere/late.jsonl");
        let out = example("clicks")
            .arg("examples/data/no-such-file.csv") // replaced by --input
            .arg(&out_dir)
            .arg(format!("--input=clicks={}", copy.display()))
            .arg(format!("--output=late_clicks={}", late.display()))
            .args(["--parallelism", p])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("15 records in"), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(&late).unwrap(),
            "{\"user\":\"dan\",\"url\":\"/home\",\"ts\":4000}\n"
        );
        assert!(!out_dir.join("late_clicks.jsonl").exists());
        let counts = std::fs::read_to_string(out_dir.join("clicks_per_user.csv")).unwrap();
        assert_eq!(counts.lines().count(), 10, "{counts}");
    }
}

#[test]
fn overrides_naming_nothing_list_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out").display().to_string();
    let out = clicks(&["examples/data/clicks.csv", &out_dir, "--input", "click=x.csv"]);
    assert_one_line_error(&out, 1, "no file source named `click` (file sources: `clicks`)");
    let out = clicks(&["examples/data/clicks.csv", &out_dir, "--output", "nope=x.csv"]);
    assert_one_line_error(&out, 1, "no sink named `nope` that --output can redirect");
    assert!(text(&out.stderr).contains("`late_clicks`"));
    assert!(!Path::new("x.csv").exists());
}

/// `clicks` takes no checkpoints and names no state backend: its window was compiled without
/// serde bounds and keeps its heap tables on `--state-backend rocksdb`, and says so once
/// (instance 0) instead of ignoring the flag silently.
#[test]
fn a_window_that_cannot_use_the_state_backend_flag_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out").display().to_string();
    let state_dir = dir.path().join("state").display().to_string();
    let run = |backend: &str| {
        let args = [
            "examples/data/clicks.csv",
            &out_dir,
            "--parallelism",
            "2",
            "--state-backend",
            backend,
        ];
        clicks(&[&args[..], &["--state-dir", &state_dir]].concat())
    };
    let out = run("rocksdb");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("the event-time window keeps its state in memory")
            && warnings[0].contains("state_backend: rocksdb"),
        "{stderr}"
    );
    let out = run("memory");
    assert!(out.status.success());
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
}

#[test]
fn quiet_prints_no_summary_and_no_progress_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let out = clicks(&["examples/data/clicks.csv", &out_dir, "--quiet"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
    // stderr is not a terminal: no progress bar, just the summary and the results line.
    let out = clicks(&["examples/data/clicks.csv", &out_dir]);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn metrics_are_served_while_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = example("clicks")
        .arg("examples/data/clicks.csv")
        .arg(dir.path())
        .args(["--input", "clicks=/dev/stdin", "--metrics-addr", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("metrics: http://")
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"));
    let addr = url.strip_suffix("/metrics").unwrap();

    // The job waits for its input: scrape it while it runs.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for metric in [
        "fuseflow_records_in_total{job=\"clicks-per-user\"} 0",
        "fuseflow_records_out_total{job=\"clicks-per-user\"} 0",
        "fuseflow_late_records_total{job=\"clicks-per-user\"} 0",
        "fuseflow_dead_lettered_total{job=\"clicks-per-user\"} 0",
    ] {
        assert!(page.lines().any(|l| l == metric), "{metric} not in\n{page}");
    }

    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&std::fs::read("examples/data/clicks.csv").unwrap())
        .unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("15 records in"), "{rest}");
}

/// A live source's records reach the sink as they arrive, behind an exchange too: the job
/// flushes its batches and its stdout buffer whenever stdin has nothing more buffered.
#[test]
fn live_stdin_records_are_output_before_the_input_ends() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    for p in ["1", "2"] {
        let mut child = example("live")
            .args(["--quiet", "--parallelism", p])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = tx.send(line.unwrap());
            }
        });
        let wait = std::time::Duration::from_secs(10);
        stdin.write_all(b"ana\n").unwrap();
        stdin.flush().unwrap();
        assert_eq!(
            rx.recv_timeout(wait).expect("no output while stdin stays open"),
            "(\"ana\", 1)"
        );
        stdin.write_all(b"bo\nana\n").unwrap();
        stdin.flush().unwrap();
        let mut got = vec![rx.recv_timeout(wait).unwrap(), rx.recv_timeout(wait).unwrap()];
        got.sort();
        assert_eq!(got, ["(\"ana\", 2)", "(\"bo\", 1)"], "parallelism {p}");
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}
