//! A built job: its settings, its source trees, and the shared counters it reports.
//!
//! `pipeline!` expands to an expression of type [`Job`]. Each source and the fused operators
//! behind it form one task (a parallel source, one task per instance, each on a thread of its
//! own); [`Job::run`] opens every task, drives its source to the end and returns a
//! [`JobSummary`] with the counts a data engineer checks first: records in, out, late and
//! dead-lettered.

use crate::checkpoint::{CheckpointConfig, Coordinator, RestoreFrom};
use crate::collector::Collector;
use crate::dead_letter::{DeadLetter, DeadLetterOutput, DeadLetterTarget};
use crate::exchange::Env;
use crate::restart::RestartStrategy;
use crate::source::{InputPaths, Source};
use crate::state::{StateBackendConfig, StateBackendKind};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The job settings written in the `job { … }` block of `pipeline!`.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job's name, shown in logs and the summary.
    pub name: &'static str,
    /// Default number of worker threads (honoured by the parallel runtime; one worker today).
    pub parallelism: usize,
    /// Number of key groups keys are hashed into (Flink's `maxParallelism`).
    pub max_parallelism: usize,
    /// Where malformed input records go.
    pub dead_letter: DeadLetterTarget,
    /// The fused plan as text, for `--explain` and logs.
    pub plan: &'static str,
    /// The fused plan as a Mermaid flowchart, for `--explain mermaid` ("" when not generated).
    pub plan_mermaid: &'static str,
    /// The fused plan as a Graphviz `dot` graph, for `--explain dot` ("" when not generated).
    pub plan_dot: &'static str,
    /// The version of the crate that defines the job, for `--version` ("" when unknown).
    pub version: &'static str,
    /// When and where the job takes checkpoints (`None`: it takes none).
    pub checkpoints: Option<CheckpointConfig>,
    /// What to do when the job fails while running.
    pub restart: RestartStrategy,
    /// Where keyed operators keep their state.
    pub state_backend: StateBackendKind,
    /// Where a disk backend (RocksDB) keeps its working files (default: the system's
    /// temporary directory).
    pub state_dir: Option<std::path::PathBuf>,
    /// The job scales out through Kafka (`scale_out: kafka`): several processes share its
    /// Kafka input through a consumer group, and its keyed stage through an internal topic
    /// (see [`scale_out`](crate::scale_out)).
    pub scale_out: bool,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            name: "job",
            parallelism: 1,
            max_parallelism: 128,
            dead_letter: DeadLetterTarget::Stderr,
            plan: "",
            plan_mermaid: "",
            plan_dot: "",
            version: "",
            checkpoints: None,
            restart: RestartStrategy::None,
            state_backend: StateBackendKind::Memory,
            state_dir: None,
            scale_out: false,
        }
    }
}

/// Errors that stop a job: an input that cannot be opened, an output that cannot be written.
///
/// Malformed *records* are not errors: they go to the dead-letter output.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A file could not be opened, read or written.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What was being done ("cannot open input", "cannot write output", …).
        what: &'static str,
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with a message for the user.
    #[error("{0}")]
    Other(String),
}

impl JobError {
    /// An I/O error about `path`.
    pub fn io(what: &'static str, path: impl std::fmt::Display, source: std::io::Error) -> Self {
        JobError::Io {
            what,
            path: path.to_string(),
            source,
        }
    }
}

/// Counters shared by every operator of a job; updated in bulk, never per record.
#[derive(Debug)]
pub struct Counters {
    /// Records read from sources (well-formed or not).
    pub records_in: AtomicU64,
    /// Records written to sinks.
    pub records_out: AtomicU64,
    /// Records that arrived after their window was cleaned up.
    pub late: AtomicU64,
    /// Malformed records sent to the dead-letter output.
    pub dead_lettered: AtomicU64,
    /// The event-time watermark of the source's chain (ms; `i64::MIN` before the first).
    pub watermark: std::sync::atomic::AtomicI64,
    /// Checkpoints completed.
    pub checkpoints: AtomicU64,
    /// Milliseconds the last completed checkpoint took, from trigger to manifest.
    pub checkpoint_duration_ms: AtomicU64,
    /// Bytes read so far from bounded file inputs (for progress and metrics).
    pub input_bytes: AtomicU64,
    /// Total size of the bounded file inputs whose reading has started; 0 when no source
    /// knows its size (generators, stdin).
    pub input_bytes_total: AtomicU64,
    /// Records that reached each metered operator (sources' first operators, chains behind
    /// exchanges, sinks), by operator name.
    operators: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

impl Counters {
    /// The shared record counter of the operator `name` (created at first use).
    pub fn operator(&self, name: &str) -> Arc<AtomicU64> {
        let mut ops = self.operators.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(ops.entry(name.to_owned()).or_default())
    }

