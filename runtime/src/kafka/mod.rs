//! Kafka: a source that reads topics into any serde type with per-partition watermarks and
//! offsets kept in checkpoints, and a sink with at-least-once or exactly-once delivery.
//!
//! ```no_run
//! # #[derive(serde::Deserialize)] struct Order { ts: i64 }
//! use fuseflow_runtime::kafka::{self, StartFrom};
//! // What `kafka::<Order>(…)` in `pipeline!` reads: every partition of `orders`, from the
//! // earliest offset, up to the end offsets seen at start.
//! let orders = kafka::source("127.0.0.1:9092", "orders")
//!     .group_id("orders-job")
//!     .start_from(StartFrom::Earliest)
//!     .bounded();
//! // What `.sink(kafka(…))` writes: JSON values, in Kafka transactions committed with each
//! // checkpoint.
//! let totals = kafka::sink("127.0.0.1:9092", "totals").exactly_once("orders-job");
//! ```
//!
//! The concepts, in the order a record meets them:
//!
//! - **Partitions.** One job reads all the partitions of its topics: the source *assigns*
//!   them to itself (it does not join a consumer group, so there is no rebalancing), and
//!   records go on to the parallel workers through the job's exchanges. A job with
//!   `scale_out: kafka` instead joins its group and reads the partitions the group gives
//!   its process ([`scale_out`](crate::scale_out)).
//! - **Start and end.** Reading starts at the offsets of the restored checkpoint, or else at
//!   [`StartFrom`]; a [`bounded`](SourceConfig::bounded) source stops at the end offsets it
//!   saw when it started (Flink's `setBounded(OffsetsInitializer.latest())`), so a job ends.
//! - **Formats.** A record type of `String` reads each value as UTF-8 text, `Vec<u8>` as raw
//!   bytes, anything else as JSON (`T: DeserializeOwned`). A value that does not decode goes
//!   to the dead-letter output with its topic, partition, offset and the reason.
//! - **Event time.** `.timestamps(…).watermarks(…)` right after a Kafka source run per
//!   partition inside the source ([`watermarks`]); `.idleness(d)` excludes a partition that
//!   has been silent for `d` from the minimum.
//! - **Checkpoints.** The source's checkpoint position is the next offset (and largest
//!   timestamp) of every partition; a restored job resumes there, whatever the broker's
//!   committed offsets say. Offsets are also committed to the group (if one is set) when a
//!   checkpoint completes, for monitoring.
//! - **Delivery.** The sink writes at least once (it flushes at each barrier and at the end)
//!   or exactly once, in one Kafka transaction per checkpoint, committed when the checkpoint
//!   completes ([`Delivery`]).
//! - **Brokers that are down** at start are retried with exponential back-off for
//!   [`connect_timeout`](SourceConfig::connect_timeout), each retry logged; then the job fails
//!   naming the bootstrap servers.
//!
//! Without the runtime's `kafka` feature the types exist, and a job that uses them fails at
//! start with an error naming the feature.

#[cfg(feature = "kafka")]
pub(crate) mod client;
pub(crate) mod format;
#[cfg(feature = "kafka")]
mod group;
#[cfg(feature = "kafka")]
mod reader;
pub(crate) mod sink;
pub(crate) mod source;
pub mod watermarks;

pub use format::is_raw;
pub use sink::{KafkaSink, KeyFn, NoKey};
pub use source::{KafkaPosition, KafkaSource, NoTimestamps, PartitionPosition};

use std::time::Duration;

/// The time a source or sink keeps retrying brokers that cannot be reached, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The topics a source reads: one (`"orders"`) or several (`["a", "b"]`, a `Vec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics(pub Vec<String>);

impl From<&str> for Topics {
    fn from(t: &str) -> Self {
        Topics(vec![t.to_owned()])
    }
}

impl From<String> for Topics {
    fn from(t: String) -> Self {
        Topics(vec![t])
    }
}

