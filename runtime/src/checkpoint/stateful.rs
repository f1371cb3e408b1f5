//! How an operator takes part in checkpoints: the [`Stateful`] trait it implements, and the
//! [`Checkpointed`] wrapper that `pipeline!` puts around it when the job takes checkpoints (or
//! names its state backend).
//!
//! The wrapper is what keeps checkpoints free for jobs that do not take them: only a job with
//! checkpoint settings (or a `state_backend` setting) wraps its stateful operators, and only
//! there must their state types be serializable (`serde`), as Flink requires of state types.
//! For the same reason the wrapper is what moves the state of the windows and of keyed
//! `reduce` into the job's state backend ([`Stateful::use_state_backend`]): an operator that
//! is not wrapped keeps its state in its own heap tables, and says so on stderr if the job
//! was started on a byte backend (`--state-backend rocksdb`).
//!
//! At a barrier the wrapper asks the operator for its snapshot and writes it into the
//! checkpoint; when the job restores, it hands the operator the snapshots of every instance of
//! the checkpointed job, and a keyed operator keeps the keys whose key group this instance
//! owns, so a job can restore on another parallelism (Flink's key-group rescaling).

use super::Barrier;
use crate::{Collector, JobError, TaskContext, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::{BuildHasher, Hash};

/// The snapshots of every instance of an operator in a checkpoint: `(subtask, bytes)`.
pub type Parts = Vec<(usize, Vec<u8>)>;

/// An operator whose state a checkpoint saves.
pub trait Stateful {
    /// The Rust types (and settings that give them meaning) of the state, e.g.
    /// `event_time_window size=10000ms key=alloc::string::String acc=u64`. A checkpoint
    /// whose schema for this operator differs is refused.
    fn schema(&self) -> String;

    /// The operator's state, encoded (see [`encode`]). Takes `&mut self` because an
    /// operator whose state is in a state backend reads it through the backend.
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError>;

    /// Restores from the snapshots of every instance of the operator in the checkpoint,
    /// `(subtask, bytes)`; keyed operators keep the keys of the key groups `ctx` owns
    /// ([`TaskContext::owns_key`]).
    fn restore(&mut self, parts: Parts, ctx: &TaskContext) -> Result<(), JobError>;

    /// Moves the operator's state into the job's state backend ([`TaskContext::state_backend`])
    /// if that is a byte-level backend (RocksDB, or
    /// [`StateBackendConfig::in_memory_bytes`](crate::state::StateBackendConfig::in_memory_bytes))
    /// and the operator keeps its state in tables of its own otherwise (the windows and keyed
    /// `reduce`). `operator` is the stable id the state is saved under.
    ///
    /// [`Checkpointed`] calls it before the operator's `open`, so an operator can tell that
    /// its state types are serializable (this trait's bounds) and that it may leave its heap
    /// tables. The default keeps the state where it is (operators whose state is not keyed,
    /// and keyed `process`, which always uses the job's backend).
    fn use_state_backend(&mut self, ctx: &TaskContext, operator: &'static str) -> Result<(), JobError> {
        let _ = (ctx, operator);
        Ok(())
    }
}

/// Encodes a snapshot with postcard.
pub fn encode<S: Serialize>(state: &S) -> Result<Vec<u8>, JobError> {
    postcard::to_stdvec(state).map_err(|e| JobError::Other(format!("cannot encode state: {e}")))
}

/// Decodes a snapshot written by [`encode`].
pub fn decode<S: DeserializeOwned>(bytes: &[u8]) -> Result<S, JobError> {
    postcard::from_bytes(bytes).map_err(|e| JobError::Other(format!("cannot decode checkpointed state: {e}")))
}

/// The key group of `key`, in `0..max_parallelism`: a fixed-seed hash (the same in every run
/// and process) mapped onto the range by a multiply-shift. The hash exchange routes by it.
#[inline]
pub fn key_group_of<K: Hash + ?Sized>(key: &K, max_parallelism: usize) -> usize {
    let h = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key);
    ((u128::from(h) * max_parallelism as u128) >> 64) as usize
}

/// A stateful operator that saves its state at every barrier and restores it when the job
/// resumes from a checkpoint; see the [module docs](crate::checkpoint).
pub struct Checkpointed<C> {
    inner: C,
    operator: &'static str,
    ctx: Option<TaskContext>,
}

/// Wraps `inner`, whose state is saved under the stable id `operator`.
pub fn checkpointed<C>(inner: C, operator: &'static str) -> Checkpointed<C> {
    Checkpointed {
        inner,
        operator,
        ctx: None,
    }
}

impl<C> Checkpointed<C> {
    /// The wrapped operator.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<T, C: Collector<T> + Stateful> Collector<T> for Checkpointed<C> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.inner
            .use_state_backend(ctx, self.operator)
            .map_err(|e| JobError::Other(format!("operator `{}`: {e}", self.operator)))?;
        self.inner.open(ctx)?;
        if let Some(cp) = ctx.checkpoints()
            && let Some(parts) = cp.restored_state(self.operator, &self.inner.schema())?
        {
            self.inner
                .restore(parts, ctx)
                .map_err(|e| JobError::Other(format!("operator `{}`: {e}", self.operator)))?;
        }
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        self.inner.record(record, ts);
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        self.inner.watermark(wm);
    }

    fn checkpoint(&mut self, barrier: Barrier) {
        if let Some(ctx) = &self.ctx
            && let Some(cp) = ctx.checkpoints()
        {
            let written = self.inner.snapshot().and_then(|bytes| {
                cp.write_state(barrier.id, self.operator, ctx.subtask(), &self.inner.schema(), &bytes)
            });
            if let Err(e) = written {
                ctx.fail(JobError::Other(format!("operator `{}`: {e}", self.operator)));
            }
        }
        self.inner.checkpoint(barrier);
    }

    fn flush(&mut self) {
        self.inner.flush();
    }

    fn end(&mut self) {
        self.inner.end();
    }
}

/// Says on stderr (once per operator, from instance 0) that an operator keeps its state in
/// its own heap tables although the job runs on a byte-level state backend: what an operator
/// that can use the backend does when it was not wrapped by [`checkpointed`] (a job without
/// checkpoints and without a `state_backend` setting, started with `--state-backend
/// rocksdb`), so the flag is never silently ignored.
pub(crate) fn warn_heap_state(ctx: &TaskContext, what: &str) {
    if ctx.subtask() == 0 && matches!(ctx.state_backend(), crate::state::StateBackendConfig::Backend(_)) {
        tracing::warn!("{what} keeps its state in memory, not in the job's state backend");
        eprintln!(
            "warning: the {what} keeps its state in memory, not in the job's state backend: a job \
             without checkpoints keeps window and reduce state in the state backend only when its \
             settings say `state_backend: rocksdb` (see docs/rocksdb.md)"
        );
    }
}

/// The snapshot of this instance among `parts`, for operators whose state is not keyed: it
/// restores only on the parallelism it was taken with.
pub(crate) fn own_part(parts: Parts, ctx: &TaskContext) -> Result<Option<Vec<u8>>, JobError> {
    let n = parts.len();
    if n != ctx.subtasks() {
        return Err(JobError::Other(format!(
            "its state is not keyed and was saved by {n} parallel instances; restore it with parallelism {n}, not {}",
            ctx.subtasks()
        )));
    }
    Ok(parts.into_iter().find(|(s, _)| *s == ctx.subtask()).map(|(_, b)| b))
}