    /// Every metered operator's record count, by name.
    pub fn operators(&self) -> Vec<(String, u64)> {
        let ops = self.operators.lock().unwrap_or_else(|p| p.into_inner());
        ops.iter()
            .map(|(n, c)| (n.clone(), c.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            late: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            watermark: std::sync::atomic::AtomicI64::new(crate::MIN_WATERMARK),
            checkpoints: AtomicU64::new(0),
            checkpoint_duration_ms: AtomicU64::new(0),
            input_bytes: AtomicU64::new(0),
            input_bytes_total: AtomicU64::new(0),
            operators: Mutex::default(),
        }
    }
}

/// Where a job reads and writes instead of the paths written in the pipeline
/// (`--input name=path`, `--output name=path`), keyed by source or sink name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) inputs: BTreeMap<String, InputPaths>,
    pub(crate) outputs: BTreeMap<String, String>,
}

/// Counts the tasks that have opened their operators, so a job can check its outputs'
/// names before any record flows.
#[derive(Debug, Default)]
struct Opened {
    count: Mutex<usize>,
    changed: Condvar,
}

#[derive(Debug)]
struct Shared {
    counters: Arc<Counters>,
    dead_letters: Mutex<DeadLetterOutput>,
    errors: Mutex<Vec<JobError>>,
    outputs: BTreeMap<String, String>,
    /// Names of the file sinks opened so far.
    sinks: Mutex<BTreeSet<String>>,
    opened: Opened,
    max_parallelism: usize,
    failed: std::sync::atomic::AtomicBool,
    state_backend: StateBackendConfig,
    outcome: AttemptOutcome,
    /// How a scaled-out job reaches Kafka (`None`: the job runs in one process).
    scale_out: Option<Arc<crate::scale_out::ScaleOutPlan>>,
}

/// Whether one attempt at running a job failed, known once the attempt has ended.
///
/// Sinks that hand results to the caller (`collect`, `fold`) tag what they deliver with
/// their attempt's outcome and their handles drop what a failed attempt delivered. A task
/// cannot decide that itself when it ends: a worker whose input ends because an upstream task
/// panicked may end before the panic is recorded. The job decides after every task stopped.
#[derive(Debug, Clone, Default)]
pub struct AttemptOutcome(Arc<std::sync::atomic::AtomicBool>);

impl AttemptOutcome {
    /// Whether the attempt failed (false while it runs, and for contexts outside a job).
    pub fn failed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set_failed(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What every operator of a running job may reach: counters, the dead-letter output, the
/// place to report a failure that must stop the job, the job's checkpoints, and which
/// parallel instance of its chain the operator is.
#[derive(Debug, Clone)]
pub struct TaskContext {
    shared: Arc<Shared>,
    subtask: usize,
    subtasks: usize,
    /// The checkpoints this task takes part in: the job's, or (in a scaled-out job) those of
    /// its key group range.
    checkpoints: Option<Arc<Coordinator>>,
    /// The context of one instance of a parallel source's chain ([`Env::add_parallel_source`]).
    source_instance: bool,
}

impl TaskContext {
    fn new(
        dead_letters: DeadLetterOutput,
        counters: Arc<Counters>,
        outputs: BTreeMap<String, String>,
        max_parallelism: usize,
        checkpoints: Option<Arc<Coordinator>>,
        state_backend: StateBackendConfig,
    ) -> Self {
        TaskContext {
            shared: Arc::new(Shared {
                counters,
                dead_letters: Mutex::new(dead_letters),
                errors: Mutex::new(Vec::new()),
                outputs,
                sinks: Mutex::default(),
                opened: Opened::default(),
                max_parallelism,
                failed: Default::default(),
                state_backend,
                outcome: AttemptOutcome::default(),
                scale_out: None,
            }),
            subtask: 0,
            subtasks: 1,
            checkpoints,
            source_instance: false,
        }
    }

    /// A context for driving operators outside a job (tests, docs): dead letters to stderr.
    pub fn detached() -> Self {
        TaskContext::detached_on(StateBackendConfig::Heap)
    }

    /// [`detached`](Self::detached), with `state_backend` as the job's state backend (128 key
    /// groups).
    pub fn detached_on(state_backend: StateBackendConfig) -> Self {
        TaskContext::new(
            DeadLetterOutput::Stderr,
            Arc::default(),
            BTreeMap::new(),
            128,
            None,
            state_backend,
        )
    }

    /// The context of instance `subtask` of a chain that runs `subtasks` times.
    pub(crate) fn for_subtask(&self, subtask: usize, subtasks: usize) -> Self {
        TaskContext {
            shared: Arc::clone(&self.shared),
            subtask,
            subtasks,
            checkpoints: self.checkpoints.clone(),
            source_instance: false,
        }
    }

    /// This context, taking part in `checkpoints` instead (a scaled-out job's key group
    /// range checkpoints on its own; a PostgreSQL sink's I/O thread takes part in none).
    #[cfg_attr(not(any(feature = "kafka", feature = "postgres")), allow(dead_code))]
    pub(crate) fn with_checkpoints(&self, checkpoints: Option<Arc<Coordinator>>) -> Self {
        TaskContext {
            checkpoints,
            ..self.clone()
        }
    }

    /// How this scaled-out job reaches Kafka, if it is one.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn scale_out(&self) -> Option<&Arc<crate::scale_out::ScaleOutPlan>> {
        self.shared.scale_out.as_ref()
    }

    /// The context of instance `instance` of a parallel source that runs `instances` times
    /// ([`Env::add_parallel_source`]).
    pub(crate) fn for_source_instance(&self, instance: usize, instances: usize) -> Self {
        TaskContext {
            source_instance: true,
            ..self.for_subtask(instance, instances)
        }
    }

    /// For the chain of a parallel source, `(instance, instances)`: which share of the
    /// source's input this instance reads (`None` for a source that runs once, and for
    /// chains behind exchanges).
    pub fn source_instance(&self) -> Option<(usize, usize)> {
        self.source_instance.then_some((self.subtask, self.subtasks))
    }

    /// Which parallel instance of its chain this is, in `0..subtasks()`.
    pub fn subtask(&self) -> usize {
        self.subtask
    }

    /// How many parallel instances the chain has.
    pub fn subtasks(&self) -> usize {
        self.subtasks
    }

    /// The job's number of key groups.
    pub fn max_parallelism(&self) -> usize {
        self.shared.max_parallelism
    }

    /// Whether `key` belongs to this instance: its key group is routed here by the hash
    /// exchange (key group `g` goes to instance `g * subtasks / max_parallelism`).
    pub fn owns_key<K: std::hash::Hash + ?Sized>(&self, key: &K) -> bool {
        let m = self.shared.max_parallelism.max(1);
        crate::checkpoint::key_group_of(key, m) * self.subtasks / m == self.subtask
    }

    /// Where the job's keyed operators keep their state (the job's state backend).
    pub fn state_backend(&self) -> &StateBackendConfig {
        &self.shared.state_backend
    }

    /// The job's checkpoint coordinator, if it takes checkpoints.
    pub fn checkpoints(&self) -> Option<&Arc<Coordinator>> {
        self.checkpoints.as_ref()
    }

    /// Called by a file sink named `sink` when it opens: records the name (so that an
    /// `--output` naming no sink is reported) and returns the path to write instead of the
    /// one in the pipeline, if the job was given one ([`Job::with_output`]).
    pub fn output_override(&self, sink: &str) -> Option<&str> {
        self.shared
            .sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink.to_owned());
        self.shared.outputs.get(sink).map(String::as_str)
    }

