//! Per-partition watermarks: each Kafka partition gets its own watermark generator, and the
//! source's watermark is the minimum over the partitions that are neither idle nor finished
//! (Flink's `KafkaSource` with a `WatermarkStrategy` and `withIdleness`).
//!
//! A partition's watermark follows its own records exactly as the `watermarks` operator
//! follows a stream (bounded out-of-orderness `d`: max timestamp − `d` − 1 ms), so records of
//! a partition that lags behind (a consumer catching up, a slow producer) are not made late
//! by a faster partition. A partition that has delivered no record for the idleness timeout
//! (wall-clock time) stops holding the watermark back until its next record; a partition of
//! a bounded read that reached its end offset never holds it back again. The merged
//! watermark never decreases.

use crate::{MIN_WATERMARK, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The event-time state of one partition, saved in the source's checkpoint position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTime {
    /// The largest timestamp read from the partition.
    pub max_ts: Timestamp,
}

impl Default for PartitionTime {
    fn default() -> Self {
        PartitionTime { max_ts: MIN_WATERMARK }
    }
}

#[derive(Debug, Clone)]
struct Partition {
    time: PartitionTime,
    /// When the partition last delivered a record (or when reading started).
    last_record: Instant,
    idle: bool,
    finished: bool,
}

/// The merged watermark of a source's partitions.
#[derive(Debug, Clone)]
pub struct PartitionWatermarks {
    bound: i64,
    idleness: Option<Duration>,
    partitions: Vec<Partition>,
    /// The last watermark emitted.
    emitted: Timestamp,
}

impl PartitionWatermarks {
    /// Watermarks for `partitions` partitions with out-of-orderness `bound` ms, excluding a
    /// partition after `idleness` without records (`None`: partitions never go idle).
    pub fn new(partitions: usize, bound: i64, idleness: Option<Duration>, now: Instant) -> Self {
        PartitionWatermarks {
            bound,
            idleness,
            partitions: vec![
                Partition {
                    time: PartitionTime::default(),
                    last_record: now,
                    idle: false,
                    finished: false,
                };
                partitions
            ],
            emitted: MIN_WATERMARK,
        }
    }

    /// Restores the partitions' times and the emitted watermark from a checkpoint.
    pub fn restore(&mut self, times: &[PartitionTime], emitted: Timestamp) {
        for (p, t) in self.partitions.iter_mut().zip(times) {
            p.time = *t;
        }
        self.emitted = emitted;
    }

    /// The partitions' times, for a checkpoint.
    pub fn times(&self) -> Vec<PartitionTime> {
        self.partitions.iter().map(|p| p.time).collect()
    }

    /// The last watermark emitted.
    pub fn emitted(&self) -> Timestamp {
        self.emitted
    }

    /// A record with timestamp `ts` was read from partition `p` (and already emitted): the
    /// new merged watermark, if it rose.
    #[inline]
    pub fn record(&mut self, p: usize, ts: Timestamp, now: Instant) -> Option<Timestamp> {
        let part = &mut self.partitions[p];
        part.last_record = now;
        let was_idle = std::mem::replace(&mut part.idle, false);
        if ts > part.time.max_ts {
            part.time.max_ts = ts;
        } else if !was_idle {
            return None;
        }
        self.advance()
    }

    /// Partition `p` reached the end of a bounded read: it no longer holds the watermark back.
    pub fn finish(&mut self, p: usize) -> Option<Timestamp> {
        self.partitions[p].finished = true;
        self.advance()
    }

    /// Marks the partitions without a record for the idleness timeout as idle: the new
    /// merged watermark, if that made it rise.
    pub fn tick(&mut self, now: Instant) -> Option<Timestamp> {
        let timeout = self.idleness?;
        let mut changed = false;
        for p in &mut self.partitions {
            if !p.idle && !p.finished && now.saturating_duration_since(p.last_record) >= timeout {
                p.idle = true;
                changed = true;
                tracing::debug!("a Kafka partition is idle: it no longer holds the watermark back");
            }
        }
        if changed { self.advance() } else { None }
    }

    /// Emits the minimum over the active partitions if it is above the last one emitted.
    fn advance(&mut self) -> Option<Timestamp> {
        let bound = self.bound;
        let min = self
            .partitions
            .iter()
            .filter(|p| !p.idle && !p.finished)
            .map(|p| p.time.max_ts.saturating_sub(bound).saturating_sub(1))
            .min()?;
        (min > self.emitted).then(|| {
            self.emitted = min;
            min
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_watermark_is_the_minimum_over_partitions() {
        let t = Instant::now();
        let mut w = PartitionWatermarks::new(2, 1000, None, t);
        assert_eq!(w.record(0, 5000, t), None, "partition 1 has no record yet");
        assert_eq!(w.record(1, 3000, t), Some(1999));
        assert_eq!(w.record(1, 9000, t), Some(3999));
        assert_eq!(w.record(0, 4000, t), None, "out of order in partition 0");
        assert_eq!(w.record(0, 7000, t), Some(5999));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark_back_until_its_next_record() {
        let t = Instant::now();
        let mut w = PartitionWatermarks::new(3, 0, Some(Duration::from_secs(1)), t);
        assert_eq!(w.record(0, 100, t), None);
        assert_eq!(w.record(1, 200, t), None);
        let later = t + Duration::from_millis(1500);
        assert_eq!(w.record(0, 150, later), None);
        // Partitions 1 and 2 are idle; partition 0 alone decides.
        assert_eq!(w.tick(later), Some(149));
        assert_eq!(w.record(0, 300, later), Some(299));
        // Partition 1 comes back behind: it holds the watermark, which never decreases.
        assert_eq!(w.record(1, 250, later), None);
        assert_eq!(w.record(1, 400, later), None);
        assert_eq!(w.record(0, 500, later), Some(399));
        assert_eq!(w.emitted(), 399);
    }

    #[test]
    fn without_idleness_an_empty_partition_holds_the_watermark_back() {
        let t = Instant::now();
        let mut w = PartitionWatermarks::new(2, 0, None, t);
        assert_eq!(w.record(0, 100, t), None);
        assert_eq!(w.tick(t + Duration::from_secs(3600)), None);
        assert_eq!(w.finish(1), Some(99), "a finished partition no longer counts");
    }
}
