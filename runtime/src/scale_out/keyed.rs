//! The keyed stage of a scaled-out job: reads the partitions of the internal topic its
//! consumer group gives this process, and runs, for each, the chain behind the `key_by` on
//! that key group range, restored from and checkpointed to the range's own directory.
//!
//! The group may move a range at any rebalance. When the group assigns a partition, its
//! start offset is the one the range's live instance has reached, or else the one its latest
//! checkpoint saved; a range this process no longer owns is dropped without ending (its
//! output since the last checkpoint is not committed, and the new owner redoes it).

use super::wire::{self, Message};
use super::{Codec, ScaleOutPlan};
use crate::checkpoint::{Coordinator, RestoreFrom, SourceCheckpoints};
use crate::kafka::client;
use crate::{Collector, JobError, MIN_WATERMARK, TaskContext, Timestamp};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The name a range's input goes by in its checkpoints.
const SOURCE: &str = "repartition";

/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(100);

/// What a key group range's checkpoint saves of its input.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RangePosition {
    /// The next offset of the range's partition of the internal topic.
    offset: i64,
    /// Per input partition, the (offset, rank) of the last record taken.
    taken: Vec<(u32, i64, u32)>,
    /// Per input partition, the highest watermark heard, and whether it is idle.
    watermarks: Vec<(u32, Timestamp, bool)>,
    /// The number of input partitions.
    total: u32,
    /// The watermark the range's chain has seen.
    watermark: Timestamp,
}

/// The keyed stage's consumer: assigns partitions at their ranges' offsets.
struct Assigner {
    topic: String,
    dir: PathBuf,
    /// The next offset of every range with a live instance.
    next: Mutex<BTreeMap<i32, i64>>,
    /// The latest assignment, until the loop takes it.
    assigned: Mutex<Option<Vec<i32>>>,
}

impl Assigner {
    /// The assignment the group made since the last call, if any.
    fn take_assigned(&self) -> Option<Vec<i32>> {
        self.assigned.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Range `p` runs here and reads on from `next` (`None`: it left this process).
    fn set_next(&self, p: i32, next: Option<i64>) {
        let mut map = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        match next {
            Some(o) => map.insert(p, o),
            None => map.remove(&p),
        };
    }
}

impl ClientContext for Assigner {}

impl ConsumerContext for Assigner {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let next = self.next.lock().unwrap_or_else(PoisonError::into_inner).clone();
                let mut assign = TopicPartitionList::new();
                let mut parts = Vec::new();
                for e in tpl.elements() {
                    let p = e.partition();
                    let offset = next
                        .get(&p)
                        .copied()
                        .or_else(|| checkpointed_offset(&range_dir(&self.dir, p)))
                        .map_or(Offset::Beginning, Offset::Offset);
                    let _ = assign.add_partition_offset(&self.topic, p, offset);
                    parts.push(p);
                }
                if let Err(e) = consumer.assign(&assign) {
                    tracing::warn!("cannot take the partitions of `{}`: {e}", self.topic);
                }
                parts.sort_unstable();
                *self.assigned.lock().unwrap_or_else(PoisonError::into_inner) = Some(parts);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let _ = consumer.unassign();
            }
            other => tracing::warn!("rebalancing `{}` failed: {other:?}", self.topic),
        }
    }
}

/// The directory of key group range `i`'s checkpoints.
fn range_dir(base: &Path, i: i32) -> PathBuf {
    base.join(format!("subtask-{i}"))
}

/// The internal topic's offset the latest checkpoint of a range saved.
fn checkpointed_offset(dir: &Path) -> Option<i64> {
    let position = crate::checkpoint::latest_position(dir, SOURCE)?;
    serde_json::from_value::<RangePosition>(position).ok().map(|p| p.offset)
}

/// One key group range this process runs.
struct Range<C> {
    chain: C,
    ctx: TaskContext,
    cps: SourceCheckpoints,
    next: i64,
    taken: BTreeMap<u32, (i64, u32)>,
    watermarks: BTreeMap<u32, (Timestamp, bool)>,
    total: u32,
    watermark: Timestamp,
    /// Records dropped as already taken.
    duplicates: u64,
}

impl<C> Range<C> {
    fn position(&self) -> RangePosition {
        RangePosition {
            offset: self.next,
            taken: self.taken.iter().map(|(&p, &(o, r))| (p, o, r)).collect(),
            watermarks: self.watermarks.iter().map(|(&p, &(w, idle))| (p, w, idle)).collect(),
            total: self.total,
            watermark: self.watermark,
        }
    }

