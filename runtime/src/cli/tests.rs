//! Tests of the job command line: parsing, overrides, `--explain`, the metrics endpoint.

use super::*;
use crate::{Collected, Counters, JobError, TaskContext, sink, source};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

/// Parses `args` (without the program name) as [`main`] would.
fn parse_args(args: &[&str]) -> Result<JobArgs, ExitCode> {
    let argv = std::iter::once("job").chain(args.iter().copied());
    parse_with::<JobCommand>(command(&JobSpec::default()), argv).map(|c| c.job)
}

fn ov(name: &str, path: &str) -> Override {
    Override {
        name: name.into(),
        path: path.into(),
    }
}

#[test]
fn no_flags_change_nothing() {
    assert_eq!(parse_args(&[]).unwrap(), JobArgs::default());
}

#[test]
fn every_flag_parses() {
    let args = parse_args(&[
        "--parallelism",
        "4",
        "--input",
        "clicks=a.csv",
        "--input",
        "clicks=dir/",
        "--input",
        "users=u.csv",
        "--output",
        "per_user=out/x.csv",
        "--dead-letter",
        "bad.jsonl",
        "--log-level",
        "fuseflow_runtime=debug,info",
        "--metrics-addr",
        "9100",
        "--progress",
    ])
    .unwrap();
    assert_eq!(args.parallelism, Some(4));
    assert_eq!(
        args.input,
        [ov("clicks", "a.csv"), ov("clicks", "dir/"), ov("users", "u.csv")]
    );
    assert_eq!(
        args.inputs(),
        [
            ("clicks".to_owned(), vec!["a.csv".to_owned(), "dir/".to_owned()]),
            ("users".to_owned(), vec!["u.csv".to_owned()]),
        ]
    );
    assert_eq!(args.output, [ov("per_user", "out/x.csv")]);
    assert_eq!(args.dead_letter.as_deref(), Some("bad.jsonl"));
    assert_eq!(args.log_level.as_deref(), Some("fuseflow_runtime=debug,info"));
    assert_eq!(args.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
    assert!(args.progress && !args.quiet);
    assert_eq!(parse_args(&["-p", "2", "-q"]).unwrap().parallelism, Some(2));
    // A path may itself contain `=`.
    assert_eq!(
        parse_args(&["--output=s=a=b.csv"]).unwrap().output,
        [ov("s", "a=b.csv")]
    );
}

#[test]
fn explain_defaults_to_text() {
    assert_eq!(parse_args(&["--explain"]).unwrap().explain, Some(PlanFormat::Text));
    assert_eq!(
        parse_args(&["--explain", "mermaid"]).unwrap().explain,
        Some(PlanFormat::Mermaid)
    );
    assert_eq!(parse_args(&["--explain=dot"]).unwrap().explain, Some(PlanFormat::Dot));
}

#[test]
fn metrics_addresses() {
    let parse = |s| parse_metrics_addr(s).map(|a| a.to_string());
    assert_eq!(parse("9100").unwrap(), "127.0.0.1:9100");
    assert_eq!(parse(":0").unwrap(), "127.0.0.1:0");
    assert_eq!(parse("0.0.0.0:9100").unwrap(), "0.0.0.0:9100");
    assert_eq!(parse("[::1]:9100").unwrap(), "[::1]:9100");
    assert!(parse("not an address").unwrap_err().contains("PORT or HOST:PORT"));
}

#[test]
fn bad_flags_are_usage_errors() {
    for bad in [
        &["--parallelism", "0"][..],
        &["--parallelism", "many"],
        &["--input", "no-equals-sign"],
        &["--output", "=path"],
        &["--explain", "svg"],
        &["--log-level", "info,[["],
        &["--metrics-addr", "not an address"],
        &["--quiet", "--progress"],
        &["--no-such-flag"],
        &["positional"],
    ] {
        assert_eq!(parse_args(bad).unwrap_err(), ExitCode::from(2), "{bad:?}");
    }
    assert_eq!(
        parse_parallelism("0").unwrap_err(),
        "the parallelism must be a positive whole number, not `0`"
    );
    assert_eq!(parse_override("x").unwrap_err(), "expected NAME=PATH, not `x`");
}

#[test]
fn help_and_version_exit_successfully() {
    assert_eq!(parse_args(&["--help"]).unwrap_err(), ExitCode::SUCCESS);
    assert_eq!(parse_args(&["--version"]).unwrap_err(), ExitCode::SUCCESS);
}

#[test]
fn clap_errors_become_one_line() {
    let rendered =
        "error: unexpected argument '--x' found\n\nUsage: job [OPTIONS]\n\nFor more information, try '--help'.\n";
    assert_eq!(one_line(rendered), "error: unexpected argument '--x' found");
    assert_eq!(one_line("\nsomething odd"), "error: something odd");
}

#[test]
fn version_names_the_runtime() {
    let mut spec = JobSpec::default();
    assert_eq!(version_of(&spec), format!("(fuseflow {FUSEFLOW_VERSION})"));
    spec.version = "1.2.3";
    assert_eq!(version_of(&spec), format!("1.2.3 (fuseflow {FUSEFLOW_VERSION})"));
}

#[test]
fn plans_by_format() {
    let spec = JobSpec {
        name: "j",
        plan: "chain 0: …",
        ..Default::default()
    };
    assert_eq!(plan(&spec, PlanFormat::Text), Ok("chain 0: …"));
    assert_eq!(
        plan(&spec, PlanFormat::Mermaid).unwrap_err(),
        "job `j` has no mermaid plan in this build; available: text"
    );
    let spec = JobSpec {
        name: "j",
        plan_dot: "digraph {}",
        ..Default::default()
    };
    assert_eq!(plan(&spec, PlanFormat::Dot), Ok("digraph {}"));
    assert!(
        plan(&JobSpec::default(), PlanFormat::Text)
            .unwrap_err()
            .contains("no plan to explain")
    );
}

#[test]
fn explain_does_not_run_the_job() {
    let out = Collected::new();
    let mut job = Job::new(JobSpec {
        plan: "the plan",
        ..Default::default()
    });
    let src = source::from_iter(1..=3u32);
    let ty = src.ty();
    job.add_source("numbers", src, sink::collect(ty, &out));
    let args = parse_args(&["--explain"]).unwrap();
    assert_eq!(execute(job, &args), Ok(Outcome::Explained));
    assert!(out.take().is_empty());
}

#[test]
fn main_from_runs_the_job_and_reports_bad_flags() {
    let numbers = |out: &Collected<u32>| {
        let mut job = Job::new(JobSpec::default());
        let src = source::from_iter(1..=3u32);
        let ty = src.ty();
        job.add_source("numbers", src, sink::collect(ty, out));
        job
    };
    let out = Collected::new();
    assert_eq!(main_from(numbers(&out), ["job", "--quiet"]), ExitCode::SUCCESS);
    assert_eq!(out.take(), [1, 2, 3]);
    assert_eq!(main_from(numbers(&out), ["job", "--bogus"]), ExitCode::from(2));
    assert!(out.take().is_empty());
    // No file source of that name: the job fails (exit 1) without running.
    assert_eq!(
        main_from(numbers(&out), ["job", "-q", "--input", "numbers=x.csv"]),
        ExitCode::FAILURE
    );
    assert!(out.take().is_empty());
}

/// Rows `symbol,qty` of a tiny CSV file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
struct Row {
    symbol: String,
    qty: u32,
}

/// A job reading the CSV file `input` (source `rows`) into the CSV file `output` (sink
/// `copy`) and the JSON-lines file `also` (unnamed: it goes by its file stem).
fn copy_job(input: &str, output: &str, also: &str) -> Job<'static> {
    let src = source::csv::<Row>(input);
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    let sinks = crate::Tee::new(sink::csv(ty, output).named("copy"), sink::json_lines(ty, also));
    job.add_source("rows", src, sinks);
    job
}