impl From<&String> for Topics {
    fn from(t: &String) -> Self {
        Topics(vec![t.clone()])
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Topics {
    fn from(t: [S; N]) -> Self {
        Topics(t.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String>> From<Vec<S>> for Topics {
    fn from(t: Vec<S>) -> Self {
        Topics(t.into_iter().map(Into::into).collect())
    }
}

/// Where a source starts reading a partition that the restored checkpoint (if any) does not
/// cover (Flink's `OffsetsInitializer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The oldest offset still on the broker (the default).
    #[default]
    Earliest,
    /// The end of the partition at start: only records produced afterwards.
    Latest,
    /// The offsets committed by the source's group, or the earliest for a partition without
    /// one (needs a [`group_id`](SourceConfig::group_id)).
    Committed,
}

/// What the source reads: built by [`source`], the argument of `kafka::<T>(…)` in
/// `pipeline!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// The bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The topics read; every partition of each.
    pub topics: Vec<String>,
    /// The consumer group that offsets are committed to (and read from with
    /// [`StartFrom::Committed`]); none by default.
    pub group_id: Option<String>,
    /// Where to start without a restored position.
    pub start: StartFrom,
    /// Stop at the end offsets seen at start.
    pub bounded: bool,
    /// How long to retry brokers that cannot be reached at start.
    pub connect_timeout: Duration,
    /// Further librdkafka consumer properties (`("fetch.min.bytes", "1")`).
    pub properties: Vec<(String, String)>,
}

/// A source configuration reading every partition of `topics` from `brokers`, from the
/// earliest offsets, without end.
pub fn source(brokers: impl Into<String>, topics: impl Into<Topics>) -> SourceConfig {
    SourceConfig {
        brokers: brokers.into(),
        topics: topics.into().0,
        group_id: None,
        start: StartFrom::Earliest,
        bounded: false,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        properties: Vec::new(),
    }
}

impl SourceConfig {
    /// Commits offsets to consumer group `id` when checkpoints complete (and at the end of a
    /// bounded read), and reads them with [`StartFrom::Committed`].
    pub fn group_id(mut self, id: impl Into<String>) -> Self {
        self.group_id = Some(id.into());
        self
    }

    /// Where to start without a restored position.
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// Stops at the end offsets seen at start (the high watermarks, or for transactional
    /// topics the last stable offsets), so the job ends.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }

    /// How long to retry brokers that cannot be reached at start (60 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets a librdkafka consumer property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}

/// A Kafka sink's delivery guarantee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Every record is written at least once: the sink waits for the broker's
    /// acknowledgements at each checkpoint barrier and at the end of input, so a restored
    /// job may write again what it wrote after its last checkpoint (the default).
    #[default]
    AtLeastOnce,
    /// Records are written in Kafka transactions, one per checkpoint and parallel sink
    /// instance, committed when the checkpoint completes; consumers reading with
    /// `isolation.level=read_committed` see each record once. The transactional ids are
    /// `<prefix>-<subtask>-<n>`. Needs checkpoints and a broker that supports transactions.
    ExactlyOnce {
        /// The prefix of the transactional ids, unique per job.
        transactional_id_prefix: String,
    },
}

/// What the sink writes to: built by [`sink`], the argument of `.sink(kafka(…))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// The bootstrap servers.
    pub brokers: String,
    /// The topic written to.
    pub topic: String,
    /// The delivery guarantee.
    pub delivery: Delivery,
    /// How long to retry brokers that cannot be reached at start.
    pub connect_timeout: Duration,
    /// Further librdkafka producer properties.
    pub properties: Vec<(String, String)>,
}

/// A sink configuration writing to `topic` on `brokers`, at least once.
pub fn sink(brokers: impl Into<String>, topic: impl Into<String>) -> SinkConfig {
    SinkConfig {
        brokers: brokers.into(),
        topic: topic.into(),
        delivery: Delivery::AtLeastOnce,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        properties: Vec::new(),
    }
}

impl SinkConfig {
    /// At-least-once delivery (the default).
    pub fn at_least_once(mut self) -> Self {
        self.delivery = Delivery::AtLeastOnce;
        self
    }

    /// Exactly-once delivery through Kafka transactions, with transactional ids starting
    /// with `transactional_id_prefix` (unique per job).
    pub fn exactly_once(mut self, transactional_id_prefix: impl Into<String>) -> Self {
        self.delivery = Delivery::ExactlyOnce {
            transactional_id_prefix: transactional_id_prefix.into(),
        };
        self
    }

    /// How long to retry brokers that cannot be reached at start (60 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets a librdkafka producer property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}

/// The error of a job that uses Kafka in a runtime built without the `kafka` feature.
#[cfg(not(feature = "kafka"))]
pub(crate) fn feature_missing(what: &str) -> crate::JobError {
    crate::JobError::Other(format!(
        "{what} needs Kafka support, which this build lacks: enable the `kafka` feature of fuseflow \
         (`fuseflow = {{ version = \"…\", features = [\"kafka\"] }}`)"
    ))
}

#[cfg(all(test, not(feature = "kafka")))]
mod tests {
    use crate::{Collected, Job, JobSpec, sink};

    #[test]
    fn without_the_feature_source_and_sink_fail_naming_it() {
        let mut job = Job::new(JobSpec::default());
        let src = super::source::kafka::<String>(super::source("127.0.0.1:9092", "t"));
        let out = Collected::new();
        job.add_source("orders", src, sink::collect(crate::Ty::of(), &out));
        let err = job.run().unwrap_err().to_string();
        assert!(
            err.contains("source `orders`") && err.contains("`kafka` feature"),
            "{err}"
        );

        let mut job = Job::new(JobSpec::default());
        let sink = super::sink::kafka(crate::Ty::of(), super::sink("127.0.0.1:9092", "t"));
        job.add_source("numbers", crate::source::from_iter(vec![1u32]), sink);
        let err = job.run().unwrap_err().to_string();
        assert!(err.contains("topic `t`") && err.contains("`kafka` feature"), "{err}");
    }
}
