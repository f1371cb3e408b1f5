//! The Kafka source's read loop: connect (retrying), assign every partition at its start
//! offset, then poll, decode, stamp, merge per-partition watermarks, checkpoint, and commit
//! completed checkpoints' offsets to the group.

use super::source::{EventTime, Extract, KafkaPosition, PartitionPosition};
use super::watermarks::{PartitionTime, PartitionWatermarks};
use super::{SourceConfig, StartFrom, client};
use crate::checkpoint::{CheckpointListener, SourceCheckpoints};
use crate::{Collector, DeadLetter, JobError, MIN_WATERMARK, NO_TIMESTAMP, TaskContext, Timestamp};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one poll waits for a message when none is buffered.
const POLL: Duration = Duration::from_millis(100);

/// How long a request for offsets may take.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);

/// Hears which checkpoint completed last, so that the source commits its offsets.
struct Completed(AtomicU64);

impl CheckpointListener for Completed {
    fn checkpoint_complete(&self, id: u64) -> Result<(), JobError> {
        self.0.fetch_max(id, Ordering::Relaxed);
        Ok(())
    }
}

/// One assigned partition.
struct Part {
    topic: String,
    partition: i32,
    /// The offset of the next message to read.
    next: i64,
    /// Where a bounded read stops.
    end: Option<i64>,
    finished: bool,
}

/// Reads `config`'s topics into `out` (see the [module docs](super)).
pub(super) fn run<T: DeserializeOwned + 'static, F: Extract<T>, C: Collector<T>>(
    config: SourceConfig,
    event_time: Option<EventTime<F>>,
    name: &'static str,
    out: &mut C,
    ctx: &TaskContext,
) -> Result<(), JobError> {
    let what = format!("Kafka source `{name}`");
    let err = |e: String| JobError::Other(format!("{what}: {e}"));
    if config.topics.is_empty() {
        return Err(err("no topic to read".into()));
    }
    if config.start == StartFrom::Committed && config.group_id.is_none() {
        return Err(err(
            "it starts from the committed offsets of its group, but has no group: add `.group_id(\"…\")`".into(),
        ));
    }
    let consumer: BaseConsumer = client::config(&config.brokers, &config.properties)
        .set("group.id", config.group_id.as_deref().unwrap_or("fuseflow"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| err(format!("cannot create the Kafka consumer: {e}")))?;
    let mut parts: Vec<Part> = topic_partitions(&consumer, &config, &what)?
        .into_iter()
        .map(|(topic, partition)| Part {
            topic,
            partition,
            next: 0,
            end: None,
            finished: false,
        })
        .collect();

    let mut cps = SourceCheckpoints::new(ctx, name);
    let restored: Option<KafkaPosition> = cps.restored()?;
    let times = start_offsets(&consumer, &config, &mut parts, restored.as_ref()).map_err(err)?;
    let mut watermarks = event_time
        .as_ref()
        .map(|e| PartitionWatermarks::new(parts.len(), e.bound, e.idleness, Instant::now()));
    if let (Some(w), Some(r)) = (watermarks.as_mut(), &restored) {
        w.restore(&times, r.watermark);
    }
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next))
            .map_err(|e| err(e.to_string()))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| err(format!("cannot assign the partitions: {e}")))?;
    tracing::info!(
        "{what}: reading {} partition(s) of {} from `{}`{}",
        parts.len(),
        config.topics.join(", "),
        config.brokers,
        if config.bounded {
            ", up to the end offsets at start"
        } else {
            ""
        }
    );

    let completed = Arc::new(Completed(AtomicU64::new(0)));
    if let (Some(c), Some(_)) = (ctx.checkpoints(), &config.group_id) {
        c.add_listener(completed.clone());
    }
    let mut reader = Reader {
        name,
        what: &what,
        open: parts.len(),
        parts,
        watermarks,
        extractor: event_time.map(|e| e.timestamp),
        commits: config.group_id.is_some(),
        completed,
        pending: Vec::new(),
        committed: 0,
        read: 0,
        published: 0,
    };
    reader.read(&consumer, out, ctx, &mut cps);
    reader.publish_counts(ctx);
    let position = reader.position();
    if !ctx.failed() {
        reader.commit(&consumer, &position, CommitMode::Sync);
    }
    cps.end(out, &position);
    Ok(())
}

