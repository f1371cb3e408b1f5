//! The Kafka source of a job that scales out through Kafka: it joins its consumer group and
//! reads the partitions the group gives this process, then commits their offsets to the
//! group once what it read is on the internal topic (see [`scale_out`](crate::scale_out)).
//!
//! Offsets come from the group, not from a checkpoint: the first stage keeps no state, and
//! the process that takes over a partition starts at its last committed offset. What it
//! reads again the keyed stage drops by origin. Each record's origin (input partition and
//! offset) and the partitions this process owns are published to the writer at the end of
//! the chain ([`set_origin`], [`set_owned_partitions`]).

use super::reader::{decode_or_dead_letter, emit_watermark, topic_partitions};
use super::source::{EventTime, Extract};
use super::{SourceConfig, StartFrom, client};
use crate::checkpoint::Barrier;
use crate::scale_out::{
    PartitionWatermark, PartitionWatermarks, ScaleOutPlan, set_origin, set_partition_watermark,
    set_partition_watermarks,
};
use crate::{Collector, JobError, MIN_WATERMARK, NO_TIMESTAMP, TaskContext, Timestamp};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one poll waits for a message when none is buffered.
const POLL: Duration = Duration::from_millis(100);

/// Hears the group's assignments.
#[derive(Default)]
struct Membership {
    /// The latest assignment (topic, partition), until the loop takes it.
    assigned: Mutex<Option<Vec<(String, i32)>>>,
}

impl ClientContext for Membership {}

impl ConsumerContext for Membership {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = match rebalance {
            Rebalance::Assign(tpl) => tpl
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect(),
            Rebalance::Revoke(_) => Vec::new(),
            Rebalance::Error(e) => {
                tracing::warn!("Kafka consumer group rebalance failed: {e}");
                return;
            }
        };
        *self.assigned.lock().unwrap_or_else(|p| p.into_inner()) = Some(list);
    }
}

/// An input partition this process owns, and its event time.
struct Owned {
    /// Its number over the source's topics.
    id: u32,
    max_ts: Timestamp,
    last_record: Instant,
    idle: bool,
}

/// The event time of the owned partitions: each partition's watermark follows its own records
/// (bounded out-of-orderness, as in one process), and is published for the writer, which
/// sends it to the keyed stage; the source's own watermark is their minimum over those not
/// idle, for the progress display.
struct EventClock {
    bound: i64,
    idleness: Option<Duration>,
    owned: Vec<Owned>,
    emitted: Timestamp,
}

impl EventClock {
    fn watermark_of(&self, p: &Owned) -> Timestamp {
        if p.max_ts == MIN_WATERMARK {
            MIN_WATERMARK
        } else {
            p.max_ts.saturating_sub(self.bound).saturating_sub(1)
        }
    }

    /// The group assigned `ids` (sorted): partitions kept keep their event time.
    fn reassign(&mut self, total: u32, ids: &[u32], now: Instant) {
        let mut old: BTreeMap<u32, Owned> = self.owned.drain(..).map(|p| (p.id, p)).collect();
        self.owned = ids
            .iter()
            .map(|&id| {
                old.remove(&id).unwrap_or(Owned {
                    id,
                    max_ts: MIN_WATERMARK,
                    last_record: now,
                    idle: false,
                })
            })
            .collect();
        let partitions = self
            .owned
            .iter()
            .map(|p| PartitionWatermark {
                partition: p.id,
                watermark: self.watermark_of(p),
                idle: p.idle,
            })
            .collect();
        set_partition_watermarks(PartitionWatermarks { total, partitions });
    }

    /// A record with timestamp `ts` of owned partition `i`: the source's watermark if it rose.
    #[inline]
    fn record(&mut self, i: usize, ts: Timestamp, now: Instant) -> Option<Timestamp> {
        let p = &mut self.owned[i];
        p.last_record = now;
        let was_idle = std::mem::replace(&mut p.idle, false);
        if ts > p.max_ts {
            p.max_ts = ts;
        } else if !was_idle {
            return None;
        }
        let wm = self.watermark_of(&self.owned[i]);
        set_partition_watermark(i, wm, false);
        self.advance()
    }

