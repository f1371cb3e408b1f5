//! The `postgres` sink in `pipeline!` jobs against a real PostgreSQL on 127.0.0.1
//! (`scripts/services.sh`): insert and upsert jobs write the expected rows at parallelism 1
//! and 2, with and without checkpoints; the `pg_totals` example (windowed sums upserted into
//! one table and inserted into another, checkpoints every 2,000 records, parallelism 2) is
//! killed with SIGKILL at random points and restored with `--restore latest` until it ends,
//! and both tables then hold exactly the rows of a run that was never killed, duplicates
//! counted; a server that cannot be reached fails the job with its address, without a panic.

mod common;

use common::pg::{assert_totals_match, create_totals_tables, database, psql, total_rows};

use common::events::{Events, Rng, write_events};
use common::example;
use fuseflow::{Job, PgTable, pipeline};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A user's clicks at a time.
#[derive(Debug, Clone, serde::Serialize)]
struct Click {
    user: String,
    ts: i64,
}

/// Clicks per user in 1-second windows.
#[derive(Debug, Clone, serde::Serialize)]
struct Count {
    user_id: String,
    window_end: i64,
    clicks: u64,
}

fn clicks(n: i64) -> Vec<Click> {
    (0..n)
        .map(|i| Click {
            user: format!("u{}", (i * 7) % 13),
            ts: i * 37,
        })
        .collect()
}

/// The same counts computed by hand, as `user|window_end|clicks` lines, sorted.
fn expected_counts(n: i64) -> Vec<String> {
    let mut counts = std::collections::BTreeMap::new();
    for c in clicks(n) {
        *counts
            .entry((c.user, c.ts - c.ts.rem_euclid(1000) + 1000))
            .or_insert(0u64) += 1;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|((u, e), c)| format!("{u}|{e}|{c}")).collect();
    lines.sort();
    lines
}

/// Counts clicks per user and window, inserting each count into `counts` and upserting it
/// into `latest`; checkpoints every 500 records if `checkpoints`.
fn counting_job<'a>(url: &str, n: i64, checkpoints: Option<&Path>, parallelism: usize) -> Job<'a> {
    let (insert, upsert) = (
        PgTable::insert(url, "counts").batch_size(64),
        PgTable::upsert(url, "latest", ["user_id", "window_end"]),
    );
    let data = clicks(n);
    let job = match checkpoints {
        None => pipeline! {
            job { name: "pg-counts" }
            let counted = from_iter(data)
                .timestamps(|c| c.ts)
                .watermarks(monotonous())
                .key_by(|c| c.user.clone())
                .window(tumbling(1s))
                .drop_late_data()
                .count();
            let counts = counted.map(|r| Count { user_id: r.key, window_end: r.end, clicks: r.value });
            let latest = counts.map(|c| c);
            counts.sink(postgres(insert));
            latest.sink(postgres(upsert));
        },
        Some(dir) => pipeline! {
            job { name: "pg-counts", checkpoint_every_records: 500 }
            let counted = from_iter(data)
                .timestamps(|c| c.ts)
                .watermarks(monotonous())
                .key_by(|c| c.user.clone())
                .window(tumbling(1s))
                .drop_late_data()
                .count();
            let counts = counted.map(|r| Count { user_id: r.key, window_end: r.end, clicks: r.value });
            let latest = counts.map(|c| c);
            counts.sink(postgres(insert));
            latest.sink(postgres(upsert));
        }
        .with_checkpoint_dir(dir),
    };
    job.with_parallelism(parallelism)
}

fn create_count_tables(url: &str) {
    psql(
        url,
        "CREATE TABLE counts (user_id text NOT NULL, window_end bigint NOT NULL, clicks integer NOT NULL);
         CREATE TABLE latest (user_id text, window_end bigint, clicks integer, PRIMARY KEY (user_id, window_end))",
    );
}

/// Every row of `table` as `user|window_end|clicks`, sorted as text, duplicates kept.
fn rows(url: &str, table: &str) -> Vec<String> {
    let mut rows = psql(url, &format!("SELECT user_id, window_end, clicks FROM {table}"));
    rows.sort();
    rows
}

#[test]
fn insert_and_upsert_jobs_write_the_expected_rows_at_parallelism_1_and_2() {
    let n = 5000;
    let expected = expected_counts(n);
    for parallelism in [1, 2] {
        for checkpoints in [false, true] {
            let url = database("pg_counts");
            create_count_tables(&url);
            let dir = tempfile::tempdir().unwrap();
            let summary = counting_job(&url, n, checkpoints.then_some(dir.path()), parallelism)
                .run()
                .unwrap();
            let what = format!("parallelism {parallelism}, checkpoints {checkpoints}");
            assert_eq!(summary.records_out, 2 * expected.len() as u64, "{what}");
            assert_eq!(rows(&url, "counts"), expected, "{what}: inserted rows");
            assert_eq!(rows(&url, "latest"), expected, "{what}: upserted rows");
            if checkpoints {
                // Every batch has its commit row; the batches hold every row once.
                let committed = psql(
                    &url,
                    "SELECT sink, sum(rows) FROM fuseflow_commits WHERE job = 'pg-counts' GROUP BY sink ORDER BY sink",
                );
                let n = expected.len();
                assert_eq!(committed, [format!("counts|{n}"), format!("latest|{n}")], "{what}");
            }
        }
    }
}

