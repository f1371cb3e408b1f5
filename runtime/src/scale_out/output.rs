//! The first stage's end: the writer of a scaled-out `key_by`, which sends each record to
//! the internal topic's partition of its key group range, with its origin and rank, and the
//! watermark of the input partitions this process owns to every partition.

use super::wire::{self, Origin, PartitionWatermarks};
use super::{Codec, WATERMARK_EVERY};
use crate::checkpoint::{Barrier, key_group_of};
use crate::kafka::sink::producer::Producer;
use crate::{Collector, JobError, MIN_WATERMARK, TaskContext, Timestamp};
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Instant;

/// The writer a scaled-out job's first stage ends in (see the [module docs](super)).
pub struct RemoteOutput<K, T> {
    codec: Codec<(K, T)>,
    open: Option<Open>,
    buf: Vec<u8>,
    last_origin: Origin,
    rank: u32,
    /// The partition watermarks sent last.
    sent: PartitionWatermarks,
    last_sent: Instant,
    _ty: PhantomData<fn(K, T)>,
}

/// What an open writer holds.
struct Open {
    producer: Producer,
    topic: String,
    /// The internal topic's partition of every key group.
    partition_of: Vec<i32>,
    partitions: i32,
    max_parallelism: usize,
    ctx: TaskContext,
}

impl<K, T> RemoteOutput<K, T> {
    pub(super) fn new(codec: Codec<(K, T)>) -> Self {
        RemoteOutput {
            codec,
            open: None,
            buf: Vec::new(),
            last_origin: Origin {
                partition: u32::MAX,
                offset: -1,
            },
            rank: 0,
            sent: PartitionWatermarks::default(),
            last_sent: Instant::now(),
            _ty: PhantomData,
        }
    }

    /// Sends the watermarks of the input partitions this process owns to every partition of
    /// the internal topic, if they changed since they were last sent. A partition without a
    /// record here yet (and not idle) is left out: its last owner's watermark stands.
    fn send_watermarks(&mut self) {
        let Some(o) = &self.open else { return };
        self.last_sent = Instant::now();
        let mut w = wire::partition_watermarks();
        w.partitions.retain(|p| p.idle || p.watermark > MIN_WATERMARK);
        if w.partitions.is_empty() || w == self.sent {
            return;
        }
        let message = wire::watermarks(&w);
        for p in 0..o.partitions {
            if let Err(e) = o.producer.send_to(&o.topic, Some(p), None, &message) {
                o.ctx
                    .fail(JobError::Other(format!("internal topic `{}`: {e}", o.topic)));
                return;
            }
        }
        self.sent = w;
    }

    /// Waits until the broker has every message sent so far.
    fn flush_all(&mut self) {
        self.send_watermarks();
        if let Some(o) = &self.open
            && let Err(e) = o.producer.flush()
        {
            o.ctx
                .fail(JobError::Other(format!("internal topic `{}`: {e}", o.topic)));
        }
    }
}

impl<K: Hash, T> Collector<(K, T)> for RemoteOutput<K, T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        let Some(plan) = ctx.scale_out() else {
            return Err(super::not_scaled());
        };
        let endpoint = plan.check()?;
        let topic = plan.topic();
        super::topic::ensure(plan, endpoint)?;
        let mut config = crate::kafka::sink(endpoint.brokers.clone(), topic.clone())
            .connect_timeout(endpoint.connect_timeout)
            .property("max.in.flight.requests.per.connection", "1")
            .property("linger.ms", "5");
        for (k, v) in &endpoint.properties {
            config = config.property(k.clone(), v.clone());
        }
        let producer = Producer::open(&config)?;
        let (m, n) = (plan.max_parallelism(), plan.subtasks());
        self.open = Some(Open {
            producer,
            topic,
            partition_of: (0..m).map(|kg| (kg * n / m) as i32).collect(),
            partitions: n as i32,
            max_parallelism: m,
            ctx: ctx.clone(),
        });
        Ok(())
    }

    fn record(&mut self, record: (K, T), ts: Timestamp) {
        let Some(o) = &self.open else { return };
        let origin = wire::origin();
        if origin == self.last_origin {
            self.rank += 1;
        } else {
            self.last_origin = origin;
            self.rank = 0;
        }
        let partition = o.partition_of[key_group_of(&record.0, o.max_parallelism)];
        wire::record_header(&mut self.buf, origin, self.rank, ts);
        let sent = self
            .codec
            .encode(&record, &mut self.buf)
            .map_err(|e| format!("cannot write a record as JSON: {e}"))
            .and_then(|()| o.producer.send_to(&o.topic, Some(partition), None, &self.buf));
        if let Err(e) = sent {
            o.ctx
                .fail(JobError::Other(format!("internal topic `{}`: {e}", o.topic)));
        }
    }

    /// The source's merged watermark rose: the partitions' watermarks are sent (at most every
    /// [`WATERMARK_EVERY`]); the keyed stage merges them itself.
    fn watermark(&mut self, _wm: Timestamp) {
        if self.last_sent.elapsed() >= WATERMARK_EVERY {
            self.send_watermarks();
        }
    }

    /// The source commits its offsets after a barrier: everything before it must be on the
    /// broker first.
    fn checkpoint(&mut self, _barrier: Barrier) {
        self.flush_all();
    }

    fn flush(&mut self) {
        self.send_watermarks();
    }

    fn end(&mut self) {
        self.flush_all();
    }
}
