//! The internal topic of a scaled-out job: created, with one partition per key group range,
//! by whichever process needs it first, and checked by every other.

use super::{KafkaEndpoint, ScaleOutPlan};
use crate::JobError;
use crate::kafka::client;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::sync::Arc;
use std::time::Duration;

/// Creates the internal topic with one partition per key group range, unless it exists;
/// fails if it exists with another number of partitions.
pub(super) fn ensure(plan: &ScaleOutPlan, endpoint: &KafkaEndpoint) -> Result<(), JobError> {
    let topic = &plan.topic();
    let what = format!("internal topic `{topic}`");
    let err = |e: String| JobError::Other(format!("{what}: {e}"));
    let admin: AdminClient<DefaultClientContext> = client::config(&endpoint.brokers, &endpoint.properties)
        .create()
        .map_err(|e| err(format!("cannot create the Kafka admin client: {e}")))?;
    // Brokers that cannot be reached yet are retried with back-off, as by the source.
    client::metadata(
        |t, d| admin.inner().fetch_metadata(t, d),
        &endpoint.brokers,
        &[],
        endpoint.connect_timeout,
        &what,
    )?;
    let n = plan.subtasks() as i32;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = block_on(admin.create_topics(&[NewTopic::new(topic, n, TopicReplication::Fixed(1))], &options))
        .map_err(|e| err(format!("cannot create it: {e}")))?;
    match created.first() {
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {}
        Some(Err((_, code))) => return Err(err(format!("cannot create it: {code}"))),
        _ => {
            tracing::info!("created internal topic `{topic}` with {n} partitions");
            return Ok(());
        }
    }
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| err(format!("cannot read its metadata: {e}")))?;
    let have = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    if have != n as usize {
        return Err(err(format!(
            "it has {have} partitions, but this job runs {n} key group ranges (its `parallelism`): every \
             process of a scaled-out job must run with the same parallelism it was first started with"
        )));
    }
    Ok(())
}

/// Runs `future` to completion on this thread (the admin client's futures are completed by
/// librdkafka's own threads).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}