#[test]
fn a_second_run_upserts_the_same_rows_again_and_inserts_them_twice() {
    let url = database("pg_again");
    create_count_tables(&url);
    let expected = expected_counts(1000);
    counting_job(&url, 1000, None, 2).run().unwrap();
    counting_job(&url, 1000, None, 2).run().unwrap();
    assert_eq!(rows(&url, "latest"), expected);
    let mut twice: Vec<String> = expected.iter().chain(&expected).cloned().collect();
    twice.sort();
    assert_eq!(
        rows(&url, "counts"),
        twice,
        "without checkpoints a rerun is at-least-once"
    );
}

/// Writes `n` events for `pg_totals` (50 users).
fn write_events_pg(path: &Path, n: usize) {
    let events = Events {
        seed: 0x2545_f491_4f6c_dd1d,
        users: 50,
        malformed_every: None,
    };
    write_events(path, n, &events);
}

/// Whether `built` is older than a source file it is built from (or missing).
fn stale(built: &Path) -> bool {
    fn newest(dir: &Path) -> std::time::SystemTime {
        let mut t = std::time::SystemTime::UNIX_EPOCH;
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let m = if p.is_dir() {
                newest(&p)
            } else {
                e.metadata().and_then(|m| m.modified()).unwrap_or(t)
            };
            t = t.max(m);
        }
        t
    }
    let Ok(at) = std::fs::metadata(built).and_then(|m| m.modified()) else {
        return true;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["src", "runtime/src", "macros", "examples/pg_totals.rs"]
        .iter()
        .any(|d| newest(&root.join(d)) > at || root.join(d).metadata().and_then(|m| m.modified()).is_ok_and(|m| m > at))
}

/// The `pg_totals` example, built first if it is missing or older than its sources (a
/// `cargo test --test postgres` builds no examples; a whole `cargo test` does).
fn pg_totals() -> Command {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        if !stale(&profile_dir.join("examples/pg_totals")) {
            return;
        }
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev",
            other => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "fuseflow",
                "--example",
                "pg_totals",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the pg_totals example");
    });
    example("pg_totals")
}

/// The `pg_totals` example's command line: input `input`, both sinks into `url`,
/// checkpoints under `dir`, parallelism 2, restoring the latest checkpoint if there is one.
fn totals_job(input: &Path, url: &str, dir: &Path) -> Command {
    totals_job_restoring(input, url, dir, "latest")
}

/// [`totals_job`], restoring `restore` (`latest` or a checkpoint number).
fn totals_job_restoring(input: &Path, url: &str, dir: &Path, restore: &str) -> Command {
    let mut cmd = pg_totals();
    cmd.args(["--parallelism", "2", "--quiet", "--restore", restore])
        .arg("--input")
        .arg(format!("events={}", input.display()))
        .arg("--output")
        .arg(format!("totals={url}"))
        .arg("--output")
        .arg(format!("firings={url}"))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--dead-letter")
        .arg(dir.join("dead.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn run_to_end(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the job failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn killed_at_random_points_and_restored_the_tables_hold_every_row_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.csv");
    write_events_pg(&input, 40_000);

    // The run that is never killed.
    let reference = database("pg_reference");
    create_totals_tables(&reference, "pg_totals", "pg_firings");
    let started = Instant::now();
    run_to_end(&mut totals_job(&input, &reference, &tmp.path().join("reference")));
    let full = started.elapsed();
    let expected_totals = total_rows(&reference, "pg_totals");
    let expected_firings = total_rows(&reference, "pg_firings");
    assert!(expected_totals.len() > 1_000, "{} totals", expected_totals.len());
    assert!(
        expected_firings.len() > expected_totals.len(),
        "late firings update totals: {} firings, {} totals",
        expected_firings.len(),
        expected_totals.len()
    );

    // The run that is killed again and again.
    let killed = database("pg_killed");
    create_totals_tables(&killed, "pg_totals", "pg_firings");
    let dir = tmp.path().join("killed");
    let mut rng = Rng(7);
    let (mut kills, mut attempts, mut restarts_with_commits) = (0, 0, 0);
    while kills < 12 {
        attempts += 1;
        assert!(attempts < 200, "only {kills} kills landed in {attempts} attempts");
        let before = psql(&killed, "SELECT count(*) FROM pg_firings");
        let mut child = totals_job(&input, &killed, &dir).spawn().unwrap();
        // Anywhere in a whole run: most kills land before the job ends.
        let delay = Duration::from_micros(rng.below(full.as_micros() as u64 + 1));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            if psql(&killed, "SELECT count(*) FROM pg_firings") != before {
                restarts_with_commits += 1;
            }
        } else {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "a restarted run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // It finished before the kill: start the history again.
            std::fs::remove_dir_all(&dir).unwrap();
            psql(&killed, "TRUNCATE pg_totals, pg_firings");
        }
    }
    eprintln!(
        "{kills} kills in {attempts} runs; {restarts_with_commits} killed runs had committed rows; \
         a whole run takes {full:?}"
    );
    assert!(
        restarts_with_commits >= 3,
        "only {restarts_with_commits} of {kills} killed runs had committed anything: the kills land too early"
    );
    run_to_end(&mut totals_job(&input, &killed, &dir));

    assert_totals_match(
        &killed,
        ("pg_totals", "pg_firings"),
        &expected_totals,
        &expected_firings,
    );
}

