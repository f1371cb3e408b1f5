//! The checkpoint coordinator: numbers checkpoints, collects what each task contributes
//! (state files, source positions, pending part files, acknowledgements), completes a
//! checkpoint by writing its manifest, publishes its part files and prunes old checkpoints;
//! on restore, finds and checks the checkpoint to resume from and hands out its contents.
//!
//! It is shared by every task of a job (behind the [`TaskContext`](crate::TaskContext)) and
//! touched only at barriers, never per record.

use super::manifest::{self, FORMAT_VERSION, MANIFEST, Manifest, OperatorState, StateFile, fingerprint};
use super::{CheckpointConfig, RestoreFrom};
use crate::{Counters, JobError, TaskContext};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Coordinates the checkpoints of one job run; see the [module docs](super).
#[derive(Debug)]
pub struct Coordinator {
    config: CheckpointConfig,
    job: String,
    max_parallelism: usize,
    parallelism: usize,
    restored: Option<Restored>,
    counters: Arc<Counters>,
    inner: Mutex<Inner>,
    /// Told of every completed checkpoint, in order (sinks with external commits).
    listeners: Mutex<Vec<Arc<dyn CheckpointListener>>>,
    /// A sink asked for a checkpoint at the end of input ([`Coordinator::checkpoint_at_end`]).
    at_end: std::sync::atomic::AtomicBool,
}

/// Something that acts when a checkpoint completes: a sink that commits to an external
/// system (a database transaction, a Kafka transaction) only what a completed checkpoint
/// covers, Flink's `CheckpointListener::notifyCheckpointComplete`.
///
/// Register with [`Coordinator::add_listener`]. The coordinator calls
/// [`checkpoint_complete`](CheckpointListener::checkpoint_complete) once per completed
/// checkpoint, in increasing order, right after writing its manifest and publishing its part
/// files, including the final checkpoint at the end of input (after every task has ended).
/// It runs on whichever thread completed the checkpoint, with the coordinator locked: it must
/// not call back into the coordinator, and should return promptly, since every task's
/// barrier waits meanwhile: slow work (a database commit) belongs on a thread of the
/// listener's own, as the PostgreSQL sink does. The call for the final checkpoint comes
/// after every task has ended, and the job returns after it: a listener may wait there for
/// its outstanding work. An error fails the job; since the checkpoint is complete, a restore
/// resumes from it, and the listener must then finish the commit (idempotently) from its
/// restored state.
pub trait CheckpointListener: Send + Sync {
    /// Checkpoint `id` is complete (its manifest is on disk).
    fn checkpoint_complete(&self, id: u64) -> Result<(), JobError>;
}

impl std::fmt::Debug for dyn CheckpointListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointListener")
    }
}

/// The checkpoint a job resumed from.
#[derive(Debug)]
struct Restored {
    manifest: Manifest,
    /// The state files' verified contents, by file name.
    state: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The number of the last checkpoint triggered (or restored).
    last_id: u64,
    /// Acknowledgements each checkpoint needs: the source task and every worker.
    tasks: usize,
    in_flight: BTreeMap<u64, InFlight>,
    /// What the final checkpoint (at the end of input) publishes.
    final_commits: Vec<(PathBuf, PathBuf)>,
    final_sources: BTreeMap<String, serde_json::Value>,
    /// Operators whose restored state some instance took.
    claimed: BTreeSet<String>,
    /// Output directories of part files already cleaned for this run.
    prepared: BTreeSet<PathBuf>,
    /// Checkpoints completed in this run, and the last one's duration.
    completed: u64,
    last_duration_ms: u64,
    /// The instances of a parallel source that have read their whole share.
    instances_ended: usize,
    /// The checkpoint the instances of a parallel source take at the end of their input, once
    /// the first has begun it.
    end_checkpoint: Option<u64>,
}

