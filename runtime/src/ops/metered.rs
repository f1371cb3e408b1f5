//! `Metered`: counts the records that reach an operator, for the per-operator metrics
//! (`fuseflow_operator_records_total{operator="…"}` on `--metrics-addr`).
//!
//! `pipeline!` puts one in front of every sink and of the first operator of every chain (the
//! records a source emitted, and those that crossed an exchange into each worker). Operators
//! fused inside a chain are not metered one by one: counting there would put a shared write
//! on the hot path. The count is a local increment per record, added to the shared counter
//! every [`PUBLISH_EVERY`] records and at the end of input.

use crate::checkpoint::Barrier;
use crate::{Collector, JobError, TaskContext, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Records counted locally before they are added to the shared counter.
pub const PUBLISH_EVERY: u64 = 4096;

/// Counts the records reaching `next`, under the operator name `operator`.
pub struct Metered<C> {
    operator: &'static str,
    shared: Option<Arc<AtomicU64>>,
    local: u64,
    next: C,
}

/// Meters `next` under `operator`.
pub fn metered<C>(next: C, operator: &'static str) -> Metered<C> {
    Metered {
        operator,
        shared: None,
        local: 0,
        next,
    }
}

impl<C> Metered<C> {
    #[cold]
    fn publish(&mut self) {
        if let Some(c) = &self.shared {
            c.fetch_add(std::mem::take(&mut self.local), Ordering::Relaxed);
        }
    }
}

impl<T, C: Collector<T>> Collector<T> for Metered<C> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.shared = Some(ctx.counters().operator(self.operator));
        self.next.open(ctx)
    }

    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        self.local += 1;
        if self.local >= PUBLISH_EVERY {
            self.publish();
        }
        self.next.record(record, ts);
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        self.next.watermark(wm);
    }

    fn checkpoint(&mut self, barrier: Barrier) {
        self.next.checkpoint(barrier);
    }

    fn flush(&mut self) {
        self.next.flush();
    }

    fn end(&mut self) {
        self.publish();
        self.next.end();
    }
}
