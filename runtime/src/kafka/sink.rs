//! `.sink(kafka(config))` and `.sink(kafka_keyed(config, |r| key))`: the Kafka sink. Values
//! (and keys) are `String` text, `Vec<u8>` bytes or JSON; records go to the partition of
//! their key (librdkafka's default partitioner), or spread over the partitions without one.
//!
//! At least once: the producer sends in the background; at each checkpoint barrier and at
//! the end of input the sink waits until the broker has acknowledged everything sent, and a
//! delivery that fails fails the job. A job restored from a checkpoint sends again what was
//! sent after it, so consumers may see duplicates. Exactly-once (Kafka transactions) is
//! refused when the job starts: see [`Delivery::ExactlyOnce`](super::Delivery).

use super::{Delivery, SinkConfig};
use crate::checkpoint::Barrier;
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use std::marker::PhantomData;

/// The stand-in for "no key function": records are written without a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKey;

/// Computes a record's key, if the sink has a key function.
trait KeyOf<T> {
    fn key(&mut self, record: &T) -> Result<Option<Vec<u8>>, String>;
}

impl<T> KeyOf<T> for NoKey {
    #[inline]
    fn key(&mut self, _record: &T) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// A key function, with the key type it returns.
#[derive(Debug, Clone)]
pub struct KeyFn<F, K> {
    f: F,
    _key: PhantomData<fn() -> K>,
}

impl<T, K: Serialize + 'static, F: FnMut(&T) -> K> KeyOf<T> for KeyFn<F, K> {
    #[inline]
    fn key(&mut self, record: &T) -> Result<Option<Vec<u8>>, String> {
        super::format::encode(&(self.f)(record)).map(Some)
    }
}

/// The Kafka sink behind `kafka(config)` and `kafka_keyed(config, key)` (see the
/// [module docs](crate::kafka)).
pub struct KafkaSink<T, K = NoKey> {
    config: SinkConfig,
    key: K,
    written: u64,
    ctx: Option<TaskContext>,
    #[cfg(feature = "kafka")]
    producer: Option<producer::Producer>,
    _ty: PhantomData<fn(T)>,
}

impl<T, K: Clone> Clone for KafkaSink<T, K> {
    fn clone(&self) -> Self {
        KafkaSink {
            config: self.config.clone(),
            key: self.key.clone(),
            written: 0,
            ctx: None,
            #[cfg(feature = "kafka")]
            producer: None,
            _ty: PhantomData,
        }
    }
}

impl<T, K> std::fmt::Debug for KafkaSink<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").field("config", &self.config).finish()
    }
}

/// A sink writing each record of type `T` as the value of a message without key.
pub fn kafka<T: Serialize + 'static>(_input: Ty<T>, config: SinkConfig) -> KafkaSink<T> {
    KafkaSink {
        config,
        key: NoKey,
        written: 0,
        ctx: None,
        #[cfg(feature = "kafka")]
        producer: None,
        _ty: PhantomData,
    }
}

/// A sink writing each record of type `T` as the value of a message whose key is
/// `key(&record)`.
pub fn kafka_keyed<T: Serialize + 'static, K: Serialize + 'static, F: FnMut(&T) -> K>(
    _input: Ty<T>,
    config: SinkConfig,
    key: F,
) -> KafkaSink<T, KeyFn<F, K>> {
    KafkaSink {
        config,
        key: KeyFn {
            f: key,
            _key: PhantomData,
        },
        written: 0,
        ctx: None,
        #[cfg(feature = "kafka")]
        producer: None,
        _ty: PhantomData,
    }
}

impl<T, K> KafkaSink<T, K> {
    fn fail(&self, error: String) {
        if let Some(ctx) = &self.ctx {
            ctx.fail(JobError::Other(format!(
                "Kafka sink writing to `{}`: {error}",
                self.config.topic
            )));
        }
    }

    /// Waits until the broker has acknowledged every message sent.
    fn wait_for_acks(&mut self) {
        #[cfg(feature = "kafka")]
        if let Some(p) = &self.producer
            && let Err(e) = p.flush()
        {
            self.fail(e);
        }
    }
}

