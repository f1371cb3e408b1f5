//! Kafka helpers of the connector tests: topics on the test broker and producing to them
//! (the broker is the one `scripts/services.sh` starts; see [`super::services`]).

use super::services::{kafka_brokers, unique};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::Duration;

/// Runs a future of the admin client to completion (it is driven by librdkafka's threads).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = Waker::from(std::sync::Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Creates a fresh topic with `partitions` partitions; returns its name.
pub fn topic(prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    create_topic(&name, partitions);
    name
}

/// Creates the topic `name` with `partitions` partitions.
pub fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .unwrap();
    let created = block_on(admin.create_topics(
        &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))
    .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

/// Produces `(partition, value)` messages in order. One message per batch: tansu 0.6
/// reports a partition's end offset as the first offset of its last batch plus one, so a
/// bounded read would stop short of a batch of several messages.
pub fn produce(topic: &str, messages: &[(i32, Vec<u8>)]) {
    produce_paced(topic, messages, Duration::ZERO);
}

/// Produces `(partition, value)` messages in order, `pause` apart.
pub fn produce_paced(topic: &str, messages: &[(i32, Vec<u8>)], pause: Duration) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    for (partition, value) in messages {
        loop {
            match p.send(BaseRecord::<(), _>::to(topic).partition(*partition).payload(value)) {
                Ok(()) => break,
                Err(_) => {
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        p.poll(Duration::ZERO);
        if !pause.is_zero() {
            p.flush(Duration::from_secs(30)).unwrap();
            std::thread::sleep(pause);
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
}
