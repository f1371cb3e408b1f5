//! The push-based contract every fused operator, sink and exchange implements.
//!
//! A chain is a nest of [`Collector`]s: a source calls [`Collector::record`] on the first
//! operator, which transforms the record and calls the next one, down to a sink. Because every
//! operator is a generic struct holding its successor by value, rustc monomorphizes and inlines
//! the whole chain into straight-line code: no virtual call, channel hop or allocation per
//! record. Control messages (watermarks, end of input) travel through the same methods,
//! in-band with the data, as in Flink.

use crate::checkpoint::Barrier;
use crate::job::{JobError, TaskContext};
use std::marker::PhantomData;

/// Event time in milliseconds since the Unix epoch (negative values are valid).
pub type Timestamp = i64;

/// The timestamp carried by records that have none (no timestamp extractor upstream).
pub const NO_TIMESTAMP: Timestamp = i64::MIN;

/// The watermark sent at the end of a bounded input: every event-time window fires.
pub const MAX_WATERMARK: Timestamp = i64::MAX;

/// The watermark before any record was seen.
pub const MIN_WATERMARK: Timestamp = i64::MIN;

/// Receives the records of one stream, with their timestamps, and its control messages.
///
/// Implementors forward [`open`](Collector::open), [`watermark`](Collector::watermark) and
/// [`end`](Collector::end) to their successors, so that a message sent into the head of a
/// chain reaches every operator in it.
///
/// ```
/// use fuseflow_runtime::{Collector, Collected, TaskContext};
/// let out = Collected::new();
/// let mut sink = fuseflow_runtime::sink::collect(fuseflow_runtime::Ty::of(), &out);
/// sink.open(&TaskContext::detached()).unwrap();
/// sink.record(7u32, 0);
/// sink.end();
/// assert_eq!(out.take(), vec![7]);
/// ```
pub trait Collector<T> {
    /// Prepares the operator (opens files, takes handles to counters) before the first record.
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError>;
    /// Processes one record with its event timestamp ([`NO_TIMESTAMP`] when it has none).
    fn record(&mut self, record: T, ts: Timestamp);
    /// Advances event time: no record with a timestamp at or below `wm` is expected any more.
    fn watermark(&mut self, wm: Timestamp);
    /// A checkpoint barrier: everything before it has been processed. A stateful operator
    /// saves its state (see [`Checkpointed`](crate::checkpoint::Checkpointed)), a file sink
    /// pre-commits its output; every operator then forwards the barrier to its successors.
    fn checkpoint(&mut self, barrier: Barrier);
    /// A live source is waiting for input: hand on what is buffered (exchange batches, sink
    /// buffers) so that records do not wait for more to arrive. Operators forward it; the
    /// default does nothing, which only delays output, never changes it.
    fn flush(&mut self) {}
    /// The input is exhausted; flush everything. Called once, after a final watermark.
    fn end(&mut self);
}

/// A zero-sized witness of a stream's element type.
///
/// Generated code threads one `Ty<T>` through the dataflow in topological order so that every
/// user closure is type-checked against the exact type of its input, and a type error lands on
/// the operator that caused it.
pub struct Ty<T>(PhantomData<fn() -> T>);

impl<T> Ty<T> {
    /// The witness of `T`.
    pub const fn of() -> Self {
        Ty(PhantomData)
    }
}

impl<T> Clone for Ty<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Ty<T> {}

impl<T> std::fmt::Debug for Ty<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ty<{}>", std::any::type_name::<T>())
    }
}

/// Fans one stream out to two consumers (a stream used by several operators).
///
/// The record is cloned for the first consumer and moved into the second; nest `Tee`s for
/// more consumers.
pub struct Tee<A, B> {
    first: A,
    second: B,
}

impl<A, B> Tee<A, B> {
    /// Sends every record and control message to `first`, then to `second`.
    pub fn new(first: A, second: B) -> Self {
        Tee { first, second }
    }
}

impl<T: Clone, A: Collector<T>, B: Collector<T>> Collector<T> for Tee<A, B> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.first.open(ctx)?;
        self.second.open(ctx)
    }
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        self.first.record(record.clone(), ts);
        self.second.record(record, ts);
    }
    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        self.first.watermark(wm);
        self.second.watermark(wm);
    }
    fn checkpoint(&mut self, barrier: Barrier) {
        self.first.checkpoint(barrier);
        self.second.checkpoint(barrier);
    }
    fn flush(&mut self) {
        self.first.flush();
        self.second.flush();
    }
    fn end(&mut self) {
        self.first.end();
        self.second.end();
    }
}

/// A consumer that drops everything: the stand-in for a stream nobody reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl<T> Collector<T> for Discard {
    fn open(&mut self, _ctx: &TaskContext) -> Result<(), JobError> {
        Ok(())
    }
    #[inline]
    fn record(&mut self, _record: T, _ts: Timestamp) {}
    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}
    fn checkpoint(&mut self, _barrier: Barrier) {}
    fn end(&mut self) {}
}
