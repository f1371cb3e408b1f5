//! The Kafka source and sink against a real broker on 127.0.0.1 (tansu, started by
//! `scripts/services.sh`): bounded reads of JSON records from a 3-partition topic at
//! parallelism 1 and 2, dead letters for malformed messages, per-partition watermarks with
//! an idle partition, offsets restored from checkpoints after SIGKILL, the sink read back by a
//! consumer, and clear errors for a broker that is down and for exactly-once delivery.

mod common;

use common::kafka::{produce, produce_paced, topic};
use common::orders::Order;

use common::services::{kafka_brokers, unique};
use fuseflow::checkpoint::RestoreFrom;
use fuseflow::kafka::{self, StartFrom};
use fuseflow::{Collected, DeadLetterTarget, WindowResult, pipeline};
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn orders(n: u64) -> Vec<Order> {
    (0..n)
        .map(|id| Order {
            id,
            user: format!("u{}", id % 7),
            amount: id % 13 + 1,
            ts: id as i64 * 100,
        })
        .collect()
}

fn json(orders: &[Order], partitions: i32) -> Vec<(i32, Vec<u8>)> {
    orders
        .iter()
        .map(|o| ((o.id % partitions as u64) as i32, serde_json::to_vec(o).unwrap()))
        .collect()
}

#[test]
fn json_records_from_three_partitions_are_read_once_at_parallelism_1_and_2() {
    let brokers = kafka_brokers();
    let name = topic("orders", 3);
    let input = orders(300);
    produce(&name, &json(&input, 3));
    for parallelism in [1, 2] {
        let out = Collected::new();
        let config = kafka::source(&brokers, &name)
            .group_id(unique("group"))
            .start_from(StartFrom::Earliest)
            .bounded();
        let job = pipeline! {
            job { name: "kafka-read" }
            let orders = kafka::<Order>(config);
            orders.rebalance().map(|o| o).sink(collect(out));
        };
        let summary = job.with_parallelism(parallelism).run().unwrap();
        let mut got = out.take();
        got.sort();
        assert_eq!(got, input, "parallelism {parallelism}");
        assert_eq!(summary.records_in, 300);
        assert_eq!(summary.dead_lettered, 0);
    }
}

#[test]
fn several_topics_are_read_as_one_stream() {
    let brokers = kafka_brokers();
    let (a, b) = (topic("a", 2), topic("b", 1));
    let input = orders(20);
    produce(&a, &json(&input[..12], 2));
    produce(&b, &json(&input[12..], 1));
    let out = Collected::new();
    let config = kafka::source(&brokers, [a.as_str(), b.as_str()]).bounded();
    let summary = pipeline! { kafka::<Order>(config).sink(collect(out)); }.run().unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, input);
    assert_eq!(summary.records_in, 20);
}

#[test]
fn offsets_are_committed_to_the_group_and_a_new_run_can_start_from_them() {
    let brokers = kafka_brokers();
    let name = topic("committed", 2);
    let group = unique("group");
    produce(&name, &json(&orders(10), 2));
    let read = |start: StartFrom| {
        let out = Collected::new();
        let config = kafka::source(&brokers, &name)
            .group_id(&group)
            .start_from(start)
            .bounded();
        pipeline! { kafka::<Order>(config).sink(collect(out)); }.run().unwrap();
        let mut got: Vec<u64> = out.take().iter().map(|o| o.id).collect();
        got.sort();
        got
    };
    assert_eq!(
        read(StartFrom::Committed),
        (0..10).collect::<Vec<_>>(),
        "no commits yet: from the earliest"
    );
    assert_eq!(read(StartFrom::Committed), Vec::<u64>::new(), "all of it was committed");
    assert_eq!(read(StartFrom::Latest), Vec::<u64>::new());
    produce(&name, &json(&orders(13)[10..], 2));
    assert_eq!(read(StartFrom::Committed), [10, 11, 12]);
    assert_eq!(read(StartFrom::Earliest).len(), 13);
}

