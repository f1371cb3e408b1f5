//! `postgres`: a sink writing records as rows of a PostgreSQL table, inserted or upserted
//! (`INSERT … ON CONFLICT (key) DO UPDATE`) in batches; exactly-once when the job takes
//! checkpoints.
//!
//! ```no_run
//! use fuseflow_runtime::sink::{self, PgTable};
//! use fuseflow_runtime::{Job, JobSpec, source};
//! #[derive(serde::Serialize)]
//! struct Total { user: String, window_end: i64, clicks: u64 }
//! let src = source::from_iter(vec![Total { user: "ana".into(), window_end: 10_000, clicks: 3 }]);
//! let ty = src.ty();
//! let table = PgTable::upsert("postgres://postgres@127.0.0.1:55432/postgres", "totals", ["user", "window_end"]);
//! let mut job = Job::new(JobSpec::default());
//! job.add_source("totals", src, sink::postgres(ty, table));
//! job.run().unwrap();
//! ```
//!
//! **Rows.** A record's fields are the columns it fills (nested structs and tuples are
//! flattened into columns named by their path, `value_0`); each value travels as text
//! and is cast to its column's type by the server, so integers, floats, strings, booleans,
//! bytes and `Option` (`NULL`) fit any column type that reads them. The first record's
//! columns are checked against the table (a missing column fails the job, naming table and
//! column); a record that cannot be a row (a sequence field, a string with a NUL) goes to the
//! dead-letter output with the reason. Rows are sent `batch_size` at a time (1,000 by
//! default) as one `INSERT … SELECT … FROM unnest($1::text[], …)` statement per batch. An
//! upsert writes only the last row of each key in a batch: the newest result wins.
//!
//! **Without checkpoints** each full batch is handed to the instance's I/O thread (see
//! **Connection**) when it fills, and the rest on [`flush`](crate::Collector::flush) and at
//! the end of input, each statement committed on its own: at-least-once, so a job restarted
//! from the beginning inserts its rows again (an upsert is idempotent and simply writes them
//! again). At most two full batches wait for the thread; then the worker waits too, which
//! slows its input down (backpressure) and bounds the rows in memory. The end of input
//! returns once every row is written, and a failed write fails the job.
//!
//! **With checkpoints** the sink is a write-ahead sink (Flink's `GenericWriteAheadSink`):
//!
//! 1. The rows of checkpoint interval `n` (between barriers `n-1` and `n`) are only
//!    buffered. At barrier `n` the sink's snapshot (its operator state in the checkpoint)
//!    holds them, with every earlier batch not committed yet, and the sink seals them as
//!    batch `n`.
//! 2. When checkpoint `n` completes (its manifest is on disk) the sink is told
//!    ([`CheckpointListener`]), hands that to its I/O thread and returns at once; the thread
//!    writes every sealed batch up to `n` in **one transaction**, which also inserts one row
//!    per batch `(job, sink, subtask, checkpoint, rows)` into the table `fuseflow_commits`
//!    (created if missing). The insert of that row comes first, `ON CONFLICT DO NOTHING`: a
//!    batch already committed is skipped, so a commit can be repeated without writing
//!    anything twice. A batch stays in the sink's state until its commit has succeeded, so
//!    the snapshot of a barrier that passes while the commit runs holds it too (harmless:
//!    restored, it is skipped), and a commit that fails loses nothing.
//! 3. A job restored from checkpoint `n` gives the sink the batches of its snapshot, which
//!    are those that were not committed when checkpoint `n` was taken (interval `n`
//!    included). Checkpoint `n` is complete, so they belong in the table: the sink commits
//!    them at once, and the commit rows skip those the failed run had committed already
//!    (it died after its commit, or between the manifest and its commit). Rows after `n`
//!    were never committed (nothing commits before its checkpoint completes) and are
//!    produced again by the replay.
//! 4. At the end of input the sink asks for one more checkpoint after the final watermark
//!    ([`Coordinator::request_checkpoint_at_end`](crate::checkpoint::Coordinator::request_checkpoint_at_end)),
//!    so its last rows too are in a snapshot before they are committed; the final
//!    checkpoint has nothing left for it, but its listener call (made once every task has
//!    ended) waits until the I/O thread has committed everything: the job returns only
//!    with its rows in the table, or with the error that kept them out.
//!
//! So each row reaches the table exactly once (for an insert) and every upsert is applied in
//! order, whatever moment the process dies at. The identity of a batch is the job's name,
//! the sink's name (the stream's name in `pipeline!`), the instance that first buffered it and
//! its checkpoint: two jobs or sinks writing one database must differ in name. The commits of
//! a history that a run replaces (a fresh start, or a restore from an older checkpoint than
//! the newest) are forgotten in the transaction of the run's first commit; the rows they
//! wrote stay in the table, since a database cannot take back committed writes: restore the
//! newest checkpoint (`--restore latest`) to keep exactly-once. A restore on another
//! parallelism works: instance `i` of `p` takes the snapshots of the old instances `j` with
//! `j % p == i`, and batches keep the number of the instance that wrote them.
//!
//! Rows wait in memory until their checkpoint completes, so a checkpoint interval's output
//! must fit in memory (checkpoint more often if it does not).
//!
//! **Connection.** Each instance has its own connection, made in `open` by `tokio-postgres`
//! on a single-threaded tokio runtime the instance owns, and its own I/O thread, which does
//! every write and commit on that connection, fed through a bounded channel: the worker's
//! record loop and the checkpoint coordinator (whose lock the listener is called under)
//! never wait for the database. A thread per instance rather than one tokio runtime for
//! the job: an instance's writes must run one after the other in order anyway, and an
//! instance starts, fails and stops on its own (the reasons are in the `io` module). The
//! restore in `open` commits synchronously, before records flow. While the server cannot
//! be reached the sink retries with back-off for [`PgTable::connect_timeout`] (10 s), then
//! fails the job naming `host:port/database`; a lost connection is made again before the
//! next write. The URL is the one in the pipeline unless the job was given `--output
//! <sink>=<url>`.
//!
//! **Feature.** The client is behind the `postgres` feature (on by default in
//! `fuseflow-runtime`, `features = ["postgres"]` on `fuseflow`); without it the sink
//! exists but fails when the job starts, naming the feature.

