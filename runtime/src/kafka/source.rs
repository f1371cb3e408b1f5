//! `kafka::<T>(config)`: the Kafka source. It assigns itself every partition of its topics,
//! resumes from the offsets in the restored checkpoint (or [`StartFrom`]), decodes each value
//! into `T` (malformed values are dead-lettered), generates watermarks per partition when the
//! pipeline fuses `.timestamps(…).watermarks(…)` into it, and records every partition's next
//! offset in each checkpoint.

use super::SourceConfig;
use super::watermarks::PartitionTime;
use crate::ops::{Timestamps, Watermarks};
use crate::source::Source;
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::time::Duration;

/// The stand-in for "no timestamp extractor": records carry `NO_TIMESTAMP`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTimestamps;

/// The Kafka source behind `kafka::<T>(config)` (see the [module docs](super)).
pub struct KafkaSource<T, F = NoTimestamps> {
    config: SourceConfig,
    /// The timestamp extractor and watermark generator fused into the source, if any.
    event_time: Option<EventTime<F>>,
    _ty: PhantomData<fn() -> T>,
}

/// Per-partition event time: the timestamp extractor, the out-of-orderness bound and the
/// idleness timeout.
#[derive(Clone)]
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(super) struct EventTime<F> {
    pub(super) timestamp: F,
    pub(super) bound: i64,
    pub(super) idleness: Option<Duration>,
}

impl<T, F: Clone> Clone for KafkaSource<T, F> {
    fn clone(&self) -> Self {
        KafkaSource {
            config: self.config.clone(),
            event_time: self.event_time.clone(),
            _ty: PhantomData,
        }
    }
}

impl<T, F> std::fmt::Debug for KafkaSource<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("config", &self.config)
            .field("event_time", &self.event_time.as_ref().map(|e| (e.bound, e.idleness)))
            .finish()
    }
}

/// A source reading `config`'s topics into records of type `T` (`String`: text, `Vec<u8>`:
/// raw bytes, any other type: JSON).
pub fn kafka<T: DeserializeOwned + 'static>(config: super::SourceConfig) -> KafkaSource<T> {
    KafkaSource {
        config,
        event_time: None,
        _ty: PhantomData,
    }
}

impl<T> KafkaSource<T> {
    /// Takes over the `timestamps` and `watermarks` operators that follow the source, so
    /// that watermarks are generated per partition and merged as their minimum, excluding
    /// partitions idle for `idleness_ms` (what `pipeline!` generates for
    /// `kafka::<T>(…).timestamps(f).watermarks(s)[.idleness(d)]`).
    pub fn with_event_time<F: FnMut(&T) -> Timestamp>(
        self,
        timestamps: Timestamps<F>,
        watermarks: &Watermarks,
        idleness_ms: Option<u64>,
    ) -> KafkaSource<T, F> {
        KafkaSource {
            config: self.config,
            event_time: Some(EventTime {
                timestamp: timestamps.into_extractor(),
                bound: watermarks.bound_ms(),
                idleness: idleness_ms.map(Duration::from_millis),
            }),
            _ty: PhantomData,
        }
    }
}

impl<T, F> KafkaSource<T, F> {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty(&self) -> Ty<T> {
        Ty::of()
    }

    /// The source's configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }
}

/// Where a partition resumes: its next offset and its event time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPosition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the next record to read.
    pub offset: i64,
    /// The partition's event time (with per-partition watermarks).
    pub time: PartitionTime,
}

/// A Kafka source's checkpoint position: every partition's next offset, and the watermark
/// emitted so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPosition {
    /// One entry per assigned partition.
    pub partitions: Vec<PartitionPosition>,
    /// The merged watermark emitted before the position.
    pub watermark: Timestamp,
}

/// The extractor is a plain function pointer type when there is none, so that the source has
/// one `run` for both cases.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(super) trait Extract<T> {
    fn extract(&mut self, record: &T) -> Timestamp;
}

impl<T, F: FnMut(&T) -> Timestamp> Extract<T> for F {
    #[inline]
    fn extract(&mut self, record: &T) -> Timestamp {
        self(record)
    }
}

impl<T> Extract<T> for NoTimestamps {
    #[inline]
    fn extract(&mut self, _record: &T) -> Timestamp {
        crate::NO_TIMESTAMP
    }
}

#[allow(private_bounds)]
impl<T: DeserializeOwned + 'static, F: Extract<T>> Source for KafkaSource<T, F> {
    type Item = T;

    fn kafka_endpoint(&self) -> Option<crate::scale_out::KafkaEndpoint> {
        Some(crate::scale_out::KafkaEndpoint {
            brokers: self.config.brokers.clone(),
            group_id: self.config.group_id.clone(),
            properties: self.config.properties.clone(),
            connect_timeout: self.config.connect_timeout,
        })
    }

    fn run<C: Collector<T>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        #[cfg(feature = "kafka")]
        {
            match ctx.scale_out() {
                Some(plan) => super::group::run(self.config, self.event_time, name, out, ctx, plan),
                None => super::reader::run(self.config, self.event_time, name, out, ctx),
            }
        }
        #[cfg(not(feature = "kafka"))]
        {
            let _ = (out, ctx);
            Err(super::feature_missing(&format!("source `{name}`")))
        }
    }
}