    /// Signals that one task (a worker) has opened its operators.
    pub(crate) fn task_opened(&self) {
        let opened = &self.shared.opened;
        *opened.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        opened.changed.notify_all();
    }

    /// Waits until `n` tasks have called [`TaskContext::task_opened`].
    fn wait_opened(&self, n: usize) {
        let opened = &self.shared.opened;
        let mut count = opened.count.lock().unwrap_or_else(|p| p.into_inner());
        while *count < n {
            count = opened.changed.wait(count).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// An error naming the `--output` overrides that match no file or `postgres` sink, if any.
    fn unknown_outputs(&self) -> Option<JobError> {
        let sinks = self.shared.sinks.lock().unwrap_or_else(|p| p.into_inner());
        let unknown: Vec<&String> = self.shared.outputs.keys().filter(|k| !sinks.contains(*k)).collect();
        (!unknown.is_empty()).then(|| {
            JobError::Other(format!(
                "no sink named {} that --output can redirect (file and postgres sinks: {})",
                quoted(unknown),
                names_or_none(sinks.iter())
            ))
        })
    }

    /// The job's counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The job's counters, to keep (an operator that updates one outside `end`).
    pub fn counters_handle(&self) -> Arc<Counters> {
        Arc::clone(&self.shared.counters)
    }

    /// Adds `n` to a counter (use once per batch or at the end, not per record).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Writes a malformed record to the dead-letter output and counts it.
    pub fn dead_letter(&self, letter: &DeadLetter) {
        TaskContext::add(&self.shared.counters.dead_lettered, 1);
        let mut out = self.shared.dead_letters.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write(letter) {
            self.fail(JobError::io("cannot write dead letter to", out.describe(), e));
        }
    }

    /// Records an error that makes the job fail once its tasks have stopped.
    pub fn fail(&self, error: JobError) {
        self.shared.failed.store(true, Ordering::Relaxed);
        self.shared.errors.lock().unwrap_or_else(|p| p.into_inner()).push(error);
    }

    fn has_failed(&self) -> bool {
        self.failed()
    }

    /// Whether the job has failed (an operator or sink reported an error): sources stop
    /// reading.
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// The outcome of the job attempt this context belongs to (see [`AttemptOutcome`]).
    pub fn outcome(&self) -> AttemptOutcome {
        self.shared.outcome.clone()
    }

    fn take_errors(&self) -> Vec<JobError> {
        std::mem::take(&mut *self.shared.errors.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A source task: opens the chain behind its source, and returns what drives the source
/// through it on the job's thread.
pub(crate) type Task<'a> = Box<dyn FnOnce(&TaskContext) -> Result<Run<'a>, JobError> + 'a>;

/// A source task whose chain is open: drives the source to the end of its input.
pub(crate) type Run<'a> = Box<dyn FnOnce(&TaskContext) -> Result<(), JobError> + 'a>;

/// `` `a`, `b` `` for error messages.
fn quoted<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`quoted`], or "none" for no names.
fn names_or_none<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let list = quoted(names);
    if list.is_empty() { "none".into() } else { list }
}

/// Wires (part of) a job once its parallelism is known.
type Builder<'a> = Box<dyn FnOnce(&mut Env<'a>) + 'a>;

/// A job built by `pipeline!`, ready to run.
///
/// ```
/// use fuseflow_runtime::{Job, JobSpec, Collected, Ty, ops, sink, source};
/// let out = Collected::new();
/// let src = source::from_iter(1..=3u32);
/// let (double, ty) = ops::map(src.ty(), |x: u32| x * 10);
/// let mut job = Job::new(JobSpec::default());
/// job.add_source("numbers", src, double.into_collector(sink::collect(ty, &out)));
/// let summary = job.run().unwrap();
/// assert_eq!(out.take(), vec![10, 20, 30]);
/// assert_eq!((summary.records_in, summary.records_out), (3, 3));
/// ```
pub struct Job<'a> {
    spec: JobSpec,
    builders: Vec<Builder<'a>>,
    overrides: Overrides,
    counters: Option<Arc<Counters>>,
    restore: Option<RestoreFrom>,
    /// A checkpoint directory given to a job that takes no checkpoints (an error at `run`).
    stray_checkpoint_dir: Option<std::path::PathBuf>,
    /// Wires the whole job again for each attempt, if it can be restarted.
    rewire: Option<Rewire<'a>>,
    /// A state backend given as a configuration, instead of the spec's kind.
    state_backend_config: Option<StateBackendConfig>,
}

/// Wires a whole restartable job, once per attempt.
type Rewire<'a> = Box<dyn Fn(&mut Env<'a>) + 'a>;

impl<'a> Job<'a> {
    /// An empty job with these settings.
    pub fn new(spec: JobSpec) -> Self {
        Job {
            spec,
            builders: Vec::new(),
            overrides: Overrides::default(),
            counters: None,
            restore: None,
            stray_checkpoint_dir: None,
            rewire: None,
            state_backend_config: None,
        }
    }