mod io;
mod row;
mod sql;

#[cfg(feature = "postgres")]
mod db;
#[cfg(not(feature = "postgres"))]
#[path = "disabled.rs"]
mod db;

use self::db::Db;
use self::io::{Io, Writer};
use self::row::{Columns, Row};
use self::sql::TableInfo;
use crate::checkpoint::{Barrier, CheckpointListener, Stateful, decode, encode};
use crate::{Collector, DeadLetter, JobError, TaskContext, Timestamp, Ty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Rows per statement unless [`PgTable::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// How long to try to reach the server unless [`PgTable::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether rows are inserted or upserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// `INSERT`: a key that exists already is an error.
    Insert,
    /// `INSERT … ON CONFLICT (key) DO UPDATE`: a row replaces the row with its key.
    Upsert {
        /// The key columns (a primary key or unique constraint of the table).
        key: Vec<String>,
    },
}

/// The table a [`postgres`] sink writes, and how: the argument of `.sink(postgres(…))`.
///
/// ```
/// use fuseflow_runtime::sink::PgTable;
/// use std::time::Duration;
/// let url = "postgres://postgres@127.0.0.1:55432/postgres";
/// let events = PgTable::insert(url, "events").batch_size(5000);
/// let totals = PgTable::upsert(url, "analytics.totals", ["user", "window_end"])
///     .connect_timeout(Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct PgTable {
    url: String,
    table: String,
    mode: WriteMode,
    batch_size: usize,
    connect_timeout: Duration,
}

