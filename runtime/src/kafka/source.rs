//! `kafka::<T>(config)`: the Kafka source. It assigns itself every partition of its topics,
//! resumes from the offsets in the restored checkpoint (or [`StartFrom`]), decodes each value
//! into `T` (malformed values are dead-lettered), generates watermarks per partition when the
//! pipeline fuses `.timestamps(…).watermarks(…)` into it, and records every partition's next
//! offset in each checkpoint.

use super::SourceConfig;
#[cfg(feature = "kafka")]
use super::StartFrom;
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
struct EventTime<F> {
    timestamp: F,
    bound: i64,
    idleness: Option<Duration>,
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
trait Extract<T> {
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

    fn run<C: Collector<T>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        #[cfg(feature = "kafka")]
        {
            reader::run(self, name, out, ctx)
        }
        #[cfg(not(feature = "kafka"))]
        {
            let _ = (out, ctx);
            Err(super::feature_missing(&format!("source `{name}`")))
        }
    }
}

#[cfg(feature = "kafka")]
mod reader {
    use super::*;
    use crate::checkpoint::{CheckpointListener, SourceCheckpoints};
    use crate::kafka::client;
    use crate::kafka::watermarks::PartitionWatermarks;
    use crate::{DeadLetter, MIN_WATERMARK};
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::{Message, Offset, TopicPartitionList};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    /// How long one poll waits for a record when none is buffered.
    const POLL: Duration = Duration::from_millis(100);

    /// Hears which checkpoint completed last, so the source commits its offsets to the group.
    struct Completed(AtomicU64);

    impl CheckpointListener for Completed {
        fn checkpoint_complete(&self, id: u64) -> Result<(), JobError> {
            self.0.fetch_max(id, Ordering::Relaxed);
            Ok(())
        }
    }

    struct Part {
        topic: String,
        partition: i32,
        /// The next offset to read.
        next: i64,
        /// The end of a bounded read.
        end: Option<i64>,
        finished: bool,
    }

