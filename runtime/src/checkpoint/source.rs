//! The source side of checkpoints: when to trigger one, and where to start after a restore.
//!
//! A source asks [`SourceCheckpoints::due`] after each record it emits (one decrement and a
//! branch when checkpoints are off or far away) and, when it says so, calls
//! [`SourceCheckpoints::trigger`] with its position: the barrier then flows through the
//! source's chain, and the source's task acknowledges it once the chain has passed it on.
//!
//! The instances of a parallel source ([`TaskContext::source_instance`]) take every
//! checkpoint together: each counts its own share of `checkpoint_every_records` (so the job
//! checkpoints about as often as with one instance, and the same records fall between the
//! same barriers on every run), the first instance due begins checkpoint `n` and the others
//! join it when they are due; with a `checkpoint_interval`, an instance also joins as soon
//! as it sees checkpoint `n` begun. Each records its own position, under `name#i`. Once one
//! instance has read its whole share, no new checkpoint begins: the others would have to
//! send a barrier the ended one never sends.

use super::{Barrier, Coordinator};
use crate::{Collector, JobError, TaskContext};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

/// Records between two looks at the clock for time-based checkpoints.
const CLOCK_EVERY: u64 = 1024;

/// Records between two checks of whether the job has failed (a source then stops reading).
const FAILURE_CHECK_EVERY: u64 = 4096;

/// A source's handle on the job's checkpoints.
pub struct SourceCheckpoints {
    name: &'static str,
    /// The name its position goes by: `name`, or `name#i` for instance `i` of a parallel
    /// source.
    key: String,
    /// `(instance, instances)` for an instance of a parallel source.
    instance: Option<(usize, usize)>,
    ctx: TaskContext,
    /// The job failed: stop reading, send no final watermark.
    stopped: bool,
    coordinator: Option<Arc<Coordinator>>,
    /// Records until the next look (a trigger by count, or at the clock).
    countdown: u64,
    /// The value `countdown` started from.
    armed: u64,
    every_records: Option<u64>,
    /// Records since the last checkpoint, for the count.
    since: u64,
    last: Instant,
    /// The id of the last checkpoint triggered.
    last_triggered: u64,
}

impl SourceCheckpoints {
    /// The checkpoints of the source `name` in the job `ctx` belongs to.
    pub fn new(ctx: &TaskContext, name: &'static str) -> Self {
        let coordinator = ctx.checkpoints().cloned();
        let instance = ctx.source_instance();
        let instances = instance.map_or(1, |(_, n)| n.max(1) as u64);
        // An instance of a parallel source counts its share of the records.
        let every_records = coordinator
            .as_ref()
            .and_then(|c| c.config().every_records)
            .map(|n| n.div_ceil(instances));
        let key = match instance {
            Some((i, _)) => format!("{name}#{i}"),
            None => name.to_owned(),
        };
        // The instances of a parallel source number checkpoints together, from the restored one.
        let last_triggered = match (instance, &coordinator) {
            (Some(_), Some(c)) => c.restored_id().unwrap_or(0),
            _ => 0,
        };
        let mut s = SourceCheckpoints {
            name,
            key,
            instance,
            ctx: ctx.clone(),
            stopped: false,
            countdown: u64::MAX,
            armed: u64::MAX,
            every_records,
            since: 0,
            last: Instant::now(),
            last_triggered,
            coordinator,
        };
        s.rearm();
        s
    }

    /// Whether the job takes checkpoints.
    pub fn enabled(&self) -> bool {
        self.coordinator.is_some()
    }

    /// Fails for a source that cannot replay its input, if the job takes checkpoints.
    pub fn require_replayable(&self, what: &str) -> Result<(), JobError> {
        if self.enabled() {
            return Err(JobError::Other(format!(
                "source `{}` reads {what}, which cannot be read again after a failure, so this job cannot take \
                 checkpoints: read a file instead, or remove the checkpoint settings",
                self.name
            )));
        }
        Ok(())
    }

    fn rearm(&mut self) {
        let Some(c) = &self.coordinator else {
            self.countdown = FAILURE_CHECK_EVERY;
            self.armed = FAILURE_CHECK_EVERY;
            return;
        };
        let by_count = self
            .every_records
            .map_or(u64::MAX, |n| n.saturating_sub(self.since).max(1));
        let by_clock = if c.config().interval.is_some() {
            CLOCK_EVERY
        } else {
            u64::MAX
        };
        self.armed = by_count.min(by_clock).min(FAILURE_CHECK_EVERY);
        self.countdown = self.armed;
    }

    /// The position to resume from, if the job restored a checkpoint that has one for this
    /// source.
    ///
    /// Fails when the checkpoint was taken with the source split into another number of
    /// instances (a parallel source restored at another parallelism, or a source that became
    /// parallel or stopped being): the shares would not fit.
    pub fn restored<P: DeserializeOwned>(&self) -> Result<Option<P>, JobError> {
        let Some(c) = &self.coordinator else { return Ok(None) };
        c.check_source_instances(self.name, self.instance.map_or(0, |(_, n)| n))?;
        let Some(value) = c.restored_position(&self.key) else {
            return Ok(None);
        };
        serde_json::from_value(value.clone()).map(Some).map_err(|e| {
            JobError::Other(format!(
                "the checkpoint's position for source `{}` does not fit this source ({e}): was the source changed?",
                self.name
            ))
        })
    }