impl PgTable {
    /// Inserts every record as a row of `table` (`schema.table` or `table`) in the
    /// database at `url` (`postgres://user:password@host:port/database`).
    pub fn insert(url: impl Into<String>, table: impl Into<String>) -> Self {
        PgTable {
            url: url.into(),
            table: table.into(),
            mode: WriteMode::Insert,
            batch_size: DEFAULT_BATCH_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Upserts every record into `table`: a row whose `key` columns match an existing row's
    /// updates that row's other columns (`ON CONFLICT (key) DO UPDATE`). The key must be the
    /// table's primary key or one of its unique constraints, and fields of the records.
    pub fn upsert<K: Into<String>>(
        url: impl Into<String>,
        table: impl Into<String>,
        key: impl IntoIterator<Item = K>,
    ) -> Self {
        PgTable {
            mode: WriteMode::Upsert {
                key: key.into_iter().map(Into::into).collect(),
            },
            ..PgTable::insert(url, table)
        }
    }

    /// Sends at most `rows` rows per statement (default 1,000; at least 1).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Tries to reach the server for at most `timeout` before failing the job (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The table's name, as given.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// A sink writing each record as a row of a PostgreSQL table; see the [module docs](self)
/// for batching, the exactly-once contract with checkpoints and the connection.
pub fn postgres<T: Serialize>(_ty: Ty<T>, table: PgTable) -> PgSink<T> {
    PgSink::unopened(table, None)
}

/// Rows buffered for one checkpoint interval, and who buffered them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    /// The instance that buffered the rows (kept across restores on other parallelisms).
    origin: usize,
    /// The checkpoint that covers them; `None` in a snapshot for the rows buffered since the
    /// last barrier, which belong to the checkpoint the snapshot is part of.
    id: Option<u64>,
    columns: Vec<String>,
    rows: Vec<Row>,
}

/// A snapshot as written: the sealed batches and the rows since the last barrier.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    batches: Vec<BatchRef<'a>>,
}

/// A [`Batch`] by reference (same encoding), so a snapshot copies no rows.
#[derive(Serialize)]
struct BatchRef<'a> {
    origin: usize,
    id: Option<u64>,
    columns: &'a [String],
    rows: &'a [Row],
}

impl<'a> From<&'a Batch> for BatchRef<'a> {
    fn from(b: &'a Batch) -> Self {
        BatchRef {
            origin: b.origin,
            id: b.id,
            columns: &b.columns,
            rows: &b.rows,
        }
    }
}

/// A snapshot as read back.
#[derive(Deserialize)]
struct Snapshot {
    batches: Vec<Batch>,
}

/// Hands each completed checkpoint to an instance's I/O thread, which commits its batches.
/// Returns at once (the coordinator is locked meanwhile), except for the job's final
/// checkpoint: every task has ended then, and the job returns only once the instance's last
/// commits are done (or reports why they failed).
struct Commits(Io);

impl CheckpointListener for Commits {
    fn checkpoint_complete(&self, id: u64) -> Result<(), JobError> {
        self.0.completed(id)?;
        if self.0.is_final(id) {
            return self.0.wait();
        }
        Ok(())
    }
}

/// The sink behind [`postgres`]. Its clones (one per worker) each open their own
/// connection.
pub struct PgSink<T> {
    table: PgTable,
    name: Option<String>,
    columns: Columns,
    /// Rows since the last barrier (with checkpoints) or the last write (without).
    open: Vec<Row>,
    /// The instance's I/O thread, once open.
    io: Option<Io>,
    /// The table as the catalog describes it, to check the first record's columns.
    table_info: Option<TableInfo>,
    ctx: Option<TaskContext>,
    /// Whether the job takes checkpoints.
    checkpoints: bool,
    /// Set by each snapshot, checked at the barrier after it: a sink that is not wrapped in
    /// [`checkpointed`](crate::checkpoint::checkpointed) cannot be exactly-once.
    snapshotted: bool,
    /// A failure was reported: write nothing more.
    broken: bool,
    /// Records accepted, for `records_out`.
    count: u64,
    /// Records received, for dead letters' record numbers.
    seen: u64,
    _ty: PhantomData<fn(T)>,
}

impl<T> Clone for PgSink<T> {
    fn clone(&self) -> Self {
        PgSink::unopened(self.table.clone(), self.name.clone())
    }
}

