//! The I/O side of one PostgreSQL sink instance: a thread of its own that owns the
//! instance's connection and does all its writing, so that neither the worker's record loop
//! nor the thread completing a checkpoint (which holds the coordinator's lock) ever waits for
//! the database.
//!
//! The instance talks to it through [`Io`], over a **bounded** channel of [`Command`]s:
//!
//! - without checkpoints the worker sends each full batch of rows ([`Io::write`]); while
//!   [`QUEUED_BATCHES`] batches wait, sending blocks the worker, which slows its input down
//!   (backpressure) and bounds the rows in memory;
//! - with checkpoints the worker seals each interval's rows into [`Io::sealed`] at its
//!   barrier, and the sink's [`CheckpointListener`](crate::checkpoint::CheckpointListener)
//!   only records that checkpoint `n` completed ([`Io::completed`], which never blocks); the
//!   thread then commits every sealed batch up to `n` in one transaction. A batch leaves
//!   [`Io::sealed`] only once its commit succeeded, so a snapshot taken meanwhile still holds
//!   it (a restore skips it by its commit row) and never misses one that is not in the table;
//! - [`Io::wait`] returns once everything sent before it is written and every completed
//!   checkpoint committed: the end of input (without checkpoints) and the job's final
//!   checkpoint (with them) wait so, and the job returns only after its last rows are in the
//!   table.
//!
//! The first failed write or commit is reported to the job ([`TaskContext::fail`]) by the
//! thread, with the message the sink always gave; after it, and once the job has failed
//! elsewhere, the thread writes nothing more (a failed attempt commits nothing: a restore
//! finishes its commits) but keeps draining the channel, so the worker never blocks on it.
//!
//! The thread ends once the instance and its listener (which the checkpoint coordinator
//! holds) are gone; it holds no coordinator itself, so that a finished job leaves neither
//! thread nor connection behind.
//!
//! One thread per instance, each blocking on the instance's own single-threaded tokio
//! runtime ([`Db`]), rather than one tokio runtime shared by the job: an instance has one
//! connection and its commits must run one after the other, in checkpoint order, so a plain
//! thread is the simplest executor that keeps them ordered; instances are as many as the
//! job's parallelism, and each one starts, fails and stops on its own, with nothing global
//! to set up or shut down.

use super::db::{Db, Forget, Planned};
use super::row::Row;
use super::sql::{self, TableInfo};
use super::{Batch, WriteMode};
use crate::{JobError, TaskContext};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Full batches that may wait for the I/O thread (without checkpoints) before the worker
/// blocks: with the batch being written and the one filling, at most `QUEUED_BATCHES + 2`
/// batches of rows are in memory per instance.
pub(crate) const QUEUED_BATCHES: usize = 2;

/// What the instance asks of its I/O thread.
enum Command {
    /// Write these rows now, each statement committed on its own (no checkpoints).
    Write { columns: Vec<String>, rows: Vec<Row> },
    /// A checkpoint completed ([`Shared::completed`] says which).
    Completed,
    /// Commit the batches of a restored snapshot, and say how many were written and skipped.
    Restore {
        batches: Vec<Batch>,
        reply: Sender<Result<(usize, usize), JobError>>,
    },
    /// Say, once everything before is done, the first error if there was one.
    Wait { reply: Sender<Option<String>> },
}

/// What the instance and its I/O thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Batches whose commit has not succeeded yet (see [`Io::sealed`]).
    sealed: Mutex<Vec<Arc<Batch>>>,
    /// The newest checkpoint known complete.
    completed: AtomicU64,
    /// The number of the job's final checkpoint, once the instance has ended (0 before).
    final_id: AtomicU64,
    /// A write or commit failed: nothing more is written.
    broken: AtomicBool,
    /// The first failure's message.
    error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The instance's handle on its I/O thread (also held by its checkpoint listener). The
/// thread ends when every handle is gone.
///
/// The [`Completed`](Command::Completed) a listener sends may find the channel full and be
/// dropped; the thread still sees the checkpoint after the command that filled it. The
/// final [`wait`](Io::wait) comes after every listener call, so nothing completed is ever
/// left uncommitted when the job returns.
#[derive(Debug, Clone)]
pub(crate) struct Io {
    tx: Sender<Command>,
    shared: Arc<Shared>,
    /// The sink's name, for errors.
    sink: String,
}

/// The error when the I/O thread is gone (it panicked).
fn gone(sink: &str) -> JobError {
    JobError::Other(format!("postgres sink `{sink}`: its I/O thread stopped"))
}

