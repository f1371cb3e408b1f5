//! Scale-out through Kafka (issue 7), against the real servers `scripts/services.sh`
//! starts: two processes of the same job share a 4-partition topic through their consumer
//! group and their keyed stage through the internal topic; one is killed with SIGKILL in the
//! middle, and the other takes over its input partitions and key group ranges, restoring
//! the ranges from the shared checkpoint directory. The windowed totals committed to
//! PostgreSQL are then exactly those computed here from the input: none lost, none twice.

mod common;

use common::kafka::{produce, topic};
use common::orders::{Order, Total, messages, out_of_order};
use common::pg::{create_totals_tables, database, total_rows};
use common::services::{kafka_brokers, unique};
use fuseflow::{PgTable, kafka, pipeline};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;

/// One order per partition far in the future: the watermark passes every window of the
/// orders before, so they all fire (the run never ends: a scaled-out job runs until stopped).
fn flush_orders(next_id: u64) -> Vec<(i32, Vec<u8>)> {
    (0..PARTITIONS)
        .map(|p| {
            let o = Order {
                id: next_id + p as u64,
                user: "flush".into(),
                amount: 0,
                ts: 1_000_000_000,
            };
            (p, serde_json::to_vec(&o).unwrap())
        })
        .collect()
}

/// The rows a correct run commits, computed directly: `user|window_end|sum` per user and
/// 10 s window, sorted.
fn expected_rows(orders: &[Order]) -> Vec<String> {
    let mut sums: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for o in orders {
        let end = o.ts.div_euclid(10_000) * 10_000 + 10_000;
        *sums.entry((o.user.clone(), end)).or_default() += o.amount;
    }
    let mut rows: Vec<String> = sums.iter().map(|((u, e), s)| format!("{u}|{e}|{s}")).collect();
    rows.sort();
    rows
}

const DIR: &str = "FUSEFLOW_SCALE_DIR";
const TOPIC: &str = "FUSEFLOW_SCALE_TOPIC";
const GROUP: &str = "FUSEFLOW_SCALE_GROUP";
const DATABASE: &str = "FUSEFLOW_SCALE_DATABASE";

/// In a child process of the test (and only there): one process of the scaled-out job.
#[test]
fn job_process() {
    let Ok(dir) = std::env::var(DIR) else {
        return;
    };
    let db = std::env::var(DATABASE).unwrap();
    let source = kafka::source(kafka_brokers(), std::env::var(TOPIC).unwrap()).group_id(std::env::var(GROUP).unwrap());
    let job = pipeline! {
        job {
            name: "scale-out",
            parallelism: 4,
            checkpoint_interval: 300ms,
            scale_out: kafka,
        }
        let timed = kafka::<Order>(source)
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s));
        // 20 ms per order: the first half takes each process about 6 s, and the kill lands in
        // the middle of it (records read since the last commit are read again by the other).
        let sums = timed
            .inspect(|_| std::thread::sleep(Duration::from_millis(20)))
            .key_by(|o| o.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .sum(|o| o.amount);
        let totals = sums.map(Total::from);
        let firings = sums.map(Total::from);
        totals.sink(postgres(PgTable::upsert(&db, "totals", ["user_id", "window_end"])));
        firings.sink(postgres(PgTable::insert(&db, "firings")));
    };
    let summary = job.with_checkpoint_dir(Path::new(&dir).join("checkpoints")).run();
    panic!("a scaled-out job runs until it is stopped, but it returned {summary:?}");
}