#[allow(private_bounds)]
impl<T: Serialize + 'static, K: KeyOf<T>> Collector<T> for KafkaSink<T, K> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        if let Delivery::ExactlyOnce { .. } = self.config.delivery {
            return Err(JobError::Other(format!(
                "Kafka sink writing to `{}`: exactly-once delivery is not available: it needs Kafka transactions, \
                 and fuseflow could not verify them against the broker it is tested with (tansu accepts \
                 transactions but shows aborted records to read_committed consumers); use `.at_least_once()`",
                self.config.topic
            )));
        }
        #[cfg(feature = "kafka")]
        {
            self.producer = Some(producer::Producer::open(&self.config)?);
            Ok(())
        }
        #[cfg(not(feature = "kafka"))]
        {
            Err(super::feature_missing(&format!(
                "the sink writing to Kafka topic `{}`",
                self.config.topic
            )))
        }
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        let value = match super::format::encode(&record) {
            Ok(v) => v,
            Err(e) => return self.fail(format!("cannot serialize a record: {e}")),
        };
        let key = match self.key.key(&record) {
            Ok(k) => k,
            Err(e) => return self.fail(format!("cannot serialize a key: {e}")),
        };
        #[cfg(feature = "kafka")]
        if let Some(p) = &self.producer {
            if let Err(e) = p.send(&self.config.topic, key.as_deref(), &value) {
                return self.fail(e);
            }
            self.written += 1;
        }
        #[cfg(not(feature = "kafka"))]
        let _ = (key, value);
    }

    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, _barrier: Barrier) {
        self.wait_for_acks();
    }

    fn end(&mut self) {
        self.wait_for_acks();
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, self.written);
        }
    }
}

#[cfg(feature = "kafka")]
pub(crate) mod producer {
    use super::SinkConfig;
    use crate::JobError;
    use crate::kafka::client;
    use rdkafka::ClientContext;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::message::DeliveryResult;
    use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// How long the sink waits for the broker's acknowledgements at a barrier or the end.
    const ACK_TIMEOUT: Duration = Duration::from_secs(60);

    /// Remembers the first delivery that failed.
    #[derive(Default)]
    struct Deliveries {
        failed: Arc<Mutex<Option<String>>>,
    }

    impl ClientContext for Deliveries {}

    impl ProducerContext for Deliveries {
        type DeliveryOpaque = ();
        fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
            if let Err((e, _)) = result {
                let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                f.get_or_insert_with(|| format!("a message was not delivered: {e}"));
            }
        }
    }

    /// A producer polled by its own thread.
    pub(crate) struct Producer {
        inner: ThreadedProducer<Deliveries>,
        failed: Arc<Mutex<Option<String>>>,
    }

    impl Producer {
        /// Connects (retrying while the brokers cannot be reached) and checks the topic.
        pub(crate) fn open(config: &SinkConfig) -> Result<Self, JobError> {
            let what = format!("Kafka sink writing to `{}`", config.topic);
            let deliveries = Deliveries::default();
            let failed = Arc::clone(&deliveries.failed);
            let inner: ThreadedProducer<Deliveries> = client::config(&config.brokers, &config.properties)
                .set("enable.idempotence", "false")
                .create_with_context(deliveries)
                .map_err(|e| JobError::Other(format!("{what}: cannot create the Kafka producer: {e}")))?;
            let topics = [config.topic.clone()];
            let md = client::metadata(
                |t, d| inner.client().fetch_metadata(t, d),
                &config.brokers,
                &topics,
                config.connect_timeout,
                &what,
            )?;
            if md
                .topics()
                .iter()
                .find(|t| t.name() == config.topic)
                .is_none_or(|t| t.error().is_some() || t.partitions().is_empty())
            {
                return Err(JobError::Other(format!(
                    "{what}: topic `{}` does not exist on the brokers at `{}`",
                    config.topic, config.brokers
                )));
            }
            Ok(Producer { inner, failed })
        }

        /// Queues one message, waiting while the producer's queue is full.
        pub(crate) fn send(&self, topic: &str, key: Option<&[u8]>, value: &[u8]) -> Result<(), String> {
            self.send_to(topic, None, key, value)
        }

        /// Queues one message for `partition` (else the partitioner's choice), waiting while
        /// the producer's queue is full.
        pub(crate) fn send_to(
            &self,
            topic: &str,
            partition: Option<i32>,
            key: Option<&[u8]>,
            value: &[u8],
        ) -> Result<(), String> {
            loop {
                let mut record = BaseRecord::to(topic).payload(value);
                if let Some(p) = partition {
                    record = record.partition(p);
                }
                if let Some(k) = key {
                    record = record.key(k);
                }
                match self.inner.send(record) {
                    Ok(()) => return Ok(()),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(format!("cannot send a message: {e}")),
                }
            }
        }

        /// Waits for every acknowledgement; the first failed delivery, if any.
        pub(crate) fn flush(&self) -> Result<(), String> {
            self.inner
                .flush(ACK_TIMEOUT)
                .map_err(|e| format!("the broker did not acknowledge every message within {ACK_TIMEOUT:?}: {e}"))?;
            match self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }
}