#[test]
fn input_and_output_overrides_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(p("a.csv"), "symbol,qty\nA,1\n").unwrap();
    std::fs::write(p("b.csv"), "symbol,qty\nB,2\nC,3\n").unwrap();

    let counters = Arc::new(Counters::default());
    let summary = copy_job(&p("missing.csv"), &p("default.csv"), &p("also.jsonl"))
        .with_input("rows", p("b.csv"))
        .with_output("copy", p("other/copy.csv"))
        .with_counters(counters.clone())
        .run()
        .unwrap();
    assert_eq!((summary.records_in, summary.records_out), (2, 4));
    assert_eq!(
        std::fs::read_to_string(p("other/copy.csv")).unwrap(),
        "symbol,qty\nB,2\nC,3\n"
    );
    assert!(!std::path::Path::new(&p("default.csv")).exists());
    // The watched counters saw the whole file.
    let size = std::fs::metadata(p("b.csv")).unwrap().len();
    assert_eq!(counters.input_bytes.load(Ordering::Relaxed), size);
    assert_eq!(counters.input_bytes_total.load(Ordering::Relaxed), size);
    assert_eq!(counters.records_in.load(Ordering::Relaxed), 2);

    // An unnamed file sink goes by its file stem; several inputs for one source.
    let summary = copy_job(&p("missing.csv"), &p("default.csv"), &p("also.jsonl"))
        .with_input("rows", vec![p("a.csv"), p("b.csv")])
        .with_output("also", p("renamed.jsonl"))
        .run()
        .unwrap();
    assert_eq!(summary.records_in, 3);
    assert_eq!(std::fs::read_to_string(p("renamed.jsonl")).unwrap().lines().count(), 3);
}