#[test]
fn restoring_the_checkpoint_taken_at_the_end_of_input_writes_nothing_again() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.csv");
    write_events_pg(&input, 5_000);
    let url = database("pg_end");
    create_totals_tables(&url, "pg_totals", "pg_firings");
    run_to_end(&mut totals_job(&input, &url, tmp.path()));
    let (totals, firings) = (total_rows(&url, "pg_totals"), total_rows(&url, "pg_firings"));
    assert!(!firings.is_empty());
    // The example keeps 2 checkpoints: the one its sinks asked for at the end of input, and
    // the final one. Restoring the first replays nothing and commits nothing again.
    let checkpoints = tmp.path().join("checkpoints");
    for _ in 0..2 {
        let mut ids: Vec<u64> = std::fs::read_dir(&checkpoints)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
            .collect();
        ids.sort();
        assert_eq!(ids.len(), 2, "{ids:?}");
        run_to_end(&mut totals_job_restoring(&input, &url, tmp.path(), &ids[0].to_string()));
        assert!(total_rows(&url, "pg_firings") == firings, "inserted rows changed");
        assert!(total_rows(&url, "pg_totals") == totals, "upserted rows changed");
    }
}

/// A reading, written as is by a keyed running `reduce` (each id is its own key).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Reading {
    id: i64,
    sensor: String,
}

/// Inserts 250 readings through a keyed `reduce` (whose state restores onto any
/// parallelism), with checkpoints every 100 records in `dir`.
fn readings_job<'a>(url: &str, dir: &Path, parallelism: usize) -> Job<'a> {
    let data: Vec<Reading> = (1..=250)
        .map(|id| Reading {
            id,
            sensor: format!("s{}", id % 7),
        })
        .collect();
    let table = PgTable::insert(url, "readings");
    pipeline! {
        job { name: "pg-rescale", checkpoint_every_records: 100 }
        let readings = from_iter(data).key_by(|r| r.id).reduce(|_, b| b);
        readings.sink(postgres(table));
    }
    .with_checkpoint_dir(dir)
    .with_parallelism(parallelism)
}

#[test]
fn a_restore_on_another_parallelism_commits_every_saved_batch_once() {
    let url = database("pg_rescale");
    psql(&url, "CREATE TABLE readings (id bigint NOT NULL, sensor text NOT NULL)");
    let tmp = tempfile::tempdir().unwrap();
    readings_job(&url, tmp.path(), 2).run().unwrap();
    let count = || psql(&url, "SELECT count(*), sum(id) FROM readings");
    assert_eq!(count(), ["250|31375"]);
    // Checkpoint 3 is the one at the end of input: ids 201 to 250, from both instances.
    assert_eq!(
        psql(
            &url,
            "SELECT count(*), sum(rows) FROM fuseflow_commits WHERE job = 'pg-rescale' AND checkpoint = 3"
        ),
        ["2|50"]
    );
    // As if the job had died before committing checkpoint 3: restored on one instance, then
    // on three, its batches (saved by two instances) are committed once.
    psql(
        &url,
        "DELETE FROM readings WHERE id > 200; DELETE FROM fuseflow_commits WHERE checkpoint = 3",
    );
    for parallelism in [1, 3] {
        readings_job(&url, tmp.path(), parallelism)
            .with_restore(fuseflow::checkpoint::RestoreFrom::Id(3))
            .run()
            .unwrap();
        assert_eq!(count(), ["250|31375"], "restored at parallelism {parallelism}");
    }
}

#[test]
fn an_unreachable_server_fails_the_job_with_its_address_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.csv");
    write_events_pg(&input, 100);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/nowhere");
    let started = Instant::now();
    let out = totals_job(&input, &url, tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/nowhere")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // It retried for the connect timeout (10 s by default), not for ever.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[test]
fn an_output_override_naming_no_sink_is_refused() {
    let url = database("pg_names");
    create_count_tables(&url);
    let err = counting_job(&url, 10, None, 1)
        .with_output("count", "postgres://elsewhere")
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("`count`") && err.contains("`counts`"), "{err}");
}