/// Every partition of every topic of `config` (topic, partition), in topic order, then
/// partition order; the brokers are retried while they cannot be reached. `what` names the
/// source in errors.
pub(super) fn topic_partitions<X: ConsumerContext>(
    consumer: &BaseConsumer<X>,
    config: &SourceConfig,
    what: &str,
) -> Result<Vec<(String, i32)>, JobError> {
    let md = client::metadata(
        |t, d| consumer.fetch_metadata(t, d),
        &config.brokers,
        &config.topics,
        config.connect_timeout,
        what,
    )?;
    let mut parts = Vec::new();
    for topic in &config.topics {
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| {
                JobError::Other(format!(
                    "{what}: topic `{topic}` does not exist on the brokers at `{}`",
                    config.brokers
                ))
            })?;
        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        parts.extend(ids.into_iter().map(|partition| (topic.clone(), partition)));
    }
    Ok(parts)
}

/// The record in `msg`'s value, or `None` after sending the message to the dead-letter output
/// with its topic, partition, offset and why it does not decode.
#[inline]
pub(super) fn decode_or_dead_letter<T: DeserializeOwned + 'static>(
    msg: &BorrowedMessage<'_>,
    source: &str,
    ctx: &TaskContext,
) -> Option<T> {
    let decoded = match msg.payload() {
        Some(bytes) => super::format::decode::<T>(bytes).map_err(|e| (bytes, e)),
        None => Err((&[][..], "the message has no value (a tombstone)".to_string())),
    };
    match decoded {
        Ok(record) => Some(record),
        Err((raw, reason)) => {
            let offset = msg.offset();
            ctx.dead_letter(&DeadLetter {
                source: source.into(),
                file: Some(format!("kafka:{}/{}", msg.topic(), msg.partition())),
                line: offset as u64,
                raw: String::from_utf8_lossy(raw).into_owned(),
                reason: format!("at offset {offset}: {reason}"),
            });
            None
        }
    }
}

