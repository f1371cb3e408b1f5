//! Runs the example jobs as their users would (the built example binaries), and checks what
//! they print and write.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, next to this test binary's `deps/` directory.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo test builds examples)",
        path.display()
    );
    let mut cmd = Command::new(path);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

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

#[test]
fn w1_prints_the_expected_checksums() {
    let mut cmd = example("w1");
    cmd.arg("1000");
    let (stdout, _) = run(cmd);
    assert!(stdout.contains("R=1000 C=1000 S=4989515380991 late=0"), "{stdout}");
}

#[test]
fn w2_prints_the_expected_checksums() {
    let mut cmd = example("w2");
    cmd.arg("1000");
    let (stdout, _) = run(cmd);
    assert!(stdout.contains("R=176 C=1000 S=8698515894 late=0"), "{stdout}");
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
    let dir = tempfile::tempdir().unwrap();
    let out_dir: PathBuf = dir.path().into();
    let mut cmd = example("clicks");
    cmd.arg("examples/data/clicks.csv").arg(&out_dir);
    let (stdout, stderr) = run(cmd);
    let csv = std::fs::read_to_string(out_dir.join("clicks_per_user.csv")).unwrap();
    assert_eq!(
        csv,
        "key,start,end,value\n\
         ana,0,10000,2\n\
         bo,0,10000,2\n\
         cy,0,10000,1\n\
         bo,0,10000,3\n\
         ana,10000,20000,1\n\
         cy,10000,20000,1\n\
         ana,20000,30000,2\n\
         bo,20000,30000,1\n\
         cy,30000,40000,1\n"
    );
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
