//! The PostgreSQL sink against a real server on 127.0.0.1 (`scripts/services.sh`, started
//! here when it is not running): values of every kind reach their columns, a restored job
//! commits exactly the batches the failed run had not (and committing twice writes nothing
//! twice), bad connections, tables, columns and records fail or dead-letter clearly, and a
//! table locked by another connection neither holds up checkpoints (commits run on the
//! sink's own I/O thread) nor lets the job return before its rows are in, and without
//! checkpoints slows the source down instead of queueing rows without bound; no connection
//! outlives its job.
//! The jobs are built by hand with the runtime's API; `tests/postgres.rs` runs `pipeline!`
//! jobs, at several parallelisms, and kills one with SIGKILL. (Without the `postgres`
//! feature, on by default, there is no client to test: `sink::postgres`'s unit tests check
//! that the sink then names the feature.)

#![cfg(feature = "postgres")]

// The root package's test helpers: the servers, and SQL through `psql`.
#[allow(dead_code)]
#[path = "../../tests/common/pg.rs"]
mod pg;
#[allow(dead_code)]
#[path = "../../tests/common/services.rs"]
mod services;

use pg::psql;
use services::unique;

use fuseflow_runtime::checkpoint::{CheckpointConfig, RestoreFrom, checkpointed};
use fuseflow_runtime::sink::{self, PgTable};
use fuseflow_runtime::{DeadLetterTarget, Job, JobError, JobSpec, JobSummary, source};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The test server's URL (`FUSEFLOW_PG_URL`, or the script's cluster, started if needed).
/// The test PostgreSQL server (started if needed).
fn server() -> String {
    services::postgres_url()
}

#[derive(Debug, Clone, serde::Serialize)]
struct Reading {
    id: i64,
    sensor: String,
    value: f64,
}

fn readings(n: i64) -> Vec<Reading> {
    (1..=n)
        .map(|id| Reading {
            id,
            sensor: format!("s{}", id % 7),
            value: id as f64 / 4.0,
        })
        .collect()
}

fn create_readings(url: &str) -> String {
    let table = unique("readings");
    psql(
        url,
        &format!("CREATE TABLE {table} (id bigint PRIMARY KEY, sensor text NOT NULL, value double precision)"),
    );
    table
}

/// A job writing `records` into `table` with checkpoints every 100 records in `dir` (the
/// sink saved as `pg`, and named after its table: tests run at once, and must not share
/// commit rows), restoring `restore` if given.
fn checkpointed_job(
    records: Vec<Reading>,
    table: PgTable,
    dir: &Path,
    restore: Option<RestoreFrom>,
) -> Result<JobSummary, JobError> {
    let src = source::from_iter(records);
    let ty = src.ty();
    let spec = JobSpec {
        name: "pg-runtime-test",
        ..JobSpec::default()
    };
    let mut job = Job::new(spec).with_checkpoints(CheckpointConfig::every_records(dir, 100));
    if let Some(from) = restore {
        job = job.with_restore(from);
    }
    let name = table.table().to_owned();
    job.add_source(
        "readings",
        src,
        checkpointed(sink::postgres(ty, table).named(&name), "pg"),
    );
    job.run()
}