    /// Marks the partitions silent for the idleness timeout as idle.
    fn tick(&mut self, now: Instant) -> Option<Timestamp> {
        let timeout = self.idleness?;
        let mut changed = false;
        for i in 0..self.owned.len() {
            let p = &self.owned[i];
            if !p.idle && now.saturating_duration_since(p.last_record) >= timeout {
                let wm = self.watermark_of(p);
                self.owned[i].idle = true;
                set_partition_watermark(i, wm, true);
                changed = true;
            }
        }
        if changed { self.advance() } else { None }
    }

    fn advance(&mut self) -> Option<Timestamp> {
        let min = self
            .owned
            .iter()
            .filter(|p| !p.idle)
            .map(|p| self.watermark_of(p))
            .min()?;
        (min > self.emitted).then(|| {
            self.emitted = min;
            min
        })
    }
}

/// Reads the group's share of `config`'s topics into `out` until the job fails.
pub(super) fn run<T: DeserializeOwned + 'static, F: Extract<T>, C: Collector<T>>(
    config: SourceConfig,
    event_time: Option<EventTime<F>>,
    name: &'static str,
    out: &mut C,
    ctx: &TaskContext,
    plan: &Arc<ScaleOutPlan>,
) -> Result<(), JobError> {
    let result = read(config, event_time, name, out, ctx, plan);
    plan.stop();
    result
}

