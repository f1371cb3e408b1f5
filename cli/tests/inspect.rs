//! `fuseflow inspect` prints the fused plan of the pipelines in a source file, without
//! compiling it.

use std::process::Command;

#[test]
fn inspect_prints_the_plan_of_the_main_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/clicks.rs");
    let out = Command::new(env!("CARGO_BIN_EXE_fuseflow"))
        .args(["inspect", example])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("job \"clicks-per-user\""), "{text}");
    assert!(
        text.contains("chain 1:\n  op5: window tumbling(10s) event-time lateness 5s count  <- op4 via hash(key)"),
        "{text}"
    );
}

#[test]
fn inspect_draws_mermaid_and_dot() {
    let src = r#"fn main() { let j = fuseflow::pipeline! { from_iter(v).key_by(|x| *x).reduce(|a, b| a + b).sink(stdout()); }; }"#;
    let mermaid = fuseflow_cli::inspect_source(src, "mermaid".parse().unwrap()).unwrap();
    assert!(mermaid.contains("op1 ==>|\"hash(key)\"| op2"), "{mermaid}");
    let dot = fuseflow_cli::inspect_source(src, "dot".parse().unwrap()).unwrap();
    assert!(dot.starts_with("digraph") && dot.contains("style=bold"), "{dot}");
}

#[test]
fn inspect_reports_pipeline_errors_and_bad_usage() {
    let err = fuseflow_cli::inspect_source(
        "pipeline! { from_iter(v).mapp(f).sink(stdout()); }",
        "text".parse().unwrap(),
    )
    .unwrap_err();
    assert!(err.contains("unknown operator `mapp`"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_fuseflow"))
        .args(["inspect"])
        .output()
        .unwrap();
    // A usage error: clap's exit code 2, with the usage line.
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Usage: fuseflow inspect <FILE>"), "{stderr}");
}