#[test]
fn values_of_every_kind_reach_columns_of_their_types() {
    #[derive(serde::Serialize)]
    struct Row {
        small: i16,
        big: u64,
        ratio: f32,
        price: f64,
        name: String,
        ok: bool,
        at: &'static str,
        note: Option<String>,
        pair: (i32, String),
    }
    let url = server();
    let table = unique("kinds");
    psql(
        &url,
        &format!(
            "CREATE TABLE {table} (small smallint, big numeric, ratio real, price numeric(10,2), name varchar(20), \
             ok boolean, at timestamptz, note text, pair_0 integer, pair_1 text)"
        ),
    );
    let rows = vec![
        Row {
            small: -3,
            big: u64::MAX,
            ratio: 0.5,
            price: 12.25,
            name: "ünïcode 'quoted'".into(),
            ok: true,
            at: "2026-11-24T12:00:00Z",
            note: None,
            pair: (7, "seven".into()),
        },
        Row {
            small: 4,
            big: 0,
            ratio: f32::NAN,
            price: -1.5,
            name: "b".into(),
            ok: false,
            at: "1970-01-01T00:00:00Z",
            note: Some("n".into()),
            pair: (-1, "".into()),
        },
    ];
    let src = source::from_iter(rows);
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source("rows", src, sink::postgres(ty, PgTable::insert(&url, &table)));
    let summary = job.run().unwrap();
    assert_eq!(summary.records_out, 2);
    let got = psql(
        &url,
        &format!(
            "SELECT small, big, ratio, price, name, ok, extract(epoch from at)::bigint, coalesce(note, 'NULL'), pair_0, pair_1 \
             FROM {table} ORDER BY small"
        ),
    );
    assert_eq!(
        got,
        [
            "-3|18446744073709551615|0.5|12.25|ünïcode 'quoted'|t|1795521600|NULL|7|seven",
            "4|0|NaN|-1.50|b|f|0|n|-1|",
        ]
    );
}

#[test]
fn without_checkpoints_rows_are_written_in_batches_and_upserts_replace_by_key() {
    let url = server();
    let table = create_readings(&url);
    let src = source::from_iter(readings(2500));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source(
        "readings",
        src,
        sink::postgres(ty, PgTable::insert(&url, &table).batch_size(300)),
    );
    assert_eq!(job.run().unwrap().records_out, 2500);
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
        ["2500|3126250"]
    );

    // Upsert the same ids with other values, twice each in one batch: the last one wins.
    let again: Vec<Reading> = readings(2500)
        .into_iter()
        .flat_map(|r| {
            let first = Reading {
                value: -1.0,
                ..r.clone()
            };
            let last = Reading {
                value: r.value * 2.0,
                ..r
            };
            [first, last]
        })
        .collect();
    let src = source::from_iter(again);
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source(
        "readings",
        src,
        sink::postgres(ty, PgTable::upsert(&url, &table, ["id"]).batch_size(1000)),
    );
    job.run().unwrap();
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(value) FROM {table}")),
        ["2500|1563125"]
    );
}

#[test]
fn with_checkpoints_each_checkpoint_is_committed_once_with_its_commit_row() {
    let url = server();
    let table = create_readings(&url);
    let dir = tempfile::tempdir().unwrap();
    let summary = checkpointed_job(readings(250), PgTable::insert(&url, &table), dir.path(), None).unwrap();
    assert_eq!(summary.records_out, 250);
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
        ["250|31375"]
    );
    // Checkpoints 1 and 2 after 100 and 200 records, 3 at the end of input (the sink asks
    // for it), 4 the final one: one commit row per batch.
    let commits = psql(
        &url,
        &format!(
            "SELECT subtask, checkpoint, rows FROM fuseflow_commits \
             WHERE job = 'pg-runtime-test' AND sink = '{table}' ORDER BY checkpoint"
        ),
    );
    assert_eq!(commits, ["0|1|100", "0|2|100", "0|3|50"]);
}