#[test]
fn overrides_naming_nothing_fail_before_any_record_flows() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(p("a.csv"), "symbol,qty\nA,1\n").unwrap();

    let err = copy_job(&p("a.csv"), &p("out.csv"), &p("also.jsonl"))
        .with_input("nope", p("a.csv"))
        .run()
        .unwrap_err();
    assert_eq!(err.to_string(), "no file source named `nope` (file sources: `rows`)");
    assert!(!std::path::Path::new(&p("out.csv")).exists());

    let counters = Arc::new(Counters::default());
    let err = copy_job(&p("a.csv"), &p("out.csv"), &p("also.jsonl"))
        .with_output("nope", p("x.csv"))
        .with_output("copy", p("copy.csv"))
        .with_counters(counters.clone())
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no sink named `nope` that --output can redirect (file and postgres sinks: `also`, `copy`)"
    );
    assert_eq!(counters.records_in.load(Ordering::Relaxed), 0);

    // A source that reads no files takes no `--input`.
    let mut job = Job::new(JobSpec::default());
    let src = source::from_iter(1..=3u32);
    let ty = src.ty();
    job.add_source("numbers", src, sink::collect(ty, &Collected::new()));
    let err = job.with_input("numbers", "x.csv").run().unwrap_err();
    assert!(
        matches!(&err, JobError::Other(m) if m.ends_with("(file sources: none)")),
        "{err}"
    );
}

/// `GET path` on `addr`; the whole response.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_endpoint_serves_the_counters() {
    struct Lag;
    impl MetricsSource for Lag {
        fn write_metrics(&self, out: &mut Exposition) {
            out.gauge("fuseflow_watermark_lag_seconds", "Event time behind wall time.", 1.5);
        }
    }
    let counters = Arc::new(Counters::default());
    TaskContext::add(&counters.records_in, 15);
    TaskContext::add(&counters.dead_lettered, 1);
    counters.watermark.store(1_000, std::sync::atomic::Ordering::Relaxed);
    TaskContext::add(&counters.checkpoints, 4);
    let metrics = Metrics::new("clicks \"per\" user", counters.clone()).with_source(Arc::new(Lag));
    let addr = metrics.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let page = http_get(addr, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/plain; version=0.0.4"), "{page}");
    let label = r#"{job="clicks \"per\" user"}"#;
    for line in [
        format!("fuseflow_records_in_total{label} 15"),
        format!("fuseflow_records_out_total{label} 0"),
        format!("fuseflow_late_records_total{label} 0"),
        format!("fuseflow_dead_lettered_total{label} 1"),
        format!("fuseflow_watermark_lag_seconds{label} 1.5"),
        format!("fuseflow_watermark_milliseconds{label} 1000"),
        format!("fuseflow_checkpoints_completed_total{label} 4"),
        "# TYPE fuseflow_records_in_total counter".to_owned(),
    ] {
        assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
    }
    // Counters are read on every scrape.
    TaskContext::add(&counters.records_in, 5);
    assert!(http_get(addr, "/metrics").contains("fuseflow_records_in_total{job=\"clicks \\\"per\\\" user\"} 20"));
    assert!(http_get(addr, "/").starts_with("HTTP/1.1 404"));
    // The watermark lag is wall time minus the watermark (1 s after the epoch): decades.
    let lag = page
        .lines()
        .find_map(|l| l.strip_prefix(&format!("fuseflow_watermark_lag_milliseconds{label} ")))
        .expect("a watermark lag");
    assert!(lag.parse::<f64>().unwrap() > 1.7e12, "{lag}");
}