/// One process of the job, its stderr lines collected into `log`.
struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn start(topic: &str, group: &str, db: &str, dir: &Path) -> Process {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "job_process", "--nocapture", "--test-threads", "1"])
            .env(DIR, dir)
            .env(TOPIC, topic)
            .env(GROUP, group)
            .env(DATABASE, db)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Process { child, log }
    }

    /// The last assignment this process logged with `marker` ("reads partition(s) [" or
    /// "runs key group range(s) ["), as its list's text.
    fn owns(&self, marker: &str) -> Option<String> {
        let log = self.log.lock().unwrap();
        let line = log.iter().rev().find(|l| l.contains(marker))?;
        let rest = &line[line.find(marker)? + marker.len()..];
        Some(rest[..rest.find(']')?].to_owned())
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PARTITIONS_MARK: &str = "reads partition(s) [";
const RANGES_MARK: &str = "runs key group range(s) [";

/// Waits up to `secs` for `done`, failing with `what` and the processes' logs.
fn wait_for(secs: u64, what: &str, procs: &mut [&mut Process], mut done: impl FnMut(&mut [&mut Process]) -> bool) {
    let started = Instant::now();
    while !done(procs) {
        for p in procs.iter_mut() {
            assert!(!p.exited(), "a process of the job exited: {}", p.log());
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; logs:\n{}",
            procs.iter().map(|p| p.log()).collect::<Vec<_>>().join("\n-----\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(list: &str) -> usize {
    list.split(',').filter(|s| !s.trim().is_empty()).count()
}

#[test]
fn two_processes_share_the_work_and_one_takes_over_when_the_other_is_killed() {
    let first = out_of_order(0..600);
    let second = out_of_order(600..1200);
    let name = topic("scale", PARTITIONS);
    let group = unique("scale_group");
    produce(&name, &messages(&first, PARTITIONS));
    // A malformed message: it goes to the dead-letter output (stderr), whoever reads it.
    produce(&name, &[(1, b"{not json".to_vec())]);
    let db = database("scale_out");
    create_totals_tables(&db, "totals", "firings");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let mut a = Process::start(&name, &group, &db, dir);
    let mut b = Process::start(&name, &group, &db, dir);
    // Both processes own some of the input partitions and some key group ranges, and
    // between them all of each (once both have heard of the group's last rebalance).
    wait_for(60, "both processes to get work", &mut [&mut a, &mut b], |ps| {
        let owned = |mark: &str| -> Vec<usize> { ps.iter().map(|p| p.owns(mark).map_or(0, |l| count(&l))).collect() };
        let (parts, ranges) = (owned(PARTITIONS_MARK), owned(RANGES_MARK));
        parts.iter().all(|&n| n > 0)
            && ranges.iter().all(|&n| n > 0)
            && parts.iter().sum::<usize>() == PARTITIONS as usize
            && ranges.iter().sum::<usize>() == 4
    });
    eprintln!(
        "A runs ranges [{}], B runs [{}]",
        a.owns(RANGES_MARK).unwrap(),
        b.owns(RANGES_MARK).unwrap()
    );
    // Windows fired and were committed: the job is in the middle of its input.
    wait_for(60, "the first committed rows", &mut [&mut a, &mut b], |_| {
        total_rows(&db, "firings").len() >= 10
    });
    let before_kill = total_rows(&db, "firings").len();
    let a_ranges: Vec<String> = a.owns(RANGES_MARK).unwrap().split(", ").map(str::to_owned).collect();
    let b_lines_at_kill = b.log.lock().unwrap().len();

    // SIGKILL: A's uncommitted work and its group memberships are abandoned.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    eprintln!("killed A with {before_kill} rows committed");
    produce(&name, &messages(&second, PARTITIONS));
    produce(&name, &flush_orders(1200));

    // B takes over every input partition and every key group range.
    wait_for(90, "B to take over", &mut [&mut b], |ps| {
        ps[0]
            .owns(PARTITIONS_MARK)
            .is_some_and(|l| count(&l) == PARTITIONS as usize)
            && ps[0].owns(RANGES_MARK).is_some_and(|l| count(&l) == 4)
    });
    let all: Vec<Order> = first.iter().chain(&second).cloned().collect();
    let expected = expected_rows(&all);
    // 120 s of event time: 12 or 13 windows for each of the 7 users.
    assert!(expected.len() >= 84, "{expected:?}");
    wait_for(90, "every window to be committed", &mut [&mut b], |_| {
        total_rows(&db, "firings").len() >= expected.len()
    });
    // Whatever is still in flight would show as a row too many.
    std::thread::sleep(Duration::from_secs(2));
    let firings = total_rows(&db, "firings");
    assert_eq!(
        firings.len(),
        expected.len(),
        "inserted rows lost or duplicated; B's log:\n{}",
        b.log()
    );
    let missing: Vec<&String> = expected.iter().filter(|r| !firings.contains(r)).collect();
    let extra: Vec<&String> = firings.iter().filter(|r| !expected.contains(r)).collect();
    assert!(
        firings == expected,
        "inserted rows differ from the input's totals: missing {missing:?}, not expected {extra:?}; B's log:\n{}",
        b.log()
    );
    assert!(
        total_rows(&db, "totals") == expected,
        "upserted rows differ from the input's totals"
    );
    let logs = format!("{}\n{}", a.log(), b.log());
    assert!(
        logs.contains(&format!("kafka:{name}/1")) && logs.contains("{not json"),
        "the malformed message was not dead-lettered:\n{logs}"
    );
    // B restored A's ranges from the checkpoints A wrote.
    let after_kill = b.log.lock().unwrap()[b_lines_at_kill..].join("\n");
    for r in &a_ranges {
        assert!(
            after_kill.contains(&format!("key group range {r} of job `scale-out`: restored checkpoint")),
            "B did not restore range {r} from A's checkpoints:\n{after_kill}"
        );
    }
}

#[test]
fn a_process_with_another_parallelism_than_the_internal_topic_is_refused() {
    let name = topic("scale_mismatch", PARTITIONS);
    let group = unique("scale_mismatch_group");
    // The internal topic as a run with parallelism 2 left it; this job runs 4 ranges.
    let internal = format!("{group}-scale-out-repartition");
    common::kafka::create_topic(&internal, 2);
    let db = database("scale_mismatch");
    create_totals_tables(&db, "totals", "firings");
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Process::start(&name, &group, &db, tmp.path());
    let started = Instant::now();
    while !p.exited() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the process did not stop: {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The log reader thread may still be reading the last lines.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        p.log()
            .contains("it has 2 partitions, but this job runs 4 key group ranges (its `parallelism`)"),
        "{}",
        p.log()
    );
}