#[test]
fn a_restore_commits_what_the_failed_run_had_not_and_never_a_batch_twice() {
    let url = server();
    let table = create_readings(&url);
    let dir = tempfile::tempdir().unwrap();
    let insert = || PgTable::insert(&url, &table);
    checkpointed_job(readings(250), insert(), dir.path(), None).unwrap();
    let all = psql(&url, &format!("SELECT count(*), sum(id) FROM {table}"));
    assert_eq!(all, ["250|31375"]);
    let forget = |checkpoint: u64| {
        psql(
            &url,
            &format!(
                "DELETE FROM fuseflow_commits WHERE job = 'pg-runtime-test' AND sink = '{table}' \
                 AND checkpoint = {checkpoint}"
            ),
        )
    };

    // Restoring checkpoint 3, whose batch was committed, applies nothing again (inserts
    // of ids that exist would fail on the primary key).
    checkpointed_job(readings(250), insert(), dir.path(), Some(RestoreFrom::Id(3))).unwrap();
    assert_eq!(psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")), all);

    // As if the job had died between checkpoint 3's manifest and its commit: the restore
    // commits the batch from the checkpoint's state, once, however often it runs.
    psql(&url, &format!("DELETE FROM {table} WHERE id > 200"));
    forget(3);
    for _ in 0..2 {
        checkpointed_job(readings(250), insert(), dir.path(), Some(RestoreFrom::Id(3))).unwrap();
        assert_eq!(psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")), all);
    }
}

#[test]
fn an_unreachable_server_fails_the_job_naming_host_and_port() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    let table = PgTable::insert(url, "readings").connect_timeout(Duration::from_millis(800));
    job.add_source("readings", src, sink::postgres(ty, table));
    let started = Instant::now();
    let err = job.run().unwrap_err().to_string();
    assert!(
        err.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/postgres")),
        "{err}"
    );
    assert!(err.contains("postgres sink `readings`"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(300), "it retried: {err}");

    // A server that answers with an error is not retried.
    let url = server();
    let (base, _) = url.rsplit_once('/').unwrap();
    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    let table = PgTable::insert(format!("{base}/no_such_db"), "readings").connect_timeout(Duration::from_secs(30));
    job.add_source("readings", src, sink::postgres(ty, table));
    let started = Instant::now();
    let err = job.run().unwrap_err().to_string();
    assert!(err.contains("database \"no_such_db\" does not exist"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    let err = {
        let src = source::from_iter(readings(3));
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("readings", src, sink::postgres(ty, PgTable::insert("mysql://x", "t")));
        job.run().unwrap_err().to_string()
    };
    assert!(err.contains("`mysql://x` is not a PostgreSQL connection URL"), "{err}");
}

#[test]
fn a_missing_table_or_column_fails_the_job_naming_them() {
    let url = server();
    let missing = unique("missing");
    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source("readings", src, sink::postgres(ty, PgTable::insert(&url, &missing)));
    let err = job.run().unwrap_err().to_string();
    assert!(
        err.contains(&format!("cannot write table `{missing}` at 127.0.0.1:"))
            && err.contains("there is no such table"),
        "{err}"
    );

    let table = unique("narrow");
    psql(&url, &format!("CREATE TABLE {table} (id bigint, sensor text)"));
    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source("readings", src, sink::postgres(ty, PgTable::insert(&url, &table)));
    let err = job.run().unwrap_err().to_string();
    assert!(err.contains(&format!("table `{table}` has no column `value`")), "{err}");
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {table}")), ["0"]);

    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    let upsert = PgTable::upsert(&url, &table, ["key"]);
    job.add_source("readings", src, sink::postgres(ty, upsert));
    let err = job.run().unwrap_err().to_string();
    assert!(
        err.contains("the upsert key column `key` is not a column of the table"),
        "{err}"
    );

    // An upsert key that is no unique constraint of the table: the server says so.
    let table = unique("no_key");
    psql(
        &url,
        &format!("CREATE TABLE {table} (id bigint, sensor text, value double precision)"),
    );
    let src = source::from_iter(readings(3));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    let upsert = PgTable::upsert(&url, &table, ["id"]);
    job.add_source("readings", src, sink::postgres(ty, upsert));
    let err = job.run().unwrap_err().to_string();
    assert!(err.contains(&format!("cannot write to table `{table}`")), "{err}");
    assert!(err.contains("no unique or exclusion constraint"), "{err}");
}

#[test]
fn a_value_the_server_refuses_fails_the_job_naming_the_table() {
    let url = server();
    let table = unique("strict");
    psql(
        &url,
        &format!("CREATE TABLE {table} (id smallint, sensor text, value double precision)"),
    );
    let src = source::from_iter(vec![Reading {
        id: 1 << 40,
        sensor: "s".into(),
        value: 1.0,
    }]);
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source("readings", src, sink::postgres(ty, PgTable::insert(&url, &table)));
    let err = job.run().unwrap_err().to_string();
    assert!(err.contains(&format!("cannot write to table `{table}`")), "{err}");
    assert!(err.contains("out of range for type smallint"), "{err}");
}

#[test]
fn records_that_cannot_be_rows_are_dead_lettered_with_the_reason() {
    let url = server();
    let table = create_readings(&url);
    let mut records = readings(4);
    records[1].sensor = "bad\0name".into();
    let dead = tempfile::NamedTempFile::new().unwrap();
    let src = source::from_iter(records);
    let ty = src.ty();
    let spec = JobSpec {
        dead_letter: DeadLetterTarget::File(dead.path().display().to_string()),
        ..JobSpec::default()
    };
    let mut job = Job::new(spec);
    job.add_source("readings", src, sink::postgres(ty, PgTable::insert(&url, &table)));
    let summary = job.run().unwrap();
    assert_eq!((summary.records_out, summary.dead_lettered), (3, 1));
    assert_eq!(
        psql(
            &url,
            &format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {table}")
        ),
        ["1,3,4"]
    );
    let letter = std::fs::read_to_string(dead.path()).unwrap();
    assert!(
        letter.contains(&format!("cannot be a row of table `{table}`")),
        "{letter}"
    );
    assert!(letter.contains("field `sensor` contains a NUL character"), "{letter}");
    assert!(letter.contains("\"line\":2"), "{letter}");
}

#[test]
fn a_fresh_start_forgets_the_commits_of_the_history_it_replaces() {
    let url = server();
    let table = create_readings(&url);
    let dir = tempfile::tempdir().unwrap();
    checkpointed_job(readings(250), PgTable::insert(&url, &table), dir.path(), None).unwrap();
    // The table is emptied by hand and the job started again without --restore: its
    // checkpoints 1, 2, … are new ones, and must not be taken for the old commits.
    psql(&url, &format!("TRUNCATE {table}"));
    checkpointed_job(readings(250), PgTable::insert(&url, &table), dir.path(), None).unwrap();
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
        ["250|31375"]
    );
    // Restoring an older checkpoint than the newest replaces the history after it too.
    psql(&url, &format!("DELETE FROM {table} WHERE id > 200"));
    checkpointed_job(
        readings(250),
        PgTable::insert(&url, &table),
        dir.path(),
        Some(RestoreFrom::Id(2)),
    )
    .unwrap();
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
        ["250|31375"]
    );
}

/// Locks `table` (`ACCESS EXCLUSIVE`: no one reads or writes it) from another connection for
/// `hold`, in the background; returns once the lock is held, with when that was.
fn lock_table(url: &str, table: &str, hold: Duration) -> (Child, Instant) {
    let sql = format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({}); COMMIT;",
        hold.as_secs_f64()
    );
    let child = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", &sql])
        .stdout(Stdio::null())
        .spawn()
        .expect("run psql");
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = format!(
        "SELECT count(*) FROM pg_locks WHERE relation = to_regclass('{table}') \
         AND mode = 'AccessExclusiveLock' AND granted"
    );
    while psql(url, &held) != ["1"] {
        assert!(Instant::now() < deadline, "psql did not lock {table}");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, Instant::now())
}

#[test]
fn a_commit_waiting_for_the_database_holds_up_no_checkpoint_and_the_job_returns_once_it_is_done() {
    let url = server();
    let table = create_readings(&url);
    let dir = tempfile::tempdir().unwrap();
    let hold = Duration::from_secs(5);
    let (mut locker, locked_at) = lock_table(&url, &table, hold);
    let job = std::thread::spawn({
        let (url, table, dir) = (url.clone(), table.clone(), dir.path().to_owned());
        move || checkpointed_job(readings(250), PgTable::insert(&url, &table), &dir, None)
    });
    // Checkpoint 1's commit waits for the lock. Were it made while the coordinator is
    // locked, on the thread that completed the checkpoint, no further checkpoint could
    // complete; checkpoint 3, at the end of input, does.
    let third = dir.path().join("chk-3").join("_manifest.json");
    while !third.exists() {
        assert!(
            locked_at.elapsed() < hold - Duration::from_millis(1500),
            "checkpoint 3 did not complete while a commit waited for the table"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The lock is still held: nothing can be committed yet, and the job waits for it.
    assert!(!job.is_finished(), "the job returned before its rows were committed");
    // Keep checkpoint 3 as it is now, taken while batch 1's commit was under way.
    let kept = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("chk-3"), &kept.path().join("chk-3"));
    let waiting = psql(
        &url,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE '%INSERT INTO%{table}%'"
        ),
    );
    assert_eq!(waiting, ["1"], "one commit waits for the lock");
    let summary = job.join().unwrap().unwrap();
    assert!(
        locked_at.elapsed() >= hold - Duration::from_millis(500),
        "the job returned after {:?}, before the lock was released",
        locked_at.elapsed()
    );
    assert_eq!(summary.records_out, 250);
    assert!(locker.wait().unwrap().success());
    assert_eq!(
        psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
        ["250|31375"]
    );
    let commits = psql(
        &url,
        &format!(
            "SELECT checkpoint, rows FROM fuseflow_commits \
             WHERE job = 'pg-runtime-test' AND sink = '{table}' ORDER BY checkpoint"
        ),
    );
    assert_eq!(commits, ["1|100", "2|100", "3|50"]);

    // Checkpoint 3's snapshot holds every batch not committed when its barrier passed, the
    // one being committed included: restored into an emptied table, it writes all 250 rows,
    // and restored again, nothing twice.
    psql(&url, &format!("TRUNCATE {table}"));
    psql(
        &url,
        &format!("DELETE FROM fuseflow_commits WHERE job = 'pg-runtime-test' AND sink = '{table}'"),
    );
    for _ in 0..2 {
        let restore = Some(RestoreFrom::Id(3));
        checkpointed_job(readings(250), PgTable::insert(&url, &table), kept.path(), restore).unwrap();
        assert_eq!(
            psql(&url, &format!("SELECT count(*), sum(id) FROM {table}")),
            ["250|31375"]
        );
    }
}

/// Copies the files of directory `from` into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn without_checkpoints_a_table_that_cannot_be_written_slows_the_source_down() {
    let url = server();
    let table = create_readings(&url);
    let hold = Duration::from_secs(3);
    let (mut locker, locked_at) = lock_table(&url, &table, hold);
    let read = Arc::new(AtomicUsize::new(0));
    let n = 100_000;
    let job = std::thread::spawn({
        let (url, table, read) = (url.clone(), table.clone(), Arc::clone(&read));
        move || {
            let src = source::from_iter(readings(n as i64).into_iter().inspect(move |_| {
                read.fetch_add(1, Ordering::Relaxed);
            }));
            let ty = src.ty();
            let mut job = Job::new(JobSpec::default());
            job.add_source(
                "readings",
                src,
                sink::postgres(ty, PgTable::insert(&url, &table).batch_size(100)),
            );
            job.run()
        }
    });
    std::thread::sleep(hold / 2);
    // The first batch waits for the lock, a few more wait for the I/O thread, and then the
    // worker (here the source's own thread) waits to hand over the next one.
    let early = read.load(Ordering::Relaxed);
    assert!(
        locked_at.elapsed() < hold && early <= 100 * 6,
        "{early} records were read while the table was locked"
    );
    assert_eq!(job.join().unwrap().unwrap().records_out, n as u64);
    assert!(locker.wait().unwrap().success());
    assert_eq!(read.load(Ordering::Relaxed), n);
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {table}")), [n.to_string()]);
}

#[test]
fn every_connection_is_closed_once_the_job_has_returned() {
    let url = server();
    let table = create_readings(&url);
    let app = unique("app");
    let named = format!(
        "{url}{}application_name={app}",
        if url.contains('?') { '&' } else { '?' }
    );
    let dir = tempfile::tempdir().unwrap();
    checkpointed_job(readings(250), PgTable::insert(&named, &table), dir.path(), None).unwrap();
    let src = source::from_iter(readings(10).into_iter().map(|r| Reading { id: r.id + 1000, ..r }));
    let ty = src.ty();
    let mut job = Job::new(JobSpec::default());
    job.add_source("readings", src, sink::postgres(ty, PgTable::insert(&named, &table)));
    job.run().unwrap();
    let open = format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'");
    let deadline = Instant::now() + Duration::from_secs(5);
    while psql(&url, &open) != ["0"] {
        assert!(
            Instant::now() < deadline,
            "the sinks' connections are still open: {:?}",
            psql(&url, &open)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {table}")), ["260"]);
}