/// Sets every partition's start offset (from the checkpoint, or else from the configured
/// start) and, for a bounded read, its end; returns the partitions' restored event times.
fn start_offsets(
    consumer: &BaseConsumer,
    config: &SourceConfig,
    parts: &mut [Part],
    restored: Option<&KafkaPosition>,
) -> Result<Vec<PartitionTime>, String> {
    let committed = if config.start == StartFrom::Committed && restored.is_none() {
        let mut tpl = TopicPartitionList::new();
        for p in parts.iter() {
            tpl.add_partition(&p.topic, p.partition);
        }
        let offsets = consumer
            .committed_offsets(tpl, OFFSETS_TIMEOUT)
            .map_err(|e| format!("cannot read the committed offsets of its group: {e}"))?;
        Some(offsets)
    } else {
        None
    };
    let mut times = vec![PartitionTime::default(); parts.len()];
    for (p, time) in parts.iter_mut().zip(&mut times) {
        let (low, high) = consumer
            .fetch_watermarks(&p.topic, p.partition, OFFSETS_TIMEOUT)
            .map_err(|e| {
                format!(
                    "cannot read the offsets of `{}` partition {}: {e}",
                    p.topic, p.partition
                )
            })?;
        let saved = restored.map(|r| {
            r.partitions
                .iter()
                .find(|q| q.topic == p.topic && q.partition == p.partition)
        });
        p.next = match saved {
            Some(Some(q)) => {
                *time = q.time;
                q.offset
            }
            // A partition the checkpoint does not know (added since) starts at the earliest.
            Some(None) => low,
            None => match config.start {
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
        if config.bounded {
            p.end = Some(high);
        }
    }
    Ok(times)
}

/// The state of a running Kafka source.
struct Reader<'w, F> {
    name: &'static str,
    what: &'w str,
    parts: Vec<Part>,
    /// Partitions not finished.
    open: usize,
    watermarks: Option<PartitionWatermarks>,
    extractor: Option<F>,
    /// Whether offsets are committed to a group.
    commits: bool,
    completed: Arc<Completed>,
    /// The positions of the checkpoints triggered and not yet known to be complete.
    pending: Vec<(u64, KafkaPosition)>,
    /// The newest checkpoint whose offsets were committed.
    committed: u64,
    /// Messages read, and how many of them the job's counters know of.
    read: u64,
    published: u64,
}

impl<F> Reader<'_, F> {
    /// Polls until every partition of a bounded read is finished, or the job fails.
    fn read<T: DeserializeOwned + 'static, C: Collector<T>>(
        &mut self,
        consumer: &BaseConsumer,
        out: &mut C,
        ctx: &TaskContext,
        cps: &mut SourceCheckpoints,
    ) where
        F: Extract<T>,
    {
        for i in 0..self.parts.len() {
            if self.parts[i].end.is_some_and(|end| self.parts[i].next >= end) {
                self.finish(i, out);
            }
        }
        while self.open > 0 {
            // A message already fetched is taken at once; otherwise what is buffered goes on
            // (a live source), and the source waits a little for more.
            let mut polled = consumer.poll(Duration::ZERO);
            if polled.is_none() {
                out.flush();
                self.publish_counts(ctx);
                polled = consumer.poll(POLL);
            }
            let keep_going = match polled {
                None => self.idle(consumer, out, ctx, cps),
                // A checkpoint after every `checkpoint_every_records` messages read (or
                // when one is due by time, or the job failed: `due`).
                Some(Ok(msg)) => !(self.message(&msg, out, ctx) && cps.due()) || self.checkpoint(out, ctx, cps),
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    self.at_end_of_partitions(consumer, out);
                    true
                }
                Some(Err(e)) => {
                    tracing::warn!("{}: error from the Kafka client (it retries): {e}", self.what);
                    true
                }
            };
            if !keep_going {
                break;
            }
        }
    }

    /// Emits one message (or dead-letters it); true when it was read (not skipped as past
    /// a bounded read's end or of an unknown partition).
    #[inline]
    fn message<T: DeserializeOwned + 'static, C: Collector<T>>(
        &mut self,
        msg: &BorrowedMessage<'_>,
        out: &mut C,
        ctx: &TaskContext,
    ) -> bool
    where
        F: Extract<T>,
    {
        let Some(i) = self.index(msg.topic(), msg.partition()) else {
            return false;
        };
        let offset = msg.offset();
        let p = &mut self.parts[i];
        if p.finished || p.end.is_some_and(|end| offset >= end) {
            return false;
        }
        p.next = offset + 1;
        self.read += 1;
        match (decode_or_dead_letter::<T>(msg, self.name, ctx), self.extractor.as_mut()) {
            (Some(record), Some(f)) => {
                let ts = f.extract(&record);
                out.record(record, ts);
                if let Some(w) = self.watermarks.as_mut()
                    && let Some(wm) = w.record(i, ts, Instant::now())
                {
                    emit_watermark(out, ctx, wm);
                }
            }
            (Some(record), None) => out.record(record, NO_TIMESTAMP),
            (None, _) => {}
        }
        let p = &self.parts[i];
        if p.end.is_some_and(|end| p.next >= end) {
            self.finish(i, out);
        }
        true
    }

    /// Nothing arrived for a while: idle partitions, checkpoints by time, commits. False when
    /// the source must stop (the job failed).
    fn idle<T, C: Collector<T>>(
        &mut self,
        consumer: &BaseConsumer,
        out: &mut C,
        ctx: &TaskContext,
        cps: &mut SourceCheckpoints,
    ) -> bool {
        if let Some(w) = self.watermarks.as_mut()
            && let Some(wm) = w.tick(Instant::now())
        {
            emit_watermark(out, ctx, wm);
        }
        if cps.due_without_records() && !self.checkpoint(out, ctx, cps) {
            return false;
        }
        self.commit_completed(consumer);
        true
    }

    /// Some partition reached the end of what the broker has: in a bounded read, those at
    /// their end offset are finished (the end may be a transaction marker, never delivered).
    fn at_end_of_partitions<T, C: Collector<T>>(&mut self, consumer: &BaseConsumer, out: &mut C) {
        let Ok(positions) = consumer.position() else {
            return;
        };
        for e in positions.elements() {
            let (Some(i), Offset::Offset(o)) = (self.index(e.topic(), e.partition()), e.offset()) else {
                continue;
            };
            let p = &mut self.parts[i];
            if !p.finished && p.end.is_some_and(|end| o >= end) {
                p.next = p.next.max(o);
                self.finish(i, out);
            }
        }
    }

    /// Partition `i` reached the end of a bounded read.
    fn finish<T, C: Collector<T>>(&mut self, i: usize, out: &mut C) {
        if std::mem::replace(&mut self.parts[i].finished, true) {
            return;
        }
        self.open -= 1;
        if let Some(w) = self.watermarks.as_mut()
            && let Some(wm) = w.finish(i)
        {
            out.watermark(wm);
        }
    }

    /// Triggers a checkpoint at the current position; false if the job failed instead.
    fn checkpoint<T, C: Collector<T>>(&mut self, out: &mut C, ctx: &TaskContext, cps: &mut SourceCheckpoints) -> bool {
        let position = self.position();
        if !cps.trigger(out, ctx, &position) {
            return false;
        }
        if self.commits {
            self.pending.push((cps.last_triggered(), position));
        }
        true
    }

    /// Every partition's next offset and event time, and the watermark emitted.
    fn position(&self) -> KafkaPosition {
        KafkaPosition {
            partitions: self
                .parts
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionPosition {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset: p.next,
                    time: self.watermarks.as_ref().map(|w| w.times()[i]).unwrap_or_default(),
                })
                .collect(),
            watermark: self.watermarks.as_ref().map_or(MIN_WATERMARK, |w| w.emitted()),
        }
    }

    /// Commits the offsets of the newest completed checkpoint to the group.
    fn commit_completed(&mut self, consumer: &BaseConsumer) {
        let done = self.completed.0.load(Ordering::Relaxed);
        if done <= self.committed {
            return;
        }
        self.committed = done;
        if let Some(last) = self.pending.iter().rposition(|(id, _)| *id <= done) {
            let (_, position) = self.pending.drain(..=last).next_back().expect("drained one");
            self.commit(consumer, &position, CommitMode::Async);
        }
    }

    /// Commits `position`'s offsets to the group, if the source has one. A failure is only
    /// logged: the offsets of record are the checkpoint's.
    fn commit(&self, consumer: &BaseConsumer, position: &KafkaPosition, mode: CommitMode) {
        if !self.commits {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for p in &position.partitions {
            let _ = tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.offset));
        }
        if let Err(e) = consumer.commit(&tpl, mode) {
            tracing::warn!(
                "{}: cannot commit offsets to the group (they are kept in checkpoints): {e}",
                self.what
            );
        }
    }

    /// Adds the messages read since the last call to the job's counters.
    fn publish_counts(&mut self, ctx: &TaskContext) {
        TaskContext::add(&ctx.counters().records_in, self.read - self.published);
        self.published = self.read;
    }

    fn index(&self, topic: &str, partition: i32) -> Option<usize> {
        self.parts
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
    }
}

/// Sends watermark `wm` and shows it to the progress bar and the metrics.
pub(super) fn emit_watermark<T, C: Collector<T>>(out: &mut C, ctx: &TaskContext, wm: Timestamp) {
    ctx.counters().watermark.store(wm, Ordering::Relaxed);
    out.watermark(wm);
}