#[test]
fn strings_bytes_and_malformed_json_go_where_they_belong() {
    let brokers = kafka_brokers();
    let name = topic("mixed", 2);
    let good = orders(4);
    let mut messages = json(&good, 2);
    messages.insert(1, (0, b"{\"id\": 99, \"user\": ".to_vec()));
    messages.push((1, b"not json at all".to_vec()));
    produce(&name, &messages);

    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let out = Collected::new();
    let config = kafka::source(&brokers, &name).bounded();
    let job = pipeline! {
        let orders = kafka::<Order>(config);
        orders.sink(collect(out));
    };
    let summary = job
        .with_dead_letter(DeadLetterTarget::File(dead.display().to_string()))
        .run()
        .unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, good);
    assert_eq!(summary.dead_lettered, 2);
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let first = letters
        .iter()
        .find(|l| l["raw"] == "{\"id\": 99, \"user\": ")
        .expect("the truncated JSON is dead-lettered");
    assert_eq!(first["source"], "orders");
    assert_eq!(first["file"], format!("kafka:{name}/0"));
    assert_eq!(first["line"], 1, "the offset of the malformed message");
    assert!(first["reason"].as_str().unwrap().contains("offset 1"), "{first}");
    assert!(letters.iter().any(|l| l["raw"] == "not json at all"));

    // The same topic as text and as bytes: every message, none malformed.
    let text = Collected::new();
    let bytes = Collected::new();
    let (c1, c2) = (config_of(&brokers, &name), config_of(&brokers, &name));
    pipeline! { kafka::<String>(c1).sink(collect(text)); }.run().unwrap();
    pipeline! { kafka::<Vec<u8>>(c2).sink(collect(bytes)); }.run().unwrap();
    assert_eq!(text.len(), 6);
    assert!(text.take().contains(&"not json at all".to_string()));
    assert!(bytes.take().contains(&b"not json at all".to_vec()));
}

fn config_of(brokers: &str, topic: &str) -> kafka::SourceConfig {
    kafka::source(brokers, topic).bounded()
}

/// Starts an unbounded windowed job over `topic` (per-partition watermarks, with or without
/// an idleness timeout; a checkpoint every 300 ms; offsets committed to `group`) on its own
/// thread; window results arrive on the returned channel. The job runs until the test binary
/// exits.
fn live_window_job(
    brokers: &str,
    topic: &str,
    group: &str,
    idleness: bool,
) -> mpsc::Receiver<WindowResult<String, u64>> {
    let (tx, rx) = mpsc::channel();
    let config = kafka::source(brokers, topic).group_id(group);
    // Left behind in the system's temporary directory: the job outlives the test.
    let checkpoints = std::env::temp_dir().join(unique("fuseflow-kafka-checkpoints"));
    std::thread::spawn(move || {
        let sink = move |r| {
            let _ = tx.send(r);
        };
        let job = if idleness {
            pipeline! {
                job { name: "kafka-live", checkpoint_interval: 300ms }
                let timed = kafka::<Order>(config)
                    .timestamps(|o| o.ts)
                    .watermarks(bounded_out_of_orderness(1s))
                    .idleness(1s);
                timed
                    .key_by(|o| o.user.clone())
                    .window(tumbling(10s))
                    .drop_late_data()
                    .count()
                    .sink(for_each(sink));
            }
        } else {
            pipeline! {
                job { name: "kafka-live", checkpoint_interval: 300ms }
                let timed = kafka::<Order>(config)
                    .timestamps(|o| o.ts)
                    .watermarks(bounded_out_of_orderness(1s));
                timed
                    .key_by(|o| o.user.clone())
                    .window(tumbling(10s))
                    .drop_late_data()
                    .count()
                    .sink(for_each(sink));
            }
        };
        job.with_checkpoint_dir(checkpoints).run()
    });
    rx
}

