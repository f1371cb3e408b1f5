//! `fold`: folds every record into an accumulator, one per parallel instance, and hands the
//! accumulators to a [`Folded`] handle at the end of input (Flink's accumulators).
//!
//! This is the sink for checksums and totals: each worker folds its own records without
//! sharing anything on the hot path, and the caller merges the per-worker results after
//! `run` returns. At parallelism 1 there is exactly one accumulator.

use crate::checkpoint::{Stateful, decode, encode, own_part};
use crate::{AttemptOutcome, Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};

/// A handle receiving the accumulators of a [`fold`] sink, one per parallel instance.
#[derive(Debug)]
pub struct Folded<A> {
    done: Arc<Mutex<Vec<(AttemptOutcome, A)>>>,
}

impl<A> Clone for Folded<A> {
    fn clone(&self) -> Self {
        Folded {
            done: Arc::clone(&self.done),
        }
    }
}

impl<A> Default for Folded<A> {
    fn default() -> Self {
        Folded { done: Arc::default() }
    }
}

impl<A> Folded<A> {
    /// An empty handle.
    pub fn new() -> Self {
        Folded::default()
    }

    /// Takes the accumulators delivered so far (one per parallel instance that finished),
    /// leaving out those of a job attempt that failed.
    pub fn take(&self) -> Vec<A> {
        let done = std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()));
        done.into_iter()
            .filter(|(outcome, _)| !outcome.failed())
            .map(|(_, acc)| acc)
            .collect()
    }
}

/// The sink behind [`fold`].
#[derive(Debug, Clone)]
pub struct FoldSink<A, F> {
    acc: Option<A>,
    f: F,
    done: Folded<A>,
    count: u64,
    ctx: Option<TaskContext>,
}

/// A sink folding each record into a copy of `init` with `f`; the accumulators go to `handle`
/// at the end of input.
///
/// ```
/// use fuseflow_runtime::{Job, JobSpec, source, sink};
/// let totals = sink::Folded::new();
/// let src = source::generate(10, |i| i);
/// let ty = src.ty();
/// let mut job = Job::new(JobSpec::default());
/// job.add_source("numbers", src, sink::fold(ty, &totals, 0u64, |acc: &mut u64, x| *acc += x));
/// job.run().unwrap();
/// assert_eq!(totals.take().iter().sum::<u64>(), 45);
/// ```
pub fn fold<T, A, F: FnMut(&mut A, T)>(_ty: Ty<T>, handle: &Folded<A>, init: A, f: F) -> FoldSink<A, F> {
    FoldSink {
        acc: Some(init),
        f,
        done: handle.clone(),
        count: 0,
        ctx: None,
    }
}

impl<T, A, F: FnMut(&mut A, T)> Collector<T> for FoldSink<A, F> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        if let Some(acc) = self.acc.as_mut() {
            (self.f)(acc, record);
            self.count += 1;
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

    fn end(&mut self) {
        // A failed attempt delivers nothing: a restarted job folds from its checkpoint.
        if self.ctx.as_ref().is_some_and(TaskContext::failed) {
            self.acc = None;
            return;
        }
        if let Some(acc) = self.acc.take() {
            let outcome = self.ctx.as_ref().map(TaskContext::outcome).unwrap_or_default();
            self.done
                .done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((outcome, acc));
        }
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
        }
    }
}

/// The state is the accumulator.
impl<A: Serialize + DeserializeOwned, F> Stateful for FoldSink<A, F> {
    fn schema(&self) -> String {
        format!("fold acc={}", std::any::type_name::<A>())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        encode(&self.acc)
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        if let Some(bytes) = own_part(parts, ctx)? {
            self.acc = decode(&bytes)?;
        }
        Ok(())
    }
}