    /// Takes one message of the range's partition.
    fn message<R>(&mut self, codec: Codec<R>, bytes: &[u8]) -> Result<(), JobError>
    where
        C: Collector<R>,
    {
        match wire::decode(bytes) {
            Some(Message::Record { origin, rank, ts, json }) => {
                let at = (origin.offset, rank);
                if self.taken.get(&origin.partition).is_some_and(|&last| at <= last) {
                    self.duplicates += 1;
                    return Ok(());
                }
                self.taken.insert(origin.partition, at);
                let record = codec
                    .decode(json)
                    .map_err(|e| JobError::Other(format!("a record of the internal topic does not read back: {e}")))?;
                self.chain.record(record, ts);
            }
            Some(Message::Watermarks(w)) => {
                self.total = self.total.max(w.total);
                for p in w.partitions {
                    let e = self.watermarks.entry(p.partition).or_insert((MIN_WATERMARK, false));
                    *e = (e.0.max(p.watermark), p.idle);
                }
                // Once every input partition has been heard of: the minimum over those not
                // idle (Flink's per-partition watermarks with idleness).
                let all: Option<Vec<(Timestamp, bool)>> =
                    (0..self.total).map(|p| self.watermarks.get(&p).copied()).collect();
                if let Some(min) = all.and_then(|all| all.iter().filter(|(_, idle)| !idle).map(|(w, _)| *w).min())
                    && min > self.watermark
                {
                    self.watermark = min;
                    self.chain.watermark(min);
                }
            }
            None => {
                return Err(JobError::Other(
                    "a message of the internal topic is not one fuseflow wrote".into(),
                ));
            }
        }
        Ok(())
    }

    /// Takes a checkpoint of the range; false if the job failed instead.
    fn checkpoint<R>(&mut self) -> bool
    where
        C: Collector<R>,
    {
        let position = self.position();
        let ctx = self.ctx.clone();
        self.cps.trigger(&mut self.chain, &ctx, &position)
    }
}

/// Runs the keyed stage until the job fails or stops (see the [module docs](self)).
pub(super) fn run<R, C>(plan: &ScaleOutPlan, codec: Codec<R>, chain: &mut impl FnMut(usize) -> C, ctx: &TaskContext)
where
    C: Collector<R>,
{
    let consumer = match open(plan) {
        Ok(c) => c,
        Err(e) => {
            ctx.fail(e);
            ctx.task_opened();
            return;
        }
    };
    ctx.task_opened();
    if let Err(e) = crate::job::catch_panic(|| drive(plan, codec, &consumer, chain, ctx)).and_then(|r| r) {
        ctx.fail(e);
    }
}

/// Joins the keyed stage's group.
fn open(plan: &ScaleOutPlan) -> Result<BaseConsumer<Assigner>, JobError> {
    let endpoint = plan.check()?;
    super::topic::ensure(plan, endpoint)?;
    let topic = plan.topic();
    let dir = plan
        .checkpoints()
        .map(|c| c.dir.clone())
        .ok_or_else(|| JobError::Other("a scaled-out job needs checkpoints".into()))?;
    let assigner = Assigner {
        topic: topic.clone(),
        dir,
        next: Mutex::default(),
        assigned: Mutex::default(),
    };
    let consumer: BaseConsumer<Assigner> =
        client::config(&endpoint.brokers, &super::group_defaults(&endpoint.properties))
            .set("group.id", plan.keyed_group())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(assigner)
            .map_err(|e| {
                JobError::Other(format!(
                    "internal topic `{topic}`: cannot create the Kafka consumer: {e}"
                ))
            })?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| JobError::Other(format!("internal topic `{topic}`: cannot subscribe: {e}")))?;
    Ok(consumer)
}