/// A 3-partition topic whose partitions 0 and 1 get a record every 100 ms (event time one
/// second apart, 0 s to 59 s, in a thread that goes on while the test runs) and partition 2
/// none.
fn two_busy_partitions_and_an_idle_one() -> String {
    let name = topic("idle", 3);
    let messages: Vec<(i32, Vec<u8>)> = (0..60)
        .map(|i| {
            let o = Order {
                id: i,
                user: "ana".into(),
                amount: 1,
                ts: i as i64 * 1000,
            };
            ((i % 2) as i32, serde_json::to_vec(&o).unwrap())
        })
        .collect();
    let t = name.clone();
    std::thread::spawn(move || produce_paced(&t, &messages, Duration::from_millis(100)));
    name
}

#[test]
fn an_idle_partition_does_not_hold_back_the_watermark_after_the_idleness_timeout() {
    let brokers = kafka_brokers();
    let name = two_busy_partitions_and_an_idle_one();
    let group = unique("group");
    let rx = live_window_job(&brokers, &name, &group, true);
    // Once partition 2 is idle (after 1 s), partitions 0 and 1 alone move the watermark:
    // the windows fire while the records still come.
    let first = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the first window fires");
    let second = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the second window fires");
    assert_eq!((first.start, first.end, first.value), (0, 10_000, 10));
    assert_eq!((second.start, second.end, second.value), (10_000, 20_000, 10));
    // The job checkpoints every 300 ms, and commits each completed checkpoint's offsets to
    // its group (for monitoring) while it runs.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(&name, 0);
    let started = Instant::now();
    let committed = loop {
        let offsets = consumer.committed_offsets(tpl.clone(), Duration::from_secs(5)).unwrap();
        match offsets.elements()[0].offset() {
            rdkafka::Offset::Offset(o) if o > 0 => break o,
            _ if started.elapsed() > Duration::from_secs(10) => panic!("no offsets committed: {offsets:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(
        committed >= 10,
        "partition 0 was read past offset 10, committed {committed}"
    );
}

#[test]
fn without_idleness_an_empty_partition_holds_the_watermark_back() {
    let brokers = kafka_brokers();
    let name = two_busy_partitions_and_an_idle_one();
    let rx = live_window_job(&brokers, &name, &unique("group"), false);
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_err(),
        "no window may fire while partition 2 has no watermark"
    );
}

/// Set in the environment of a child process of the recovery test: the directory the
/// recovery job writes in. The test binary then runs [`recovery_job`] instead of tests.
const RECOVERY_DIR: &str = "FUSEFLOW_KAFKA_RECOVERY_DIR";

/// In a child process started by the recovery test (and only there): runs the job that is
/// killed, reading the topic `FUSEFLOW_KAFKA_RECOVERY_TOPIC`, restoring the latest checkpoint.
#[test]
fn recovery_job() {
    let Ok(dir) = std::env::var(RECOVERY_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    let topic = std::env::var("FUSEFLOW_KAFKA_RECOVERY_TOPIC").unwrap();
    let config = kafka::source(kafka_brokers(), topic).bounded();
    let job = pipeline! {
        job { name: "kafka-recovery", checkpoint_every_records: 100, checkpoint_dir: "unused" }
        let timed = kafka::<Order>(config)
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .idleness(2s);
        // 3 ms per order: a whole run takes about 2 s.
        let orders = timed.inspect(|_| std::thread::sleep(Duration::from_millis(3)));
        orders.sink(json_lines("unused/orders"));
        let totals = timed
            .key_by(|o| o.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .sum(|o| o.amount);
        totals.sink(json_lines("unused/totals"));
    };
    job.with_parallelism(2)
        .with_checkpoint_dir(dir.join("checkpoints"))
        .with_restore(RestoreFrom::Latest)
        .with_output("orders", dir.join("orders").display().to_string())
        .with_output("totals", dir.join("totals").display().to_string())
        .run()
        .unwrap();
}

#[test]
fn killed_and_restored_every_message_is_committed_exactly_once() {
    let name = topic("recovery", 3);
    let input = orders(600);
    produce(&name, &json(&input, 3));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // This test binary, running only `recovery_job`, as a process that can be killed.
    let job = || {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "recovery_job", "--nocapture", "--test-threads", "1"])
            .env(RECOVERY_DIR, dir)
            .env("FUSEFLOW_KAFKA_RECOVERY_TOPIC", &name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    // Kill it three times, each time once it has completed a new checkpoint.
    let checkpoints = dir.join("checkpoints");
    let newest = || {
        std::fs::read_dir(&checkpoints)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("_manifest.json").exists())
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_prefix("chk-")?
                            .parse::<u64>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    for _ in 0..3 {
        let before = newest();
        let mut child = job().spawn().unwrap();
        let started = Instant::now();
        while newest() <= before && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(newest() >= 3, "the killed runs completed checkpoints");
    let out = job().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<Order> = committed(&dir.join("orders"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    got.sort();
    assert_eq!(got.len(), input.len(), "orders lost or duplicated");
    assert_eq!(got, input);
    // 60 s of event time: 6 windows of 10 s, for each of the 7 users.
    let totals = committed(&dir.join("totals"));
    assert_eq!(totals.len(), 6 * 7, "{totals:?}");
}

/// Every line of the published part files of a sink directory.
fn committed(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("part-") {
            lines.extend(std::fs::read_to_string(&p).unwrap().lines().map(str::to_owned));
        }
    }
    lines
}

/// Reads `n` messages (key, value) from every partition of `topic`, from the start.
fn read_back(topic: &str, n: usize) -> Vec<(Option<String>, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("group.id", unique("reader"))
        .create()
        .unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    while got.len() < n && started.elapsed() < Duration::from_secs(20) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            got.push((text(m.key()), text(m.payload()).unwrap()));
        }
    }
    got
}

#[test]
fn the_sink_writes_keys_and_json_values_at_least_once() {
    let brokers = kafka_brokers();
    let name = topic("sink", 2);
    let input = orders(50);
    let records = input.clone();
    let config = kafka::sink(&brokers, &name).at_least_once();
    let checkpoints = tempfile::tempdir().unwrap();
    let summary = pipeline! {
        job { name: "kafka-write", checkpoint_every_records: 20, checkpoint_dir: "unused" }
        from_iter(records).sink(kafka_keyed(config, |o| o.user.clone()));
    }
    .with_checkpoint_dir(checkpoints.path())
    .run()
    .unwrap();
    assert_eq!(summary.records_out, 50);
    let mut got = read_back(&name, 50);
    got.sort();
    let mut expected: Vec<(Option<String>, String)> = input
        .iter()
        .map(|o| (Some(o.user.clone()), serde_json::to_string(o).unwrap()))
        .collect();
    expected.sort();
    assert_eq!(got, expected);

    // Strings are written as they are, without a key.
    let words_topic = topic("words", 1);
    let config = kafka::sink(&brokers, &words_topic);
    pipeline! { from_iter(vec!["a b".to_string(), "c".to_string()]).sink(kafka(config)); }
        .run()
        .unwrap();
    let got = read_back(&words_topic, 2);
    assert_eq!(got, [(None, "a b".to_string()), (None, "c".to_string())]);
}

#[test]
fn exactly_once_delivery_is_refused_with_the_reason() {
    let brokers = kafka_brokers();
    let name = topic("eos", 1);
    let config = kafka::sink(&brokers, &name).exactly_once("eos-job");
    let err = pipeline! { from_iter(vec![1u32]).sink(kafka(config)); }
        .run()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("exactly-once") && msg.contains("transactions"), "{msg}");
}

#[test]
fn a_broker_that_is_down_is_retried_then_reported_with_its_address() {
    // Nothing listens on port 1.
    let started = Instant::now();
    let config = kafka::source("127.0.0.1:1", "orders").connect_timeout(Duration::from_secs(3));
    let err = pipeline! { kafka::<Order>(config).sink(stdout()); }.run().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot reach the Kafka brokers at `127.0.0.1:1`") && msg.contains("times"),
        "{msg}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried before failing");

    let config = kafka::sink("127.0.0.1:1", "out").connect_timeout(Duration::from_secs(2));
    let err = pipeline! { from_iter(vec![1u32]).sink(kafka(config)); }
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