impl Io {
    /// Starts the I/O thread of `writer`, reporting its failures to `ctx`.
    pub(crate) fn start(writer: Writer, ctx: &TaskContext) -> Result<Io, JobError> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUED_BATCHES);
        let shared = Arc::new(Shared::default());
        // Without the coordinator, which holds the sink's listener and with it a sender:
        // the thread ends once the instance and the coordinator are gone.
        let ctx = ctx.with_checkpoints(None);
        let (sink, thread_shared) = (writer.sink.clone(), Arc::clone(&shared));
        std::thread::Builder::new()
            .name(format!("fuseflow-pg-{}", writer.subtask))
            .spawn(move || run(writer, &rx, &thread_shared, &ctx))
            .map_err(|e| JobError::Other(format!("postgres sink `{sink}`: cannot start its I/O thread: {e}")))?;
        Ok(Io { tx, shared, sink })
    }

    /// Whether a write or commit failed (it was reported to the job).
    pub(crate) fn broken(&self) -> bool {
        self.shared.broken.load(Ordering::Acquire)
    }

    /// Hands a full batch to the I/O thread, waiting while [`QUEUED_BATCHES`] wait already.
    pub(crate) fn write(&self, columns: &[String], rows: Vec<Row>) -> Result<(), JobError> {
        let write = Command::Write {
            columns: columns.to_vec(),
            rows,
        };
        self.tx.send(write).map_err(|_| gone(&self.sink))
    }

    /// The sealed batches not known committed: the worker adds each interval's batch at its
    /// barrier and snapshots them; the I/O thread removes them once committed.
    pub(crate) fn sealed(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Batch>>> {
        lock(&self.shared.sealed)
    }

    /// Checkpoint `id` completed: the I/O thread commits the sealed batches up to it.
    /// Never blocks (a full channel already holds a command after which the thread looks).
    pub(crate) fn completed(&self, id: u64) -> Result<(), JobError> {
        self.shared.completed.fetch_max(id, Ordering::AcqRel);
        match self.tx.try_send(Command::Completed) {
            Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(gone(&self.sink)),
        }
    }

    /// Records the number of the job's final checkpoint (the instance has ended).
    pub(crate) fn set_final(&self, id: u64) {
        self.shared.final_id.store(id, Ordering::Release);
    }

    /// Whether `id` is the job's final checkpoint (taken after every task has ended).
    pub(crate) fn is_final(&self, id: u64) -> bool {
        let f = self.shared.final_id.load(Ordering::Acquire);
        f != 0 && id >= f
    }

    /// Commits the batches of a restored snapshot now, returning how many were written and
    /// how many skipped (committed already).
    pub(crate) fn restore(&self, batches: Vec<Batch>) -> Result<(usize, usize), JobError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.tx
            .send(Command::Restore { batches, reply })
            .map_err(|_| gone(&self.sink))?;
        answer.recv().map_err(|_| gone(&self.sink))?
    }

    /// Waits until everything handed over before is written and every completed checkpoint
    /// committed; the first failure's message, if any.
    pub(crate) fn wait(&self) -> Result<(), JobError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.tx.send(Command::Wait { reply }).map_err(|_| gone(&self.sink))?;
        match answer.recv().map_err(|_| gone(&self.sink))? {
            None => Ok(()),
            Some(e) => Err(JobError::Other(e)),
        }
    }
}

/// The I/O thread: does what it is asked, in order, and after each command commits what
/// completed checkpoints made due.
fn run(mut writer: Writer, rx: &Receiver<Command>, shared: &Shared, ctx: &TaskContext) {
    let mut committed = 0;
    // A failed attempt writes nothing more: a restore goes on from its checkpoint.
    let working = || !shared.broken.load(Ordering::Acquire) && !ctx.failed();
    let fail = |e: JobError| {
        let message = e.to_string();
        let mut first = lock(&shared.error);
        if first.is_none() {
            *first = Some(message);
            shared.broken.store(true, Ordering::Release);
            ctx.fail(e);
        }
    };
    while let Ok(command) = rx.recv() {
        let reply = match command {
            Command::Write { columns, rows } => {
                if working()
                    && let Err(e) = writer.write(&columns, &rows)
                {
                    fail(e);
                }
                None
            }
            Command::Restore { batches, reply } => {
                let _ = reply.send(writer.commit(&batches.iter().collect::<Vec<_>>(), false));
                None
            }
            Command::Completed => None,
            Command::Wait { reply } => Some(reply),
        };
        // Also after a `Completed` that found the channel full: it was not sent, but this
        // command was, and checks for it.
        let id = shared.completed.load(Ordering::Acquire);
        if id > committed && working() {
            match writer.commit_up_to(id, &shared.sealed) {
                Ok(()) => committed = id,
                Err(e) => fail(e),
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(lock(&shared.error).clone());
        }
    }
}

/// One sink instance's connection and table, owned by its I/O thread.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) db: Db,
    pub(crate) table: TableInfo,
    pub(crate) mode: WriteMode,
    pub(crate) batch_size: usize,
    pub(crate) job: String,
    pub(crate) sink: String,
    pub(crate) subtask: usize,
    pub(crate) subtasks: usize,
    /// The checkpoint the run started from (0: fresh), until the first commit has
    /// forgotten the commits after it.
    pub(crate) forget: Option<u64>,
    /// Statements by column list.
    pub(crate) statements: BTreeMap<Vec<String>, String>,
}

