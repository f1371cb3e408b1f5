//! Orders from a Kafka topic: every order copied to JSON-lines part files, and per-user
//! totals in 10-second event-time windows, with watermarks generated per partition (a
//! partition silent for 2 s stops holding them back). The job reads the topic up to the end
//! offsets it sees at start, takes a checkpoint every 100 orders (the partitions' offsets are
//! in each), and can be killed and restored: the committed output then holds every order
//! exactly once.
//!
//! ```bash
//! scripts/services.sh start kafka
//! FUSEFLOW_KAFKA_BROKERS=127.0.0.1:19092 ORDERS_TOPIC=orders cargo run --example kafka
//! FUSEFLOW_KAFKA_BROKERS=127.0.0.1:19092 ORDERS_TOPIC=orders cargo run --example kafka -- --restore latest
//! ```
//!
//! `ORDERS_THROTTLE_US` slows each order down by that many microseconds (the recovery test
//! uses it to kill the job half-way).

use fuseflow::{kafka, pipeline};
use std::process::ExitCode;
use std::time::Duration;

/// One order, as JSON in the topic.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Order {
    id: u64,
    user: String,
    amount: u64,
    ts: i64,
}

fn main() -> ExitCode {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
    let brokers = env("FUSEFLOW_KAFKA_BROKERS", "127.0.0.1:19092");
    let topic = env("ORDERS_TOPIC", "orders");
    let throttle = Duration::from_micros(env("ORDERS_THROTTLE_US", "0").parse().unwrap_or(0));
    fuseflow::main(pipeline! {
        job {
            name: "kafka-orders",
            checkpoint_every_records: 100,
            checkpoint_dir: "out/kafka/checkpoints",
        }
        let timed = kafka::<Order>(kafka::source(brokers, topic).bounded())
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .idleness(2s);
        let orders = timed.inspect(move |_| std::thread::sleep(throttle));
        orders.sink(json_lines("out/kafka/orders"));
        let totals = timed
            .key_by(|o| o.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .sum(|o| o.amount);
        totals.sink(json_lines("out/kafka/totals"));
    })
}