fn read<T: DeserializeOwned + 'static, F: Extract<T>, C: Collector<T>>(
    config: SourceConfig,
    event_time: Option<EventTime<F>>,
    name: &'static str,
    out: &mut C,
    ctx: &TaskContext,
    plan: &ScaleOutPlan,
) -> Result<(), JobError> {
    let what = format!("Kafka source `{name}`");
    let err = |e: String| JobError::Other(format!("{what}: {e}"));
    plan.check()?;
    if config.bounded {
        return Err(err(
            "a job that scales out runs until it is stopped, so its source cannot be `.bounded()`".into(),
        ));
    }
    let group = config.group_id.clone().unwrap_or_default();
    let reset = if config.start == StartFrom::Latest {
        "latest"
    } else {
        "earliest"
    };
    let consumer: BaseConsumer<Membership> =
        client::config(&config.brokers, &crate::scale_out::group_defaults(&config.properties))
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", reset)
            .create_with_context(Membership::default())
            .map_err(|e| err(format!("cannot create the Kafka consumer: {e}")))?;
    // Input partitions are numbered over the topics in order, then by partition.
    let all = topic_partitions(&consumer, &config, &what)?;
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| err(format!("cannot join consumer group `{group}`: {e}")))?;
    tracing::info!(
        "{what}: joined consumer group `{group}` for {}",
        config.topics.join(", ")
    );
    set_partition_watermarks(PartitionWatermarks {
        total: all.len() as u32,
        partitions: Vec::new(),
    });

    let (mut extractor, mut clock) = match event_time {
        Some(e) => (
            Some(e.timestamp),
            Some(EventClock {
                bound: e.bound,
                idleness: e.idleness,
                owned: Vec::new(),
                emitted: MIN_WATERMARK,
            }),
        ),
        None => (None, None),
    };
    let mut owned: Vec<u32> = Vec::new();
    let mut next: BTreeMap<u32, i64> = BTreeMap::new();
    let mut last_commit = Instant::now();
    let mut commits = 0u64;
    let (mut read, mut published) = (0u64, 0u64);
    while !ctx.failed() {
        let mut polled = consumer.poll(Duration::ZERO);
        if polled.is_none() {
            out.flush();
            TaskContext::add(&ctx.counters().records_in, read - published);
            published = read;
            polled = consumer.poll(POLL);
        }
        let assigned = consumer
            .context()
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(list) = assigned {
            owned = list
                .iter()
                .filter_map(|(t, p)| all.iter().position(|(u, q)| u == t && q == p))
                .map(|i| i as u32)
                .collect();
            owned.sort_unstable();
            next.retain(|p, _| owned.contains(p));
            if let Some(c) = clock.as_mut() {
                c.reassign(all.len() as u32, &owned, Instant::now());
            }
            let names: Vec<String> = owned
                .iter()
                .map(|&i| format!("{}/{}", all[i as usize].0, all[i as usize].1))
                .collect();
            eprintln!(
                "scale-out: {what}: this process reads partition(s) [{}] of group `{group}`",
                names.join(", ")
            );
        }
        match polled {
            None => {
                if let Some(wm) = clock.as_mut().and_then(|c| c.tick(Instant::now())) {
                    emit_watermark(out, ctx, wm);
                }
            }
            Some(Ok(msg)) => {
                // The partition number first: comparing it is cheaper than the topic's name.
                let Some(id) = all.iter().position(|(t, p)| *p == msg.partition() && t == msg.topic()) else {
                    continue;
                };
                let Ok(local) = owned.binary_search(&(id as u32)) else {
                    continue;
                };
                let id = id as u32;
                let offset = msg.offset();
                next.insert(id, offset + 1);
                read += 1;
                let Some(record) = decode_or_dead_letter::<T>(&msg, name, ctx) else {
                    continue;
                };
                set_origin(id, offset);
                match extractor.as_mut() {
                    Some(f) => {
                        let ts = f.extract(&record);
                        out.record(record, ts);
                        if let Some(wm) = clock.as_mut().and_then(|c| c.record(local, ts, Instant::now())) {
                            emit_watermark(out, ctx, wm);
                        }
                    }
                    None => out.record(record, NO_TIMESTAMP),
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => tracing::warn!("{what}: error from the Kafka client (it retries): {e}"),
        }
        if last_commit.elapsed() >= plan.commit_every() {
            // What was read is on the internal topic once the barrier has passed the writer.
            commits += 1;
            out.checkpoint(Barrier { id: commits });
            if ctx.failed() {
                break;
            }
            let mut tpl = TopicPartitionList::new();
            for (&id, &offset) in &next {
                let (t, p) = &all[id as usize];
                let _ = tpl.add_partition_offset(t, *p, Offset::Offset(offset));
            }
            if tpl.count() > 0
                && let Err(e) = consumer.commit(&tpl, CommitMode::Sync)
            {
                tracing::warn!("{what}: cannot commit offsets to group `{group}` (they are read again): {e}");
            }
            last_commit = Instant::now();
        }
    }
    TaskContext::add(&ctx.counters().records_in, read - published);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale_out::wire::partition_watermarks;

    fn part(partition: u32, watermark: Timestamp, idle: bool) -> PartitionWatermark {
        PartitionWatermark {
            partition,
            watermark,
            idle,
        }
    }

    #[test]
    fn partitions_kept_at_a_rebalance_keep_their_event_time_and_new_ones_wait_for_records() {
        let now = Instant::now();
        let mut c = EventClock {
            bound: 1000,
            idleness: Some(Duration::from_secs(5)),
            owned: Vec::new(),
            emitted: MIN_WATERMARK,
        };
        c.reassign(4, &[0, 1], now);
        // Partition 1 has no record yet: it holds the source's watermark back.
        assert_eq!(c.record(0, 10_000, now), None);
        assert_eq!(c.record(1, 5_000, now), Some(3_999));
        // The group takes partition 0 away and gives partition 2.
        c.reassign(4, &[1, 2], now);
        assert_eq!(partition_watermarks().total, 4);
        assert_eq!(
            partition_watermarks().partitions,
            vec![part(1, 3_999, false), part(2, MIN_WATERMARK, false)]
        );
        let later = now + Duration::from_secs(5);
        assert_eq!(c.record(0, 6_000, later), None);
        assert_eq!(partition_watermarks().partitions[0], part(1, 4_999, false));
        // Partition 2 stays silent for the idleness timeout: it no longer holds it back.
        assert_eq!(c.tick(now + Duration::from_secs(6)), Some(4_999));
        assert_eq!(partition_watermarks().partitions[1], part(2, MIN_WATERMARK, true));
        // Its next record makes it active again.
        assert_eq!(c.record(1, 9_000, now + Duration::from_secs(7)), None);
        assert_eq!(partition_watermarks().partitions[1], part(2, 7_999, false));
    }
}