    pub(super) fn run<T: DeserializeOwned + 'static, F: Extract<T>, C: Collector<T>>(
        src: KafkaSource<T, F>,
        name: &'static str,
        out: &mut C,
        ctx: &TaskContext,
    ) -> Result<(), JobError> {
        let cfg = src.config;
        let what = format!("Kafka source `{name}`");
        if cfg.topics.is_empty() {
            return Err(JobError::Other(format!("{what} names no topic")));
        }
        let mut cps = SourceCheckpoints::new(ctx, name);
        let group = cfg.group_id.clone();
        if cfg.start == StartFrom::Committed && group.is_none() {
            return Err(JobError::Other(format!(
                "{what} starts from the committed offsets of its group, but has none: add `.group_id(\"…\")`"
            )));
        }
        let mut client_config = client::config(&cfg.brokers, &cfg.properties);
        client_config
            .set("group.id", group.as_deref().unwrap_or("fuseflow"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer = client_config
            .create()
            .map_err(|e| JobError::Other(format!("{what}: cannot create the Kafka consumer: {e}")))?;
        let md = client::metadata(
            |t, d| consumer.fetch_metadata(t, d),
            &cfg.brokers,
            &cfg.topics,
            cfg.connect_timeout,
            &what,
        )?;

        // Every partition of every topic, in topic order then partition order.
        let mut parts = Vec::new();
        for topic in &cfg.topics {
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Err(JobError::Other(format!(
                    "{what}: topic `{topic}` does not exist on the brokers at `{}`",
                    cfg.brokers
                )));
            };
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(JobError::Other(format!(
                    "{what}: topic `{topic}` does not exist on the brokers at `{}` (or has no partitions)",
                    cfg.brokers
                )));
            }
            let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            for partition in ids {
                parts.push(Part {
                    topic: topic.clone(),
                    partition,
                    next: 0,
                    end: None,
                    finished: false,
                });
            }
        }

        let restored: Option<KafkaPosition> = cps.restored()?;
        let now = Instant::now();
        let mut wms = src
            .event_time
            .as_ref()
            .map(|e| PartitionWatermarks::new(parts.len(), e.bound, e.idleness, now));
        let fetch = |p: &Part| {
            consumer
                .fetch_watermarks(&p.topic, p.partition, Duration::from_secs(10))
                .map_err(|e| {
                    JobError::Other(format!(
                        "{what}: cannot read the offsets of `{}` partition {}: {e}",
                        p.topic, p.partition
                    ))
                })
        };
        let committed = match (cfg.start, &restored) {
            (StartFrom::Committed, None) => {
                let mut tpl = TopicPartitionList::new();
                for p in &parts {
                    tpl.add_partition(&p.topic, p.partition);
                }
                Some(consumer.committed_offsets(tpl, Duration::from_secs(10)).map_err(|e| {
                    JobError::Other(format!("{what}: cannot read the committed offsets of its group: {e}"))
                })?)
            }
            _ => None,
        };
        let mut times = vec![PartitionTime::default(); parts.len()];
        for (i, p) in parts.iter_mut().enumerate() {
            let (low, high) = fetch(p)?;
            let from_checkpoint = restored.as_ref().and_then(|r| {
                r.partitions
                    .iter()
                    .find(|q| q.topic == p.topic && q.partition == p.partition)
            });
            p.next = match from_checkpoint {
                Some(q) => {
                    times[i] = q.time;
                    q.offset
                }
                // A partition the checkpoint does not know (a new one) starts at the earliest.
                None if restored.is_some() => low,
                None => match cfg.start {
                    StartFrom::Earliest => low,
                    StartFrom::Latest => high,
                    StartFrom::Committed => committed
                        .as_ref()
                        .and_then(|c| c.find_partition(&p.topic, p.partition))
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        })
                        .unwrap_or(low),
                },
            };
            if cfg.bounded {
                p.end = Some(high);
            }
        }
        if let (Some(w), Some(r)) = (wms.as_mut(), &restored) {
            w.restore(&times, r.watermark);
        }
        let mut tpl = TopicPartitionList::new();
        for p in &parts {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next))
                .map_err(|e| JobError::Other(format!("{what}: {e}")))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| JobError::Other(format!("{what}: cannot assign the partitions: {e}")))?;
        tracing::info!(
            "{what}: reading {} partition(s) of {} from `{}`{}",
            parts.len(),
            cfg.topics.join(", "),
            cfg.brokers,
            if cfg.bounded {
                ", up to the end offsets at start"
            } else {
                ""
            }
        );

        let completed = Arc::new(Completed(AtomicU64::new(0)));
        if let (Some(c), Some(_)) = (ctx.checkpoints(), &group) {
            c.add_listener(completed.clone());
        }
        // The offsets recorded with each checkpoint not yet known to be complete.
        let mut pending: Vec<(u64, Vec<(usize, i64)>)> = Vec::new();
        let mut committed_id = 0u64;
        let commit = |offsets: &[(usize, i64)], parts: &[Part], mode: CommitMode| {
            let mut tpl = TopicPartitionList::new();
            for &(i, o) in offsets {
                let _ = tpl.add_partition_offset(&parts[i].topic, parts[i].partition, Offset::Offset(o));
            }
            if let Err(e) = consumer.commit(&tpl, mode) {
                tracing::warn!("{what}: cannot commit offsets to the group (they are kept in checkpoints): {e}");
            }
        };

        let mut extractor = src.event_time.map(|e| e.timestamp);
        let index = |topic: &str, partition: i32, parts: &[Part]| {
            parts.iter().position(|p| p.partition == partition && p.topic == topic)
        };
        let mut read = 0u64;
        let mut open = parts
            .iter_mut()
            .filter(|p| p.end.is_some_and(|e| p.next >= e))
            .fold(0, |n, p| {
                p.finished = true;
                n + 1
            });
        open = parts.len() - open;
        if let Some(w) = wms.as_mut() {
            for (i, p) in parts.iter().enumerate() {
                if p.finished
                    && let Some(wm) = w.finish(i)
                {
                    out.watermark(wm);
                }
            }
        }
        let position = |parts: &[Part], wms: &Option<PartitionWatermarks>| KafkaPosition {
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionPosition {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset: p.next,
                    time: wms.as_ref().map(|w| w.times()[i]).unwrap_or_default(),
                })
                .collect(),
            watermark: wms.as_ref().map_or(MIN_WATERMARK, |w| w.emitted()),
        };
        let mut stop = false;
        while open > 0 && !stop {
            // A record already fetched is taken at once; otherwise what is buffered goes on
            // (a live source), then the source waits a little for more.
            let msg = match consumer.poll(Duration::ZERO) {
                Some(m) => m,
                None => {
                    out.flush();
                    match consumer.poll(POLL) {
                        Some(m) => m,
                        None => {
                            // Nothing arrived for a while: idle partitions, checkpoints by time.
                            if let Some(w) = wms.as_mut()
                                && let Some(wm) = w.tick(Instant::now())
                            {
                                publish_watermark(ctx, wm);
                                out.watermark(wm);
                            }
                            if cps.due_without_records() {
                                let pos = position(&parts, &wms);
                                if !cps.trigger(out, ctx, &pos) {
                                    break;
                                }
                                pending.push((cps.last_triggered(), pos_offsets(&pos)));
                            }
                            commit_completed(&completed, &mut committed_id, &mut pending, &parts, &commit);
                            continue;
                        }
                    }
                }
            };
            let msg = match msg {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(_)) => {
                    // Some partition reached the end of what is there: with a bounded read,
                    // those at their end offset are done.
                    if let Ok(positions) = consumer.position() {
                        for e in positions.elements() {
                            let (Some(i), Offset::Offset(o)) = (index(e.topic(), e.partition(), &parts), e.offset())
                            else {
                                continue;
                            };
                            let p = &mut parts[i];
                            if !p.finished && p.end.is_some_and(|end| o >= end) {
                                p.next = p.next.max(o);
                                p.finished = true;
                                open -= 1;
                                if let Some(w) = wms.as_mut()
                                    && let Some(wm) = w.finish(i)
                                {
                                    out.watermark(wm);
                                }
                            }
                        }
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("{what}: error from the Kafka client (it retries): {e}");
                    continue;
                }
            };
            let Some(i) = index(msg.topic(), msg.partition(), &parts) else {
                continue;
            };
            let offset = msg.offset();
            let p = &mut parts[i];
            if p.finished || p.end.is_some_and(|end| offset >= end) {
                continue;
            }
            p.next = offset + 1;
            read += 1;
            let decoded = match msg.payload() {
                Some(bytes) => crate::kafka::format::decode::<T>(bytes).map_err(|e| (bytes, e)),
                None => Err((&[][..], "the message has no value (a tombstone)".to_string())),
            };
            match decoded {
                Ok(record) => match extractor.as_mut() {
                    Some(f) => {
                        let ts = f.extract(&record);
                        out.record(record, ts);
                        if let Some(w) = wms.as_mut()
                            && let Some(wm) = w.record(i, ts, Instant::now())
                        {
                            publish_watermark(ctx, wm);
                            out.watermark(wm);
                        }
                    }
                    None => out.record(record, crate::NO_TIMESTAMP),
                },
                Err((raw, reason)) => ctx.dead_letter(&DeadLetter {
                    source: name.into(),
                    file: Some(format!("kafka:{}/{}", p.topic, p.partition)),
                    line: offset as u64,
                    raw: String::from_utf8_lossy(raw).into_owned(),
                    reason: format!("at offset {offset}: {reason}"),
                }),
            }
            if p.end.is_some_and(|end| p.next >= end) {
                p.finished = true;
                open -= 1;
                if let Some(w) = wms.as_mut()
                    && let Some(wm) = w.finish(i)
                {
                    out.watermark(wm);
                }
            }
            if cps.due() {
                let pos = position(&parts, &wms);
                if !cps.trigger(out, ctx, &pos) {
                    stop = true;
                } else {
                    pending.push((cps.last_triggered(), pos_offsets(&pos)));
                }
            }
        }
        TaskContext::add(&ctx.counters().records_in, read);
        let pos = position(&parts, &wms);
        if !ctx.failed() && group.is_some() {
            commit(&pos_offsets(&pos), &parts, CommitMode::Sync);
        }
        cps.end(out, &pos);
        Ok(())
    }

    fn pos_offsets(pos: &KafkaPosition) -> Vec<(usize, i64)> {
        pos.partitions.iter().enumerate().map(|(i, p)| (i, p.offset)).collect()
    }

    /// Commits the offsets of the newest completed checkpoint to the group.
    fn commit_completed(
        completed: &Completed,
        committed_id: &mut u64,
        pending: &mut Vec<(u64, Vec<(usize, i64)>)>,
        parts: &[Part],
        commit: &impl Fn(&[(usize, i64)], &[Part], CommitMode),
    ) {
        let done = completed.0.load(Ordering::Relaxed);
        if done <= *committed_id {
            return;
        }
        *committed_id = done;
        if let Some(last) = pending.iter().rposition(|(id, _)| *id <= done) {
            commit(&pending[last].1, parts, CommitMode::Async);
            pending.drain(..=last);
        }
    }

    fn publish_watermark(ctx: &TaskContext, wm: Timestamp) {
        ctx.counters().watermark.store(wm, Ordering::Relaxed);
    }
}