    /// Counts one emitted record; true when the source must call [`trigger`](Self::trigger):
    /// a checkpoint is due, or the job has failed and the source must stop.
    #[inline]
    pub fn due(&mut self) -> bool {
        self.countdown -= 1;
        self.countdown == 0 && self.slow_due()
    }

    #[cold]
    fn slow_due(&mut self) -> bool {
        if self.ctx.failed() {
            self.stopped = true;
            return true;
        }
        let Some(c) = &self.coordinator else {
            self.rearm();
            return false;
        };
        self.since += self.armed;
        let by_count = self.every_records.is_some_and(|n| self.since >= n);
        let by_clock = c.config().interval.is_some_and(|i| self.last.elapsed() >= i);
        // With a clock, an instance of a parallel source joins a checkpoint another began.
        let join = self.instance.is_some() && c.config().interval.is_some() && c.joinable(self.last_triggered);
        if by_count || by_clock || join {
            true
        } else {
            self.rearm();
            false
        }
    }

    /// For a live source waiting for input: true when a checkpoint is due by time (the
    /// job's `checkpoint_interval`) or the job has failed, although no record came.
    pub fn due_without_records(&mut self) -> bool {
        if self.ctx.failed() {
            self.stopped = true;
            return true;
        }
        self.coordinator
            .as_ref()
            .and_then(|c| c.config().interval)
            .is_some_and(|i| self.last.elapsed() >= i)
    }

    /// The id of the last checkpoint [`trigger`](Self::trigger) sent (0 before the first).
    pub fn last_triggered(&self) -> u64 {
        self.last_triggered
    }

    /// Takes a checkpoint: sends a barrier through `out` and records `position`, the place
    /// to resume reading after every record emitted so far. Returns false if the job has
    /// failed instead: the source must stop reading and call [`end`](Self::end).
    #[must_use = "a source stops reading when trigger returns false"]
    pub fn trigger<T, C: Collector<T>, P: Serialize>(&mut self, out: &mut C, ctx: &TaskContext, position: &P) -> bool {
        if self.stopped {
            return false;
        }
        let Some(c) = self.coordinator.clone() else { return true };
        let id = match self.instance {
            None => c.begin(),
            Some(_) => match c.instance_checkpoint(self.last_triggered) {
                Some(id) => id,
                None => {
                    // Another instance has read its whole share: no more checkpoints.
                    self.since = 0;
                    self.rearm();
                    return true;
                }
            },
        };
        self.send_barrier(&c, id, out, ctx, position);
        self.since = 0;
        self.last = Instant::now();
        self.rearm();
        true
    }

    /// Records `position` in checkpoint `id`, sends its barrier through `out` and
    /// acknowledges it.
    fn send_barrier<T, C: Collector<T>, P: Serialize>(
        &mut self,
        c: &Coordinator,
        id: u64,
        out: &mut C,
        ctx: &TaskContext,
        position: &P,
    ) {
        self.last_triggered = id;
        match serde_json::to_value(position) {
            Ok(v) => c.source_position(id, &self.key, v),
            Err(e) => ctx.fail(JobError::Other(format!(
                "cannot record the position of `{}`: {e}",
                self.name
            ))),
        }
        out.checkpoint(Barrier { id });
        if let Err(e) = c.ack(id) {
            ctx.fail(e);
        }
    }

    /// Ends the source's input: records the final `position` (for the final checkpoint) and
    /// sends the final watermark, unless the job failed (then nothing must fire), then a last
    /// checkpoint at `position` if a sink asked for one
    /// ([`Coordinator::request_checkpoint_at_end`]), and the end of input.
    pub fn end<T, C: Collector<T>, P: Serialize>(&mut self, out: &mut C, position: &P) {
        if !self.stopped && !self.ctx.failed() {
            let ctx = self.ctx.clone();
            if let Some(c) = self.coordinator.clone() {
                match serde_json::to_value(position) {
                    Ok(v) => c.final_source_position(&self.key, v),
                    Err(e) => self.ctx.fail(JobError::Other(format!(
                        "cannot record the position of `{}`: {e}",
                        self.name
                    ))),
                }
                if self.instance.is_some() {
                    // Send the barriers of the checkpoints the other instances began.
                    let last = c.instance_ended();
                    while self.last_triggered < last {
                        let id = self.last_triggered + 1;
                        self.send_barrier(&c, id, out, &ctx, position);
                    }
                }
            }
            out.watermark(crate::MAX_WATERMARK);
            if let Some(c) = self.coordinator.clone()
                && c.checkpoint_at_end()
            {
                match self.instance {
                    Some(_) => {
                        let id = c.instance_end_checkpoint();
                        self.send_barrier(&c, id, out, &ctx, position);
                    }
                    // A failed job sends no barrier; either way the input ends below.
                    None => {
                        let _ = self.trigger(out, &ctx, position);
                    }
                }
            }
        }
        out.end();
    }
}