impl<T> PgSink<T> {
    /// A sink for `table` that has not opened yet (a clone is one too: each worker opens its
    /// own connection).
    fn unopened(table: PgTable, name: Option<String>) -> Self {
        PgSink {
            table,
            name,
            columns: Columns::default(),
            open: Vec::new(),
            io: None,
            table_info: None,
            ctx: None,
            checkpoints: false,
            snapshotted: false,
            broken: false,
            count: 0,
            seen: 0,
            _ty: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for PgSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSink")
            .field("name", &self.name())
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<T> PgSink<T> {
    /// Names the sink: the name its commits are recorded under and that `--output
    /// name=postgres://…` overrides the URL of. `pipeline!` names a sink after the stream it
    /// writes; an unnamed sink goes by its table's name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The sink's name (see [`PgSink::named`]).
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.table.table.clone())
    }

    /// Reports `e` once and stops writing.
    fn fail(&mut self, e: JobError) {
        self.broken = true;
        self.open.clear();
        if let Some(ctx) = &self.ctx {
            ctx.fail(e);
        }
    }

    /// Hands the buffered rows to the I/O thread (no checkpoints), waiting while it is
    /// [`QUEUED_BATCHES`](io::QUEUED_BATCHES) batches behind.
    fn write_open(&mut self) {
        if self.open.is_empty() || self.broken {
            return;
        }
        let (Some(io), Some(columns)) = (&self.io, self.columns.names()) else {
            return;
        };
        if io.broken() {
            // The I/O thread reported why.
            self.broken = true;
            self.open.clear();
            return;
        }
        let rows = std::mem::replace(&mut self.open, Vec::with_capacity(self.table.batch_size));
        if let Err(e) = io.write(columns, rows) {
            self.fail(e);
        }
    }

    /// Seals the buffered rows as the batch of checkpoint `id`.
    fn seal(&mut self, id: u64) {
        if self.open.is_empty() {
            return;
        }
        let (Some(io), Some(columns), Some(ctx)) = (&self.io, self.columns.names(), &self.ctx) else {
            return;
        };
        let batch = Batch {
            origin: ctx.subtask(),
            id: Some(id),
            columns: columns.to_vec(),
            rows: std::mem::take(&mut self.open),
        };
        io.sealed().push(Arc::new(batch));
    }
}

impl<T: Serialize> PgSink<T> {
    #[cold]
    fn dead_letter(&mut self, record: &T, reason: String) {
        let letter = DeadLetter {
            source: self.name(),
            file: None,
            line: self.seen,
            raw: serde_json::to_string(record).unwrap_or_default(),
            reason: format!("cannot be a row of table `{}`: {reason}", self.table.table),
        };
        match &self.ctx {
            Some(ctx) => ctx.dead_letter(&letter),
            None => eprintln!("dead letter: {letter:?}"),
        }
    }

    /// Checks the first record's columns against the table.
    #[cold]
    fn check_columns(&mut self) {
        let (Some(table), Some(columns)) = (&self.table_info, self.columns.names()) else {
            return;
        };
        if let Err(e) = sql::write_statement(table, &self.table.mode, columns) {
            let e = JobError::Other(format!("postgres sink `{}`: {e}", self.name()));
            self.fail(e);
        }
    }
}

impl<T: Serialize> Collector<T> for PgSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        let sink = self.name();
        let url = ctx
            .output_override(&sink)
            .map_or_else(|| self.table.url.clone(), str::to_owned);
        let mut db = Db::connect(&url, &sink, self.table.connect_timeout)?;
        let fail = |db: &Db, e: String| {
            JobError::Other(format!(
                "postgres sink `{sink}`: cannot write table `{}` at {}: {e}",
                self.table.table,
                db.target()
            ))
        };
        let table = db.table(&self.table.table).map_err(|e| fail(&db, e))?;
        if let WriteMode::Upsert { key } = &self.table.mode {
            if key.is_empty() {
                return Err(fail(&db, "an upsert needs at least one key column".into()));
            }
            if let Some(k) = key.iter().find(|k| !table.columns.iter().any(|(c, _)| c == *k)) {
                return Err(fail(
                    &db,
                    format!("the upsert key column `{k}` is not a column of the table"),
                ));
            }
        }
        let coordinator = ctx.checkpoints();
        if coordinator.is_some() {
            db.create_commits_table().map_err(|e| {
                JobError::Other(format!(
                    "postgres sink `{sink}`: cannot create the table `{}` at {}: {e}",
                    sql::COMMITS_TABLE,
                    db.target()
                ))
            })?;
        }
        self.table_info = Some(table.clone());
        let writer = Writer {
            db,
            table,
            mode: self.table.mode.clone(),
            batch_size: self.table.batch_size,
            job: coordinator.map(|c| c.job().to_owned()).unwrap_or_default(),
            sink,
            subtask: ctx.subtask(),
            subtasks: ctx.subtasks(),
            forget: coordinator.map(|c| c.restored_id().unwrap_or(0)),
            statements: BTreeMap::new(),
        };
        let io = Io::start(writer, ctx)?;
        if let Some(c) = coordinator {
            c.add_listener(Arc::new(Commits(io.clone())));
            c.request_checkpoint_at_end();
            self.checkpoints = true;
        }
        self.io = Some(io);
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        if self.broken || self.io.is_none() {
            return;
        }
        self.seen += 1;
        let first = self.columns.names().is_none();
        match self.columns.row(&record) {
            Ok(row) => {
                if first {
                    self.check_columns();
                    if self.broken {
                        return;
                    }
                }
                self.open.push(row);
                self.count += 1;
                if !self.checkpoints && self.open.len() >= self.table.batch_size {
                    self.write_open();
                }
            }
            Err(e) => self.dead_letter(&record, e.0),
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, barrier: Barrier) {
        if self.broken || self.io.is_none() {
            return;
        }
        if !std::mem::take(&mut self.snapshotted) {
            return self.fail(JobError::Other(format!(
                "postgres sink `{}`: the job takes checkpoints but the sink's state is not saved in them: \
                 wrap it in `checkpoint::checkpointed(…)` (pipeline! does)",
                self.name()
            )));
        }
        self.seal(barrier.id);
    }