    /// A job whose dataflow `wire` builds when the job starts, once the parallelism is known
    /// (what `pipeline!` generates).
    pub fn build(spec: JobSpec, wire: impl FnOnce(&mut Env<'a>) + 'a) -> Self {
        Job {
            spec,
            builders: vec![Box::new(wire)],
            overrides: Overrides::default(),
            counters: None,
            restore: None,
            stray_checkpoint_dir: None,
            rewire: None,
            state_backend_config: None,
        }
    }

    /// A job whose dataflow `wire` builds anew for every attempt, so that its restart
    /// strategy can restart it (what `pipeline!` generates for a job with a `restart`
    /// setting: its operators are then cloned for each attempt).
    pub fn build_restartable(spec: JobSpec, wire: impl Fn(&mut Env<'a>) + 'a) -> Self {
        let mut job = Job::new(spec);
        job.rewire = Some(Box::new(wire));
        job
    }

    /// The value `pipeline!` expands to when it reports compile errors, so that the code
    /// around it still type-checks.
    pub fn placeholder() -> Self {
        Job::new(JobSpec::default())
    }

    /// Overrides the number of worker threads set in the job settings (`--parallelism`).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.spec.parallelism = parallelism.max(1);
        self
    }

    /// Overrides where dead letters go (a command-line flag, a test's temporary file).
    pub fn with_dead_letter(mut self, target: DeadLetterTarget) -> Self {
        self.spec.dead_letter = target;
        self
    }

    /// Reads `paths` instead of the paths written in the pipeline for the file source named
    /// `source` (the `let` name in `pipeline!`; `--input source=path`).
    ///
    /// [`Job::run`] fails before reading anything if no file source has that name.
    pub fn with_input(mut self, source: impl Into<String>, paths: impl Into<InputPaths>) -> Self {
        self.overrides.inputs.insert(source.into(), paths.into());
        self
    }

    /// Writes to `path` instead of the path written in the pipeline for the file sink named
    /// `sink` (`--output sink=path`; see [`CsvSink::named`](crate::sink::CsvSink::named) for
    /// how sinks are named).
    ///
    /// [`Job::run`] fails before any record flows if no file sink has that name.
    pub fn with_output(mut self, sink: impl Into<String>, path: impl Into<String>) -> Self {
        self.overrides.outputs.insert(sink.into(), path.into());
        self
    }

    /// Counts into `counters` instead of fresh ones, so that another thread (a progress bar,
    /// the metrics endpoint) can watch the job while it runs.
    pub fn with_counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Keeps keyed state in `backend` (`--state-backend`), RocksDB's working files under
    /// `dir` if given (`--state-dir`), instead of the job settings' choice.
    pub fn with_state_backend(mut self, backend: StateBackendKind, dir: Option<std::path::PathBuf>) -> Self {
        self.spec.state_backend = backend;
        if dir.is_some() {
            self.spec.state_dir = dir;
        }
        self
    }

    /// Keeps keyed state on the path `config` names (e.g.
    /// [`StateBackendConfig::in_memory_bytes`], or RocksDB with options), instead of the job
    /// settings' or [`with_state_backend`](Self::with_state_backend)'s choice: tests, tools.
    pub fn with_state_backend_config(mut self, config: StateBackendConfig) -> Self {
        self.state_backend_config = Some(config);
        self
    }

    /// Takes checkpoints as `config` says, instead of the job settings' (a test, a tool).
    pub fn with_checkpoints(mut self, config: CheckpointConfig) -> Self {
        self.spec.checkpoints = Some(config);
        self
    }

    /// Keeps checkpoints in `dir` instead of the directory the job settings name
    /// (`--checkpoint-dir`). Fails at [`Job::run`] if the job takes no checkpoints.
    pub fn with_checkpoint_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        match &mut self.spec.checkpoints {
            Some(c) => c.dir = dir,
            None => self.stray_checkpoint_dir = Some(dir),
        }
        self
    }

