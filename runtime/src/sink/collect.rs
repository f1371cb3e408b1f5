//! `collect`: a sink that gathers records into a shared, cloneable [`Collected`] handle, for
//! tests, examples and small results read back by the program. Records are buffered in the
//! sink and appended to the shared vector once, at the end of input, so collecting costs no
//! lock per record.

use crate::{AttemptOutcome, Collector, JobError, TaskContext, Timestamp, Ty};
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared vector that [`collect`] sinks append to; clones share the same vector.
///
/// Each sink instance appends its records at its end of input, as one batch tagged with its
/// job attempt's [`AttemptOutcome`]: the batches of an attempt that failed (a restarted job
/// delivers their records again) are never returned.
pub struct Collected<T> {
    inner: Arc<Mutex<Vec<Batch<T>>>>,
}

/// The records one sink instance delivered, with its attempt's outcome.
type Batch<T> = (AttemptOutcome, Vec<T>);

impl<T> Collected<T> {
    /// An empty handle.
    pub fn new() -> Self {
        Collected {
            inner: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Takes every record collected so far, leaving the handle empty.
    pub fn take(&self) -> Vec<T> {
        let batches = std::mem::take(&mut *self.lock());
        batches
            .into_iter()
            .filter(|(outcome, _)| !outcome.failed())
            .flat_map(|(_, batch)| batch)
            .collect()
    }

    /// The number of records collected so far.
    pub fn len(&self) -> usize {
        self.lock()
            .iter()
            .filter(|(outcome, _)| !outcome.failed())
            .map(|(_, batch)| batch.len())
            .sum()
    }

    /// Whether no record has been collected yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Batch<T>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected::new()
    }
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Collected<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected").field("len", &self.len()).finish()
    }
}

/// The sink behind [`collect`].
pub struct CollectSink<T> {
    buffer: Vec<T>,
    handle: Collected<T>,
    ctx: Option<TaskContext>,
}

impl<T> Clone for CollectSink<T> {
    fn clone(&self) -> Self {
        CollectSink {
            buffer: Vec::new(),
            handle: self.handle.clone(),
            ctx: None,
        }
    }
}

/// A sink appending every record to `handle` at the end of input.
pub fn collect<T>(_ty: Ty<T>, handle: &Collected<T>) -> CollectSink<T> {
    CollectSink {
        buffer: Vec::new(),
        handle: handle.clone(),
        ctx: None,
    }
}

impl<T> Collector<T> for CollectSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        self.buffer.push(record);
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

    fn end(&mut self) {
        // A failed attempt's records are dropped: a restarted job delivers them again.
        if self.ctx.as_ref().is_some_and(TaskContext::failed) {
            self.buffer.clear();
            return;
        }
        let n = self.buffer.len() as u64;
        let outcome = self.ctx.as_ref().map(TaskContext::outcome).unwrap_or_default();
        self.handle.lock().push((outcome, std::mem::take(&mut self.buffer)));
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn appends_at_end_and_counts() {
        let ctx = TaskContext::detached();
        let out = Collected::default();
        let mut sink = collect(Ty::of(), &out);
        sink.open(&ctx).unwrap();
        sink.record("a", 0);
        sink.record("b", 1);
        assert!(out.is_empty(), "nothing is shared before the end of input");
        sink.end();
        assert_eq!(out.len(), 2);
        assert_eq!(out.clone().take(), ["a", "b"]);
        assert!(out.is_empty());
        assert_eq!(ctx.counters().records_out.load(Ordering::Relaxed), 2);
        assert_eq!(format!("{out:?}"), "Collected { len: 0 }");
    }
}