impl Writer {
    /// The statement writing rows with `columns`.
    fn statement(&mut self, columns: &[String]) -> Result<&str, String> {
        if !self.statements.contains_key(columns) {
            let sql = sql::write_statement(&self.table, &self.mode, columns)?;
            self.statements.insert(columns.to_vec(), sql);
        }
        Ok(&self.statements[columns])
    }

    /// The rows of `rows` a statement writes: for an upsert, the last of each key.
    fn rows_to_write<'r>(&self, columns: &[String], rows: &'r [Row]) -> Result<Vec<&'r Row>, String> {
        Ok(match &self.mode {
            WriteMode::Insert => rows.iter().collect(),
            WriteMode::Upsert { key } => sql::last_per_key(rows, &sql::key_positions(key, columns)?),
        })
    }

    /// `postgres sink `x`: <what> table `t` at host:port/db: <e>`.
    fn error(&self, what: &str, e: impl std::fmt::Display) -> JobError {
        JobError::Other(format!(
            "postgres sink `{}`: {what} table `{}` at {}: {e}",
            self.sink,
            self.table.name,
            self.db.target()
        ))
    }

    /// Writes `rows` now, each statement committed on its own (no checkpoints).
    fn write(&mut self, columns: &[String], rows: &[Row]) -> Result<(), JobError> {
        let sink = self.sink.clone();
        let refused = |e: String| JobError::Other(format!("postgres sink `{sink}`: {e}"));
        let sql = self.statement(columns).map_err(refused)?.to_owned();
        let rows = self.rows_to_write(columns, rows).map_err(refused)?;
        let chunk = self.batch_size;
        self.db
            .write(&sql, columns.len(), &rows, chunk)
            .map_err(|e| self.error("cannot write to", e))
    }

    /// Commits `batches` in one transaction, skipping those committed already; with
    /// `forget`, first forgets the commits of the history this run replaced. Returns the
    /// number of batches written and skipped.
    fn commit(&mut self, batches: &[&Batch], forget: bool) -> Result<(usize, usize), JobError> {
        let forget = match (forget, self.forget) {
            (true, Some(after)) => Some(Forget {
                subtask: self.subtask,
                subtasks: self.subtasks,
                after,
            }),
            _ => None,
        };
        if batches.is_empty() && forget.is_none() {
            return Ok((0, 0));
        }
        let sink = self.sink.clone();
        let statements: Vec<String> = batches
            .iter()
            .map(|b| self.statement(&b.columns).map(str::to_owned))
            .collect::<Result<_, _>>()
            .map_err(|e| JobError::Other(format!("postgres sink `{sink}`: {e}")))?;
        let mut planned = Vec::with_capacity(batches.len());
        for (b, sql) in batches.iter().zip(&statements) {
            planned.push(Planned {
                origin: b.origin,
                id: b.id.unwrap_or(0),
                sql,
                rows: self
                    .rows_to_write(&b.columns, &b.rows)
                    .map_err(|e| JobError::Other(format!("postgres sink `{sink}`: {e}")))?,
                width: b.columns.len(),
            });
        }
        let chunk = self.batch_size;
        let (job, table_sink) = (self.job.clone(), self.sink.clone());
        let (written, forgotten) = self
            .db
            .commit(&job, &table_sink, forget.as_ref(), &planned, chunk)
            .map_err(|e| {
                let ids: Vec<String> = batches.iter().map(|b| b.id.unwrap_or(0).to_string()).collect();
                self.error(&format!("cannot commit checkpoint {} to", ids.join(", ")), e)
            })?;
        if let Some(f) = &forget {
            self.forget = None;
            if forgotten > 0 && f.after > 0 {
                let warning = format!(
                    "postgres sink `{}`: this run restored checkpoint {}, but {forgotten} later commit(s) of the \
                     run it replaces wrote rows into table `{}`: they stay, and rows this run writes again may \
                     duplicate them (restore the newest checkpoint to avoid this)",
                    self.sink, f.after, self.table.name
                );
                tracing::warn!("{warning}");
                eprintln!("warning: {warning}");
            }
        }
        let n = written.iter().filter(|w| **w).count();
        Ok((n, written.len() - n))
    }

    /// Commits the sealed batches of checkpoints up to `id`, and then removes them from
    /// `sealed`. They stay there while the transaction runs, so a snapshot taken meanwhile
    /// keeps them: if the commit fails, a restore from that snapshot commits them.
    fn commit_up_to(&mut self, id: u64, sealed: &Mutex<Vec<Arc<Batch>>>) -> Result<(), JobError> {
        let due: Vec<Arc<Batch>> = lock(sealed)
            .iter()
            .filter(|b| b.id.is_some_and(|b| b <= id))
            .cloned()
            .collect();
        self.commit(&due.iter().map(Arc::as_ref).collect::<Vec<_>>(), true)?;
        lock(sealed).retain(|b| !due.iter().any(|d| Arc::ptr_eq(b, d)));
        Ok(())
    }
}