    fn flush(&mut self) {
        if !self.checkpoints {
            self.write_open();
        }
    }

    fn end(&mut self) {
        let Some(ctx) = self.ctx.clone() else { return };
        if ctx.failed() {
            // A failed attempt commits nothing: a restore goes on from its checkpoint.
            self.open.clear();
            return;
        }
        match ctx.checkpoints() {
            Some(c) => {
                // Empty when the source took its checkpoint at the end of input (it does).
                self.seal(c.final_id());
                // The final checkpoint's listener call waits for the commits.
                if let Some(io) = &self.io {
                    io.set_final(c.final_id());
                }
            }
            None => {
                self.write_open();
                if let Some(io) = &self.io
                    && let Err(e) = io.wait()
                    && !io.broken()
                {
                    // The I/O thread is gone; had a write failed, it would have said why.
                    self.fail(e);
                }
            }
        }
        TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
    }
}

/// A dropped instance (its worker's chain is done, or a scaled-out job moved its key group
/// range away) first lets its I/O thread finish what it was handed; after a failure that
/// is at most the statement in flight.
impl<T> Drop for PgSink<T> {
    fn drop(&mut self) {
        if let Some(io) = &self.io {
            let _ = io.wait();
        }
    }
}

/// The state is the batches not committed yet, and the rows since the last barrier.
impl<T> Stateful for PgSink<T> {
    fn schema(&self) -> String {
        "postgres pending batches v1 (origin, checkpoint, columns, text rows)".into()
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        self.snapshotted = true;
        // Every batch whose commit has not succeeded yet, including one being committed
        // right now: a restore skips it if that commit succeeded.
        let sealed = self.io.as_ref().map(Io::sealed);
        let mut batches: Vec<BatchRef<'_>> = sealed
            .as_ref()
            .map(|s| s.iter().map(|b| BatchRef::from(b.as_ref())).collect())
            .unwrap_or_default();
        if let (false, Some(columns), Some(ctx)) = (self.open.is_empty(), self.columns.names(), &self.ctx) {
            batches.push(BatchRef {
                origin: ctx.subtask(),
                id: None,
                columns,
                rows: &self.open,
            });
        }
        encode(&SnapshotRef { batches })
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        let Some(io) = &self.io else {
            return Err(JobError::Other(
                "the postgres sink was restored before it was opened".into(),
            ));
        };
        let restored = ctx.checkpoints().and_then(|c| c.restored_id()).unwrap_or(0);
        let mut batches = Vec::new();
        for (subtask, bytes) in parts {
            if subtask % ctx.subtasks() != ctx.subtask() {
                continue;
            }
            let snapshot: Snapshot = decode(&bytes)?;
            batches.extend(snapshot.batches.into_iter().map(|b| Batch {
                id: Some(b.id.unwrap_or(restored)),
                ..b
            }));
        }
        batches.sort_by_key(|b| b.id);
        // Synchronous: restore runs while the job opens, before records flow.
        let (written, skipped) = io.restore(batches)?;
        if written + skipped > 0 {
            tracing::info!(
                sink = self.name().as_str(),
                subtask = ctx.subtask(),
                "restored checkpoint {restored}: committed {written} batches the failed run had not, \
                 skipped {skipped} it had"
            );
        }
        Ok(())
    }
}

#[cfg(all(test, not(feature = "postgres")))]
mod without_the_feature {
    use super::*;
    use crate::{Job, JobSpec, source};

    #[test]
    fn the_sink_fails_when_the_job_starts_naming_the_feature() {
        let src = source::from_iter(vec![1u32]);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source(
            "numbers",
            src,
            postgres(ty, PgTable::insert("postgres://localhost/db", "t")),
        );
        let err = job.run().unwrap_err().to_string();
        assert!(err.contains("postgres sink `t`"), "{err}");
        assert!(err.contains("turn on the `postgres` feature"), "{err}");
    }
}