/// The poll loop.
fn drive<R, C>(
    plan: &ScaleOutPlan,
    codec: Codec<R>,
    consumer: &BaseConsumer<Assigner>,
    chain: &mut impl FnMut(usize) -> C,
    ctx: &TaskContext,
) -> Result<(), JobError>
where
    C: Collector<R>,
{
    let mut ranges: BTreeMap<i32, Range<C>> = BTreeMap::new();
    while !ctx.failed() && !plan.stopped() {
        let polled = consumer.poll(POLL);
        let assigned = consumer.context().take_assigned();
        if let Some(assigned) = assigned {
            reassign(plan, consumer, chain, ctx, &mut ranges, &assigned)?;
        }
        match polled {
            None => {
                for range in ranges.values_mut() {
                    range.chain.flush();
                    if range.cps.due_without_records() && !range.checkpoint() {
                        return Ok(());
                    }
                }
            }
            Some(Ok(msg)) => {
                let p = msg.partition();
                let Some(range) = ranges.get_mut(&p) else { continue };
                let offset = msg.offset();
                if offset < range.next {
                    continue;
                }
                range.next = offset + 1;
                range.message(codec, msg.payload().unwrap_or_default())?;
                if range.cps.due() && !range.checkpoint() {
                    return Ok(());
                }
                let next = range.next;
                consumer.context().set_next(p, Some(next));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => tracing::warn!("internal topic `{}`: {e} (the client retries)", plan.topic()),
        }
    }
    Ok(())
}

/// Drops the ranges no longer assigned here and restores the ones newly assigned.
fn reassign<R, C>(
    plan: &ScaleOutPlan,
    consumer: &BaseConsumer<Assigner>,
    chain: &mut impl FnMut(usize) -> C,
    ctx: &TaskContext,
    ranges: &mut BTreeMap<i32, Range<C>>,
    assigned: &[i32],
) -> Result<(), JobError>
where
    C: Collector<R>,
{
    let gone: Vec<i32> = ranges.keys().copied().filter(|p| !assigned.contains(p)).collect();
    for p in gone {
        let range = ranges.remove(&p).expect("present");
        consumer.context().set_next(p, None);
        eprintln!(
            "scale-out: key group range {p} of job `{}` moved to another process ({} duplicate records dropped here)",
            plan.job(),
            range.duplicates
        );
    }
    for &p in assigned {
        if ranges.contains_key(&p) {
            continue;
        }
        let range = restore(plan, chain, ctx, p)?;
        // The assignment started where the latest checkpoint was; seek in case a newer one
        // appeared since.
        let _ = consumer.seek(&plan.topic(), p, Offset::Offset(range.next), Duration::from_secs(5));
        consumer.context().set_next(p, Some(range.next));
        ranges.insert(p, range);
    }
    let owned: Vec<String> = ranges.keys().map(i32::to_string).collect();
    eprintln!(
        "scale-out: job `{}` runs key group range(s) [{}] of {} in this process",
        plan.job(),
        owned.join(", "),
        plan.subtasks()
    );
    Ok(())
}

/// Builds and opens key group range `p`'s chain, restored from its latest checkpoint.
fn restore<R, C>(
    plan: &ScaleOutPlan,
    chain: &mut impl FnMut(usize) -> C,
    ctx: &TaskContext,
    p: i32,
) -> Result<Range<C>, JobError>
where
    C: Collector<R>,
{
    let mut config = plan.checkpoints().expect("checked").clone();
    config.dir = range_dir(&config.dir, p);
    let coordinator = Coordinator::start(
        config,
        plan.job(),
        plan.max_parallelism(),
        plan.subtasks(),
        Some(&RestoreFrom::Latest),
        ctx.counters_handle(),
    )?;
    coordinator.set_tasks(1);
    let coordinator = Arc::new(coordinator);
    let i = p as usize;
    let rctx = ctx
        .for_subtask(i, plan.subtasks())
        .with_checkpoints(Some(coordinator.clone()));
    let mut instance = chain(i);
    instance.open(&rctx)?;
    let unclaimed = coordinator.unclaimed_operators();
    if !unclaimed.is_empty() {
        return Err(JobError::Other(format!(
            "the checkpoint of key group range {p} holds state of operators this job does not have: {}",
            unclaimed.join(", ")
        )));
    }
    coordinator.discard_old_history()?;
    let cps = SourceCheckpoints::new(&rctx, SOURCE);
    let position: RangePosition = cps.restored()?.unwrap_or(RangePosition {
        watermark: MIN_WATERMARK,
        ..RangePosition::default()
    });
    match coordinator.restored_id() {
        Some(id) => eprintln!(
            "scale-out: key group range {p} of job `{}`: restored checkpoint {id}, reading on from offset {}",
            plan.job(),
            position.offset
        ),
        None => eprintln!(
            "scale-out: key group range {p} of job `{}`: no checkpoint, reading from the beginning",
            plan.job()
        ),
    }
    Ok(Range {
        chain: instance,
        ctx: rctx,
        cps,
        next: position.offset,
        taken: position.taken.iter().map(|&(p, o, r)| (p, (o, r))).collect(),
        watermarks: position.watermarks.iter().map(|&(p, w, idle)| (p, (w, idle))).collect(),
        total: position.total,
        watermark: position.watermark,
        duplicates: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Barrier;
    use crate::scale_out::wire::{Origin, PartitionWatermark, PartitionWatermarks};

    /// What a range's chain was given.
    #[derive(Default)]
    struct Seen(Vec<String>);

    impl Collector<(u32, u32)> for Seen {
        fn open(&mut self, _ctx: &TaskContext) -> Result<(), JobError> {
            Ok(())
        }
        fn record(&mut self, (k, v): (u32, u32), _ts: Timestamp) {
            self.0.push(format!("{k}:{v}"));
        }
        fn watermark(&mut self, wm: Timestamp) {
            self.0.push(format!("wm {wm}"));
        }
        fn checkpoint(&mut self, _barrier: Barrier) {}
        fn end(&mut self) {}
    }

    fn range() -> Range<Seen> {
        let ctx = TaskContext::detached();
        Range {
            chain: Seen::default(),
            cps: SourceCheckpoints::new(&ctx, SOURCE),
            ctx,
            next: 0,
            taken: BTreeMap::new(),
            watermarks: BTreeMap::new(),
            total: 0,
            watermark: MIN_WATERMARK,
            duplicates: 0,
        }
    }

    fn codec() -> Codec<(u32, u32)> {
        super::super::codec(crate::Ty::of())
    }

    fn record(partition: u32, offset: i64, rank: u32, value: (u32, u32)) -> Vec<u8> {
        let mut buf = Vec::new();
        wire::record_header(&mut buf, Origin { partition, offset }, rank, 0);
        codec().encode(&value, &mut buf).unwrap();
        buf
    }

    fn watermarks(total: u32, partitions: &[(u32, i64, bool)]) -> Vec<u8> {
        wire::watermarks(&PartitionWatermarks {
            total,
            partitions: partitions
                .iter()
                .map(|&(partition, watermark, idle)| PartitionWatermark {
                    partition,
                    watermark,
                    idle,
                })
                .collect(),
        })
    }

    #[test]
    fn records_sent_again_by_a_new_owner_are_dropped() {
        let mut r = range();
        let messages = [
            record(0, 10, 0, (1, 1)),
            record(0, 10, 1, (1, 2)), // a second output of the same input record
            record(1, 5, 0, (2, 1)),
            record(0, 11, 0, (1, 3)),
            // The new owner of input partition 0 starts again at its last commit, offset 10.
            record(0, 10, 0, (1, 1)),
            record(0, 10, 1, (1, 2)),
            record(0, 11, 0, (1, 3)),
            record(0, 12, 0, (1, 4)),
            record(1, 5, 0, (2, 1)),
        ];
        for m in &messages {
            r.message(codec(), m).unwrap();
        }
        assert_eq!(r.chain.0, ["1:1", "1:2", "2:1", "1:3", "1:4"]);
        assert_eq!(r.duplicates, 4);
        // What a checkpoint keeps, a restored range knows.
        let position = r.position();
        assert_eq!(position.taken, vec![(0, 12, 0), (1, 5, 0)]);
    }

    #[test]
    fn the_watermark_is_the_minimum_over_every_input_partition_not_idle() {
        let mut r = range();
        // Partitions 0 and 1 of 3 heard of: no watermark yet.
        r.message(codec(), &watermarks(3, &[(0, 100, false), (1, 50, false)]))
            .unwrap();
        assert!(r.chain.0.is_empty());
        r.message(codec(), &watermarks(3, &[(2, 70, false)])).unwrap();
        assert_eq!(r.chain.0, ["wm 50"]);
        // A lower watermark from a process that took partition 1 over does not go back.
        r.message(codec(), &watermarks(3, &[(1, 20, false)])).unwrap();
        r.message(codec(), &watermarks(3, &[(1, 80, false)])).unwrap();
        assert_eq!(r.chain.0, ["wm 50", "wm 70"]);
        // An idle partition does not hold it back.
        r.message(codec(), &watermarks(3, &[(2, 70, true)])).unwrap();
        assert_eq!(r.chain.0, ["wm 50", "wm 70", "wm 80"]);
        assert!(r.message(codec(), b"\x09").is_err());
    }
}
