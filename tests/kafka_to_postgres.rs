//! Issue 7's end-to-end test against real servers (the tansu broker and PostgreSQL that
//! `scripts/services.sh` starts): a job reads out-of-order orders from a 3-partition Kafka
//! topic with per-partition watermarks, sums them per user in 10-second event-time windows,
//! and writes the results to PostgreSQL twice — upserted into `totals`, inserted into `firings` (so a row written twice
//! would show). Killed with SIGKILL in the middle, again and again, and restored with
//! `--restore latest`, it leaves exactly the rows of a run that was never killed.

mod common;

use common::kafka::{produce, topic};
use common::orders::{Order, Total, messages, out_of_order};
use common::pg::{assert_totals_match, create_totals_tables, database, total_rows};
use common::services::kafka_brokers;
use fuseflow::checkpoint::RestoreFrom;
use fuseflow::{PgTable, kafka, pipeline};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The input: `out_of_order` orders, every fifth one 0.5 s behind its partition's newest
// order (within the 1 s bound of the watermarks). Which order arrives first across
// partitions varies between runs, but no order is ever late: the watermark is the minimum
// over partitions, at most the order's own partition's, which it is within. So every run
// fires each window once with the same total, and the uninterrupted run is a fixed
// reference. (Late data after a restore is covered by `tests/postgres.rs`, on a file source
// whose order is fixed.)

/// Set in the environment of the child process that runs the job: the job's directory. The
/// test binary then runs [`job_process`] instead of tests.
const DIR: &str = "FUSEFLOW_K2P_DIR";
const TOPIC: &str = "FUSEFLOW_K2P_TOPIC";
const DATABASE: &str = "FUSEFLOW_K2P_DATABASE";

/// In a child process of the test (and only there): the job, restoring its latest checkpoint.
#[test]
fn job_process() {
    let Ok(dir) = std::env::var(DIR) else {
        return;
    };
    let db = std::env::var(DATABASE).unwrap();
    let source = kafka::source(kafka_brokers(), std::env::var(TOPIC).unwrap()).bounded();
    let job = pipeline! {
        job { name: "kafka-to-postgres", checkpoint_every_records: 50 }
        let timed = kafka::<Order>(source)
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .idleness(5s);
        // 2 ms per order: a whole run takes about 2 s, so kills land in the middle.
        let sums = timed
            .inspect(|_| std::thread::sleep(Duration::from_millis(2)))
            .key_by(|o| o.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .sum(|o| o.amount);
        let totals = sums.map(Total::from);
        let firings = sums.map(Total::from);
        totals.sink(postgres(PgTable::upsert(&db, "totals", ["user_id", "window_end"])));
        firings.sink(postgres(PgTable::insert(&db, "firings")));
    };
    job.with_parallelism(2)
        .with_checkpoint_dir(Path::new(&dir).join("checkpoints"))
        .with_restore(RestoreFrom::Latest)
        .run()
        .unwrap();
}

/// The job as a child process writing into `db`, with its checkpoints under `dir`.
fn job(topic: &str, db: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "job_process", "--nocapture", "--test-threads", "1"])
        .env(DIR, dir)
        .env(TOPIC, topic)
        .env(DATABASE, db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn run_to_end(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the job failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number of the newest complete checkpoint under `dir` (0 if none).
fn newest_checkpoint(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("checkpoints"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("_manifest.json").exists())
                .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("chk-")?.parse().ok())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[test]
fn kafka_to_window_to_postgres_killed_and_restored_gives_the_rows_of_an_uninterrupted_run() {
    let input = out_of_order(0..900);
    let name = topic("k2p", 3);
    produce(&name, &messages(&input, 3));
    let tmp = tempfile::tempdir().unwrap();

    // The run that is never killed.
    let reference = database("k2p_reference");
    create_totals_tables(&reference, "totals", "firings");
    run_to_end(job(&name, &reference, &tmp.path().join("reference")));
    let (expected_totals, expected_firings) = (total_rows(&reference, "totals"), total_rows(&reference, "firings"));
    // One checkpoint per 50 orders read, and those the sinks ask for at the end of input.
    let taken = newest_checkpoint(&tmp.path().join("reference"));
    assert!(
        (18..=22).contains(&taken),
        "checkpoint_every_records: 50 over 900 orders took {taken} checkpoints"
    );
    // 90 s of event time: 9 or 10 windows for each of the 7 users, each fired once.
    assert!(expected_totals.len() >= 63, "{expected_totals:?}");
    assert_eq!(expected_firings, expected_totals);
    let total: u64 = expected_totals
        .iter()
        .map(|r| r.rsplit('|').next().unwrap().parse::<u64>().unwrap())
        .sum();
    // Every order is in a total.
    assert_eq!(total, input.iter().map(|o| o.amount).sum::<u64>());

    // The run that is killed: once early, then each time once it has committed more rows
    // (firings of windows); then restored until it ends.
    let killed = database("k2p_killed");
    create_totals_tables(&killed, "totals", "firings");
    let dir = tmp.path().join("killed");
    let (mut kills, mut committed_before_a_kill) = (0, 0);
    let mut committed = 0;
    for attempt in 0..6 {
        let before = newest_checkpoint(&dir);
        let mut child = job(&name, &killed, &dir).spawn().unwrap();
        let started = Instant::now();
        let due = |n: usize| newest_checkpoint(&dir) > before + 1 && (attempt == 0 || n > committed);
        while !due(total_rows(&killed, "firings").len())
            && child.try_wait().unwrap().is_none()
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_some() {
            // It ended before the kill: this was the run to the end.
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        committed = total_rows(&killed, "firings").len();
        eprintln!(
            "killed after checkpoint {}: {committed} rows committed",
            newest_checkpoint(&dir)
        );
        if committed > 0 {
            committed_before_a_kill += 1;
        }
    }
    assert!(kills >= 3, "only {kills} kills landed");
    assert!(
        committed_before_a_kill >= 2,
        "the kills came before any row was committed: they test nothing"
    );
    run_to_end(job(&name, &killed, &dir));

    assert_totals_match(&killed, ("totals", "firings"), &expected_totals, &expected_firings);
}