impl Inner {
    /// The last checkpoint begun on a source's schedule (not the end-of-input checkpoint of
    /// a parallel source's instances).
    fn scheduled(&self) -> u64 {
        self.end_checkpoint.map_or(self.last_id, |id| id - 1)
    }
}

#[derive(Debug)]
struct InFlight {
    started: Instant,
    acks: usize,
    operators: BTreeMap<String, OperatorState>,
    sources: BTreeMap<String, serde_json::Value>,
    commits: Vec<(PathBuf, PathBuf)>,
}

impl InFlight {
    fn new() -> Self {
        InFlight {
            started: Instant::now(),
            acks: 0,
            operators: BTreeMap::new(),
            sources: BTreeMap::new(),
            commits: Vec::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> JobError + 'p {
    move |e| JobError::io(what, path.display(), e)
}

/// Writes `bytes` to `path` and flushes them to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let mut f = std::fs::File::create(path).map_err(io("cannot write checkpoint file", path))?;
    f.write_all(bytes).map_err(io("cannot write checkpoint file", path))?;
    f.sync_all().map_err(io("cannot write checkpoint file", path))
}

/// Flushes a directory's entries (new files, renames) to disk; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Publishes a pending part file. Idempotent: a file already published is left as it is.
fn publish(pending: &Path, visible: &Path) -> Result<(), JobError> {
    match std::fs::rename(pending, visible) {
        Ok(()) => Ok(()),
        Err(_) if visible.exists() => Ok(()),
        Err(e) => Err(JobError::io("cannot publish part file", pending.display(), e)),
    }
}

impl Coordinator {
    /// Prepares the checkpoints of a job run: creates the directory and, when restoring,
    /// finds, checks and loads the checkpoint to resume from (see [`RestoreFrom`]),
    /// publishes the part files it covers and removes the checkpoints after it.
    ///
    /// A fresh start (no `restore`, or `latest` with no checkpoint yet) removes the
    /// directory's old checkpoints: the job's history starts again.
    pub fn start(
        config: CheckpointConfig,
        job: &str,
        max_parallelism: usize,
        parallelism: usize,
        restore: Option<&RestoreFrom>,
        counters: Arc<Counters>,
    ) -> Result<Coordinator, JobError> {
        std::fs::create_dir_all(&config.dir).map_err(io("cannot create checkpoint directory", &config.dir))?;
        let restored = match restore {
            None => None,
            Some(from) => find(&config.dir, from)?,
        };
        if let Some(r) = &restored {
            if r.manifest.max_parallelism != max_parallelism {
                return Err(JobError::Other(format!(
                    "checkpoint {} cannot be restored: it was taken with max_parallelism {}, this job has {} \
                     (keyed state is kept by key group, so max_parallelism must not change)",
                    r.manifest.id, r.manifest.max_parallelism, max_parallelism
                )));
            }
            if r.manifest.job != job {
                tracing::warn!(
                    "checkpoint {} was taken by job `{}`, restoring it into job `{job}`",
                    r.manifest.id,
                    r.manifest.job
                );
            }
            for (pending, visible) in &r.manifest.commits {
                publish(pending, visible)?;
            }
        }
        let keep_up_to = restored.as_ref().map_or(0, |r| r.manifest.id);
        let inner = Inner {
            last_id: keep_up_to,
            ..Inner::default()
        };
        Ok(Coordinator {
            config,
            job: job.to_owned(),
            max_parallelism,
            parallelism,
            restored,
            counters,
            inner: Mutex::new(inner),
            listeners: Mutex::new(Vec::new()),
            at_end: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Registers `listener` to be told of every checkpoint completed from now on.
    pub fn add_listener(&self, listener: Arc<dyn CheckpointListener>) {
        lock(&self.listeners).push(listener);
    }

    /// Asks the sources to take one more checkpoint when their input ends, after the final
    /// watermark (every window has fired) and before the end of input, so that everything a
    /// job writes is covered by a checkpoint that keeps operator state.
    ///
    /// A sink that commits to an external system calls this when it opens: the final
    /// checkpoint, taken after every task has ended, holds no operator state, so what the
    /// sink had buffered for it would be lost if the job died between that checkpoint's
    /// manifest and the sink's commit. With this checkpoint the sink's last rows are in its
    /// snapshot, and the final checkpoint has nothing left to commit.
    pub fn request_checkpoint_at_end(&self) {
        self.at_end.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a sink asked for a checkpoint at the end of input
    /// ([`request_checkpoint_at_end`](Self::request_checkpoint_at_end)).
    pub fn checkpoint_at_end(&self) -> bool {
        self.at_end.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The name of the job whose checkpoints these are.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The checkpoint settings.
    pub fn config(&self) -> &CheckpointConfig {
        &self.config
    }

    /// The number of the checkpoint this run resumed from, if any.
    pub fn restored_id(&self) -> Option<u64> {
        self.restored.as_ref().map(|r| r.manifest.id)
    }

    /// Whether this run resumed from a final checkpoint: the job had already finished.
    pub fn restored_final(&self) -> bool {
        self.restored.as_ref().is_some_and(|r| r.manifest.is_final)
    }

    /// Sets how many tasks acknowledge each checkpoint.
    pub(crate) fn set_tasks(&self, tasks: usize) {
        lock(&self.inner).tasks = tasks;
    }

    /// Checkpoints completed in this run, and how long the last one took (ms).
    pub fn completed(&self) -> (u64, u64) {
        let inner = lock(&self.inner);
        (inner.completed, inner.last_duration_ms)
    }

    /// Starts a new checkpoint and returns its number (called by the source).
    pub fn begin(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.last_id += 1;
        let id = inner.last_id;
        inner.in_flight.insert(id, InFlight::new());
        id
    }

    /// For an instance of a parallel source whose own schedule says a checkpoint is due,
    /// having sent every barrier up to `last`: the checkpoint to take, `last + 1`. Every
    /// instance takes every checkpoint, in order: the first instance due begins it, the
    /// others join it when they are due too (or, with a `checkpoint_interval`, when they
    /// see it begun: [`joinable`](Self::joinable)). `None` once an instance has read its
    /// whole share: it sends no more barriers, so no new checkpoint begins until the job ends.
    pub fn instance_checkpoint(&self, last: u64) -> Option<u64> {
        let mut inner = lock(&self.inner);
        if inner.scheduled() > last {
            return Some(last + 1);
        }
        if inner.instances_ended > 0 {
            return None;
        }
        inner.last_id += 1;
        let id = inner.last_id;
        inner.in_flight.insert(id, InFlight::new());
        Some(id)
    }

    /// Whether another instance of the parallel source began a checkpoint after `last`.
    pub fn joinable(&self, last: u64) -> bool {
        lock(&self.inner).scheduled() > last
    }

    /// An instance of a parallel source read its whole share: returns the last checkpoint
    /// begun, whose barriers it must still send (with its final position) before it ends.
    /// No checkpoint begins after this one, but the end-of-input checkpoint
    /// ([`instance_end_checkpoint`](Self::instance_end_checkpoint)).
    pub fn instance_ended(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.instances_ended += 1;
        inner.scheduled()
    }

    /// The checkpoint every instance of a parallel source takes at the end of its input
    /// when a sink asked for one ([`request_checkpoint_at_end`](Self::request_checkpoint_at_end)):
    /// the first instance to ask begins it.
    pub fn instance_end_checkpoint(&self) -> u64 {
        let mut inner = lock(&self.inner);
        if let Some(id) = inner.end_checkpoint {
            return id;
        }
        inner.last_id += 1;
        let id = inner.last_id;
        inner.in_flight.insert(id, InFlight::new());
        inner.end_checkpoint = Some(id);
        id
    }

    /// The number the final checkpoint will have (called by sinks at the end of input).
    pub fn final_id(&self) -> u64 {
        lock(&self.inner).last_id + 1
    }

    fn chk_dir(&self, id: u64) -> PathBuf {
        self.config.dir.join(manifest::dir_name(id))
    }

    /// Writes the state of instance `subtask` of `operator` into checkpoint `id`.
    pub fn write_state(
        &self,
        id: u64,
        operator: &str,
        subtask: usize,
        schema: &str,
        bytes: &[u8],
    ) -> Result<(), JobError> {
        let dir = self.chk_dir(id);
        std::fs::create_dir_all(&dir).map_err(io("cannot create checkpoint directory", &dir))?;
        let name = format!("{operator}-{subtask}.state");
        write_synced(&dir.join(&name), bytes)?;
        let file = StateFile {
            name,
            subtask,
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        };
        let mut inner = lock(&self.inner);
        let Some(cp) = inner.in_flight.get_mut(&id) else {
            return Err(JobError::Other(format!("checkpoint {id} is not in progress")));
        };
        cp.operators
            .entry(operator.to_owned())
            .or_insert_with(|| OperatorState {
                schema: schema.to_owned(),
                fingerprint: fingerprint(schema),
                files: Vec::new(),
            })
            .files
            .push(file);
        Ok(())
    }

    /// Records a source's position in checkpoint `id`.
    pub fn source_position(&self, id: u64, source: &str, position: serde_json::Value) {
        if let Some(cp) = lock(&self.inner).in_flight.get_mut(&id) {
            cp.sources.insert(source.to_owned(), position);
        }
    }

    /// Records a source's position at the end of its input, for the final checkpoint.
    pub fn final_source_position(&self, source: &str, position: serde_json::Value) {
        lock(&self.inner).final_sources.insert(source.to_owned(), position);
    }

    /// A sink pre-committed `pending`, to be renamed to `visible` when checkpoint `id`
    /// completes.
    pub fn precommit(&self, id: u64, pending: PathBuf, visible: PathBuf) {
        if let Some(cp) = lock(&self.inner).in_flight.get_mut(&id) {
            cp.commits.push((pending, visible));
        }
    }

    /// A sink pre-committed `pending` at the end of input, for the final checkpoint.
    pub fn precommit_final(&self, pending: PathBuf, visible: PathBuf) {
        lock(&self.inner).final_commits.push((pending, visible));
    }

    /// A task passed barrier `id` through its whole chain; the last acknowledgement
    /// completes the checkpoint.
    pub fn ack(&self, id: u64) -> Result<(), JobError> {
        let mut inner = lock(&self.inner);
        let tasks = inner.tasks;
        let Some(cp) = inner.in_flight.get_mut(&id) else {
            return Ok(());
        };
        cp.acks += 1;
        if cp.acks < tasks {
            return Ok(());
        }
        let cp = inner.in_flight.remove(&id).expect("present");
        let duration_ms = cp.started.elapsed().as_millis() as u64;
        let manifest = self.manifest(id, false, cp.operators, cp.sources, cp.commits, duration_ms);
        self.complete(&manifest)?;
        inner.completed += 1;
        inner.last_duration_ms = duration_ms;
        drop(inner);
        TaskContext::add(&self.counters.checkpoints, 1);
        self.counters
            .checkpoint_duration_ms
            .store(duration_ms, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            checkpoint = id,
            duration_ms,
            files = manifest.operators.values().map(|o| o.files.len()).sum::<usize>(),
            "checkpoint complete"
        );
        Ok(())
    }

    /// Completes the final checkpoint of a job whose input ended without error: publishes
    /// the last part files.
    pub(crate) fn finish(&self) -> Result<(), JobError> {
        let mut inner = lock(&self.inner);
        let id = inner.last_id + 1;
        let commits = std::mem::take(&mut inner.final_commits);
        let sources = std::mem::take(&mut inner.final_sources);
        let manifest = self.manifest(id, true, BTreeMap::new(), sources, commits, 0);
        self.complete(&manifest)?;
        inner.last_id = id;
        inner.completed += 1;
        tracing::info!(checkpoint = id, "final checkpoint complete");
        Ok(())
    }

    fn manifest(
        &self,
        id: u64,
        is_final: bool,
        mut operators: BTreeMap<String, OperatorState>,
        sources: BTreeMap<String, serde_json::Value>,
        commits: Vec<(PathBuf, PathBuf)>,
        duration_ms: u64,
    ) -> Manifest {
        for op in operators.values_mut() {
            op.files.sort_by_key(|f| f.subtask);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Manifest {
            format: FORMAT_VERSION,
            job: self.job.clone(),
            id,
            is_final,
            max_parallelism: self.max_parallelism,
            parallelism: self.parallelism,
            completed_at_ms: now.as_millis() as u64,
            duration_ms,
            sources,
            operators,
            commits,
        }
    }

    /// Writes the manifest (which makes the checkpoint complete), publishes its part files
    /// and prunes old checkpoints.
    fn complete(&self, manifest: &Manifest) -> Result<(), JobError> {
        let dir = self.chk_dir(manifest.id);
        std::fs::create_dir_all(&dir).map_err(io("cannot create checkpoint directory", &dir))?;
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| JobError::Other(e.to_string()))?;
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        write_synced(&tmp, &json)?;
        let path = dir.join(MANIFEST);
        std::fs::rename(&tmp, &path).map_err(io("cannot write checkpoint manifest", &path))?;
        sync_dir(&dir);
        for (pending, visible) in &manifest.commits {
            publish(pending, visible)?;
        }
        let listeners = lock(&self.listeners).clone();
        for l in listeners {
            l.checkpoint_complete(manifest.id)?;
        }
        self.prune(manifest.id);
        Ok(())
    }

    /// Deletes complete checkpoints beyond the newest `retained`, and abandoned incomplete
    /// ones older than `completed`.
    fn prune(&self, completed: u64) {
        let mut complete_seen = 0;
        for id in manifest::list(&self.config.dir) {
            if id > completed {
                continue;
            }
            let d = self.chk_dir(id);
            let complete = d.join(MANIFEST).exists();
            if complete {
                complete_seen += 1;
            }
            if !complete || complete_seen > self.config.retained.max(1) {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }

    /// The restored state of `operator`, one `(subtask, bytes)` per instance that wrote it,
    /// or `None` if the checkpoint has none (a fresh start, or a new operator). Fails if the
    /// checkpoint's state schema for the operator differs from `schema`.
    pub fn restored_state(&self, operator: &str, schema: &str) -> Result<Option<super::Parts>, JobError> {
        let Some(r) = &self.restored else { return Ok(None) };
        let Some(state) = r.manifest.operators.get(operator) else {
            return Ok(None);
        };
        if state.schema != schema {
            return Err(JobError::Other(format!(
                "checkpoint {} does not match this job: the state of operator `{operator}` was saved as\n    {}\nbut this job keeps\n    {schema}\n(change the job back, or start it without --restore)",
                r.manifest.id, state.schema
            )));
        }
        lock(&self.inner).claimed.insert(operator.to_owned());
        let parts = state
            .files
            .iter()
            .map(|f| (f.subtask, r.state.get(&f.name).cloned().unwrap_or_default()))
            .collect();
        Ok(Some(parts))
    }

    /// The restored position of `source`, if any.
    pub fn restored_position(&self, source: &str) -> Option<&serde_json::Value> {
        self.restored.as_ref()?.manifest.sources.get(source)
    }

    /// How the restored checkpoint holds the positions of source `name`: `Some(0)` as one
    /// source, `Some(n)` as the `n` instances of a parallel source (`name#0` …), `None` if
    /// it holds none (a fresh start).
    pub fn restored_instances(&self, name: &str) -> Option<usize> {
        let sources = &self.restored.as_ref()?.manifest.sources;
        if sources.contains_key(name) {
            return Some(0);
        }
        let prefix = format!("{name}#");
        let n = sources.keys().filter(|k| k.starts_with(&prefix)).count();
        (n > 0).then_some(n)
    }

    /// Fails when the restored checkpoint holds the positions of source `name` for another
    /// number of instances than `instances` (0: a source that runs once): a parallel source
    /// restored at another parallelism, or a source that became parallel or stopped being.
    /// Each instance's position is the next index of its own share, so the shares of `n`
    /// instances cannot be handed to `m`.
    pub fn check_source_instances(&self, name: &str, instances: usize) -> Result<(), JobError> {
        let Some(saved) = self.restored_instances(name) else {
            return Ok(());
        };
        if saved == instances {
            return Ok(());
        }
        let how = |n: usize| match n {
            0 => "as one source instance (a source without `.parallel()`)".to_owned(),
            n => format!("split into {n} instances (`.parallel()` at parallelism {n})"),
        };
        let hint = if saved > 0 {
            format!(" (--parallelism {saved})")
        } else {
            String::new()
        };
        Err(JobError::Other(format!(
            "checkpoint {} cannot be restored: it holds the position of source `{name}` {}, and this run reads it {}: \
             restore at the parallelism the checkpoint was taken with{hint}",
            self.restored_id().unwrap_or(0),
            how(saved),
            how(instances),
        )))
    }

    /// Operators of the restored checkpoint that no operator of this job took.
    pub(crate) fn unclaimed_operators(&self) -> Vec<String> {
        let Some(r) = &self.restored else { return Vec::new() };
        let inner = lock(&self.inner);
        r.manifest
            .operators
            .keys()
            .filter(|op| !inner.claimed.contains(*op))
            .cloned()
            .collect()
    }

    /// Makes `dir` ready for a sink's part files (created if missing); its stale files are
    /// removed when the run has opened everything (`discard_old_history`).
    pub fn prepare_part_dir(&self, dir: &Path) -> Result<(), JobError> {
        let mut inner = lock(&self.inner);
        if !inner.prepared.insert(dir.to_path_buf()) {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(io("cannot create output directory", dir))
    }

    /// Called once the job has opened everything and is about to read its first record (so
    /// the restore was accepted): removes the checkpoints after the restored one (all of
    /// them on a fresh start), which belong to the history being replaced, and in every
    /// sink directory the part files the restored checkpoint does not cover and the pending
    /// or in-progress files of an interrupted run. A restore that is refused destroys
    /// nothing.
    pub(crate) fn discard_old_history(&self) -> Result<(), JobError> {
        let keep_up_to = self.restored_id().unwrap_or(0);
        for id in manifest::list(&self.config.dir) {
            if id > keep_up_to {
                let d = self.chk_dir(id);
                std::fs::remove_dir_all(&d).map_err(io("cannot remove old checkpoint", &d))?;
            }
        }
        let dirs: Vec<PathBuf> = lock(&self.inner).prepared.iter().cloned().collect();
        for dir in dirs {
            clean_part_dir(&dir, keep_up_to)?;
        }
        Ok(())
    }
}

/// Removes from a sink directory the parts of checkpoints after `keep_up_to` and every
/// pending or in-progress part.
fn clean_part_dir(dir: &Path, keep_up_to: u64) -> Result<(), JobError> {
    for entry in std::fs::read_dir(dir).map_err(io("cannot read output directory", dir))? {
        let entry = entry.map_err(io("cannot read output directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let doomed = match super::parts::parse_part_name(&name) {
            Some(super::parts::PartName::Visible(id)) => id > keep_up_to,
            Some(super::parts::PartName::Unpublished) => true,
            None => false,
        };
        if doomed {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io("cannot remove stale part file", &p))?;
        }
    }
    Ok(())
}

/// The position of `source` in the latest complete checkpoint under `dir`, without restoring
/// it (a scaled-out job learns where a key group range's input resumes before it restores
/// the range).
#[cfg(feature = "kafka")]
pub(crate) fn latest_position(dir: &Path, source: &str) -> Option<serde_json::Value> {
    match find(dir, &RestoreFrom::Latest) {
        Ok(r) => r?.manifest.sources.get(source).cloned(),
        Err(_) => None,
    }
}

/// Finds the checkpoint `from` names under `dir`, checked.
fn find(dir: &Path, from: &RestoreFrom) -> Result<Option<Restored>, JobError> {
    let load = |d: PathBuf| -> Result<Restored, JobError> {
        let (manifest, state) = Manifest::load_with_state(&d)?;
        Ok(Restored { manifest, state })
    };
    match from {
        RestoreFrom::Id(id) => load(dir.join(manifest::dir_name(*id))).map(Some),
        RestoreFrom::Path(p) => {
            let r = load(p.clone())?;
            if p.parent() != Some(dir) {
                return Err(JobError::Other(format!(
                    "checkpoint `{}` is not in the checkpoint directory `{}`: give --checkpoint-dir {}",
                    p.display(),
                    dir.display(),
                    p.parent().map(|d| d.display().to_string()).unwrap_or_default()
                )));
            }
            Ok(Some(r))
        }
        RestoreFrom::Latest => {
            for id in manifest::list(dir) {
                let d = dir.join(manifest::dir_name(id));
                if !d.join(MANIFEST).exists() {
                    continue; // incomplete: never finished, not an error
                }
                match load(d) {
                    Ok(r) => {
                        tracing::info!(checkpoint = id, "restoring from checkpoint {id}");
                        return Ok(Some(r));
                    }
                    Err(e) => {
                        tracing::warn!("skipping checkpoint {id}: {e}");
                        eprintln!("warning: skipping checkpoint {id}, falling back to an older one: {e}");
                    }
                }
            }
            tracing::info!(
                "no complete checkpoint in `{}`: starting from the beginning",
                dir.display()
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the checkpoints it is told of.
    #[derive(Default)]
    struct Seen(Mutex<Vec<u64>>);

    impl CheckpointListener for Seen {
        fn checkpoint_complete(&self, id: u64) -> Result<(), JobError> {
            lock(&self.0).push(id);
            Ok(())
        }
    }

    #[test]
    fn listeners_hear_of_completed_checkpoints_in_order_including_the_final_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = CheckpointConfig::every_records(dir.path(), 10);
        let c = Coordinator::start(config, "job", 8, 1, None, Arc::default()).unwrap();
        c.set_tasks(2);
        let seen = Arc::new(Seen::default());
        c.add_listener(seen.clone());
        let first = c.begin();
        let second = c.begin();
        c.ack(first).unwrap();
        assert!(
            lock(&seen.0).is_empty(),
            "one of two acknowledgements completes nothing"
        );
        c.ack(first).unwrap();
        c.ack(second).unwrap();
        c.ack(second).unwrap();
        c.finish().unwrap();
        assert_eq!(*lock(&seen.0), [first, second, second + 1]);
    }

    #[test]
    fn a_failing_listener_fails_the_completion_after_the_manifest_is_written() {
        struct Fails;
        impl CheckpointListener for Fails {
            fn checkpoint_complete(&self, id: u64) -> Result<(), JobError> {
                Err(JobError::Other(format!("cannot commit {id}")))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let config = CheckpointConfig::every_records(dir.path(), 10);
        let c = Coordinator::start(config, "job", 8, 1, None, Arc::default()).unwrap();
        c.set_tasks(1);
        c.add_listener(Arc::new(Fails));
        let id = c.begin();
        let err = c.ack(id).unwrap_err();
        assert!(err.to_string().contains("cannot commit 1"), "{err}");
        assert!(dir.path().join(manifest::dir_name(id)).join(MANIFEST).exists());
    }
}