    /// Resumes from a checkpoint (`--restore`): the job reads on from the sources' saved
    /// positions with its operators' saved state, and its file sinks' committed output is
    /// that of a run that never stopped. Fails at [`Job::run`] if the job takes no
    /// checkpoints.
    pub fn with_restore(mut self, from: RestoreFrom) -> Self {
        self.restore = Some(from);
        self
    }

    /// The job's settings.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// Adds a task: `source` drives the fused chain `head`.
    pub fn add_source<S, C>(&mut self, name: &'static str, source: S, head: C)
    where
        S: Source + 'a,
        C: Collector<S::Item> + 'a,
    {
        self.builders
            .push(Box::new(move |env: &mut Env<'a>| env.add_source(name, source, head)));
    }

    /// Runs every task to the end of its input and returns the counts.
    ///
    /// Fails if an input cannot be opened or an output cannot be written; malformed records
    /// do not fail the job (they are dead-lettered and counted). A failure while records flow
    /// (a panic or an `Err` in user code, a failing sink) restarts the job if its settings
    /// name a [`RestartStrategy`](crate::restart::RestartStrategy) and it was built to be
    /// restartable ([`Job::build_restartable`]): from its latest checkpoint, or from the
    /// beginning if it takes none.
    pub fn run(mut self) -> Result<JobSummary, JobError> {
        let started = Instant::now();
        let no_checkpoints = |what: &str| {
            JobError::Other(format!(
                "{what}, but job `{}` takes no checkpoints: add `checkpoint_interval: 10s` (or \
                 `checkpoint_every_records: N`) to its `job {{ … }}` settings",
                self.spec.name
            ))
        };
        if self.spec.checkpoints.is_none() {
            if self.stray_checkpoint_dir.is_some() {
                return Err(no_checkpoints("a checkpoint directory was given"));
            }
            if self.restore.is_some() {
                return Err(no_checkpoints("--restore was given"));
            }
        }
        let counters = self.counters.take().unwrap_or_default();
        let mut restore = self.restore.take();
        let mut once = std::mem::take(&mut self.builders);
        let mut restarts = 0u32;
        loop {
            let mut env = Env::new(self.spec.parallelism);
            env.input_overrides = self.overrides.inputs.clone();
            if self.spec.scale_out {
                env.scale_out = Some(Arc::new(crate::scale_out::ScaleOutPlan::new(&self.spec)));
            }
            match &self.rewire {
                Some(wire) => wire(&mut env),
                None => once.drain(..).for_each(|wire| wire(&mut env)),
            }
            match self.attempt(env, &counters, restore.as_ref()) {
                Ok(mut summary) => {
                    summary.restarts = restarts;
                    summary.elapsed = started.elapsed();
                    return Ok(summary);
                }
                Err(Failure::BeforeStart(e)) => return Err(e),
                Err(Failure::Running(e)) => {
                    restarts += 1;
                    let delay = match &self.rewire {
                        Some(_) => self.spec.restart.delay_before(restarts),
                        None => None,
                    };
                    let Some(delay) = delay else { return Err(e) };
                    let from = if self.spec.checkpoints.is_some() {
                        restore = Some(RestoreFrom::Latest);
                        "its latest checkpoint"
                    } else {
                        "the beginning (it takes no checkpoints)"
                    };
                    tracing::warn!(restart = restarts, "job `{}` failed: {e}", self.spec.name);
                    eprintln!(
                        "warning: job `{}` failed: {e}\nwarning: restart {restarts} in {delay:?}, from {from}",
                        self.spec.name
                    );
                    std::thread::sleep(delay);
                }
            }
        }
    }

    /// One run of the job's wired tasks.
    fn attempt(
        &self,
        env: Env<'a>,
        counters: &Arc<Counters>,
        restore: Option<&RestoreFrom>,
    ) -> Result<JobSummary, Failure> {
        let started = Instant::now();
        let Env {
            sources,
            source_instances,
            workers,
            input_overrides,
            file_sources,
            scale_out,
            ..
        } = env;
        let unknown: Vec<&String> = input_overrides
            .keys()
            .filter(|k| !file_sources.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(Failure::BeforeStart(JobError::Other(format!(
                "no file source named {} (file sources: {})",
                quoted(unknown),
                names_or_none(&file_sources)
            ))));
        }
        let coordinator = match &self.spec.checkpoints {
            None => None,
            // A scaled-out job checkpoints each key group range on its own.
            Some(_) if scale_out.is_some() => None,
            Some(config) => {
                let names: BTreeSet<&str> = sources
                    .iter()
                    .map(|(name, _)| *name)
                    .chain(source_instances.iter().map(|s| s.name))
                    .collect();
                if names.len() > 1 {
                    return Err(Failure::BeforeStart(JobError::Other(format!(
                        "job `{}` has {} sources; checkpoints support one source per job for now",
                        self.spec.name,
                        names.len()
                    ))));
                }
                let c = Coordinator::start(
                    config.clone(),
                    self.spec.name,
                    self.spec.max_parallelism,
                    self.spec.parallelism,
                    restore,
                    Arc::clone(counters),
                )
                .map_err(Failure::BeforeStart)?;
                c.set_tasks(sources.len() + source_instances.len() + workers.len());
                // Refuse a checkpoint whose source positions do not fit before anything opens.
                for (name, _) in &sources {
                    c.check_source_instances(name, 0).map_err(Failure::BeforeStart)?;
                }
                for s in &source_instances {
                    c.check_source_instances(s.name, s.instances)
                        .map_err(Failure::BeforeStart)?;
                }
                Some(Arc::new(c))
            }
        };
        if let Some(c) = &coordinator
            && c.restored_final()
        {
            tracing::info!(
                "checkpoint {} is final: the job had already finished",
                c.restored_id().unwrap_or(0)
            );
            return Ok(JobSummary {
                name: self.spec.name,
                records_in: 0,
                records_out: 0,
                late: 0,
                dead_lettered: 0,
                restarts: 0,
                elapsed: started.elapsed(),
            });
        }
        let dead = DeadLetterOutput::open(&self.spec.dead_letter).map_err(Failure::BeforeStart)?;
        let state_dir = self.spec.state_dir.clone().unwrap_or_else(std::env::temp_dir);
        let state_backend = match &self.state_backend_config {
            Some(config) => config.clone(),
            None => self
                .spec
                .state_backend
                .config(&state_dir)
                .map_err(|e| Failure::BeforeStart(JobError::Other(e)))?,
        };
        let mut ctx = TaskContext::new(
            dead,
            Arc::clone(counters),
            self.overrides.outputs.clone(),
            self.spec.max_parallelism,
            coordinator.clone(),
            state_backend,
        );
        if let Some(plan) = scale_out {
            Arc::get_mut(&mut ctx.shared).expect("a new context").scale_out = Some(plan);
        }
        let mut ran = false;
        std::thread::scope(|scope| {
            let n_workers = workers.len();
            for (i, worker) in workers.into_iter().enumerate() {
                let worker_ctx = ctx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("fuseflow-worker-{i}"))
                    .spawn_scoped(scope, move || worker(&worker_ctx));
                if let Err(e) = spawned {
                    ctx.fail(JobError::Other(format!("cannot start a worker thread: {e}")));
                    ctx.task_opened();
                }
            }
            // Open every chain first, so that a bad output name, an output that cannot be
            // created or a checkpoint that does not fit stops the job before any record flows.
            let mut runs = Vec::with_capacity(sources.len());
            for (_name, task) in sources {
                match catch_panic(|| task(&ctx)) {
                    Ok(Ok(run)) => runs.push(run),
                    Ok(Err(e)) | Err(e) => ctx.fail(e),
                }
            }
            let mut instance_runs = Vec::with_capacity(source_instances.len());
            for s in source_instances {
                let instance_ctx = ctx.for_source_instance(s.instance, s.instances);
                match catch_panic(|| (s.open)(&instance_ctx)) {
                    Ok(Ok(run)) => instance_runs.push((s.name, instance_ctx, run)),
                    Ok(Err(e)) | Err(e) => ctx.fail(e),
                }
            }
            ctx.wait_opened(n_workers);
            if let Some(e) = ctx.unknown_outputs() {
                ctx.fail(e);
            }
            if let Some(c) = &coordinator {
                let unclaimed = c.unclaimed_operators();
                if !unclaimed.is_empty() {
                    ctx.fail(JobError::Other(format!(
                        "checkpoint {} does not match this job: it holds state of operator{} {} that this job does not have",
                        c.restored_id().unwrap_or(0),
                        if unclaimed.len() == 1 { "" } else { "s" },
                        quoted(&unclaimed)
                    )));
                }
            }
            if ctx.has_failed() {
                // Dropping the source tasks ends the workers' inputs.
                return;
            }
            if let Some(c) = &coordinator
                && let Err(e) = c.discard_old_history()
            {
                ctx.fail(e);
                return;
            }
            ran = true;
            // A parallel source's instances run on threads of their own; the scope joins them.
            for (name, instance_ctx, run) in instance_runs {
                let i = instance_ctx.subtask();
                let spawned = std::thread::Builder::new()
                    .name(format!("fuseflow-source-{name}-{i}"))
                    .spawn_scoped(scope, move || match catch_panic(|| run(&instance_ctx)) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) | Err(e) => instance_ctx.fail(e),
                    });
                if let Err(e) = spawned {
                    ctx.fail(JobError::Other(format!("cannot start a source thread: {e}")));
                }
            }
            for run in runs {
                match catch_panic(|| run(&ctx)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) | Err(e) => ctx.fail(e),
                }
            }
        });
        ctx.shared
            .dead_letters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush()
            .ok();
        let mut errors = ctx.take_errors();
        if !errors.is_empty() {
            ctx.shared.outcome.set_failed();
            let e = errors.swap_remove(0);
            return Err(if ran {
                Failure::Running(e)
            } else {
                Failure::BeforeStart(e)
            });
        }
        if let Some(c) = &coordinator
            && let Err(e) = c.finish()
        {
            ctx.shared.outcome.set_failed();
            return Err(Failure::Running(e));
        }
        let c = ctx.counters();
        Ok(JobSummary {
            name: self.spec.name,
            records_in: c.records_in.load(Ordering::Relaxed),
            records_out: c.records_out.load(Ordering::Relaxed),
            late: c.late.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            restarts: 0,
            elapsed: started.elapsed(),
        })
    }
}

/// Why an attempt at running a job failed.
enum Failure {
    /// Before any record flowed: restarting cannot help.
    BeforeStart(JobError),
    /// While records flowed: a restart strategy may restart the job.
    Running(JobError),
}

/// Runs `f`, turning a panic into a [`JobError`] with the panic's message.
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, JobError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|payload| JobError::Other(format!("panicked: {}", panic_message(payload.as_ref()))))
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// What a finished job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job's name.
    pub name: &'static str,
    /// Records read from all sources, malformed ones included.
    pub records_in: u64,
    /// Records written to all sinks.
    pub records_out: u64,
    /// Records that arrived too late for their window (side-output or dropped).
    pub late: u64,
    /// Malformed records sent to the dead-letter output.
    pub dead_lettered: u64,
    /// Times the job was restarted after a failure (see its restart strategy).
    pub restarts: u32,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl std::fmt::Display for JobSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.records_in as f64 / secs } else { 0.0 };
        write!(
            f,
            "job `{}` finished: {} records in, {} out, {} late, {} dead-lettered in {:.3} s ({:.0} records/s)",
            self.name, self.records_in, self.records_out, self.late, self.dead_lettered, secs, rate
        )?;
        match self.restarts {
            0 => Ok(()),
            1 => write!(f, " after 1 restart"),
            n => write!(f, " after {n} restarts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{self, Collected, Folded};

    #[test]
    fn results_delivered_by_an_attempt_that_failed_are_dropped_however_late_it_failed() {
        let ctx = TaskContext::detached();
        let collected = Collected::new();
        let folded = Folded::new();
        let mut c = sink::collect(crate::Ty::of(), &collected);
        let mut f = sink::fold(crate::Ty::of(), &folded, 0u64, |acc: &mut u64, x: u64| *acc += x);
        c.open(&ctx).unwrap();
        f.open(&ctx).unwrap();
        for x in [1u64, 2, 3] {
            c.record(x, 0);
            f.record(x, 0);
        }
        // The sinks end before the job knows the attempt failed (an upstream panic that
        // is recorded after the workers' inputs were cut off).
        assert!(!ctx.failed());
        c.end();
        f.end();
        assert_eq!(collected.len(), 3);
        ctx.shared.outcome.set_failed();
        assert_eq!(collected.len(), 0);
        assert!(collected.take().is_empty());
        assert!(folded.take().is_empty());
    }
}
