//! A built job: its settings, its source trees, and the shared counters it reports.
//!
//! `pipeline!` expands to an expression of type [`Job`]. Each source and the fused operators
//! behind it form one task; [`Job::run`] opens every task, drives its source to the end and
//! returns a [`JobSummary`] with the counts a data engineer checks first: records in, out,
//! late and dead-lettered.

use crate::collector::Collector;
use crate::dead_letter::{DeadLetter, DeadLetterOutput, DeadLetterTarget};
use crate::exchange::Env;
use crate::source::Source;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            name: "job",
            parallelism: 1,
            max_parallelism: 128,
            dead_letter: DeadLetterTarget::Stderr,
            plan: "",
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
#[derive(Debug, Default)]
pub struct Counters {
    /// Records read from sources (well-formed or not).
    pub records_in: AtomicU64,
    /// Records written to sinks.
    pub records_out: AtomicU64,
    /// Records that arrived after their window was cleaned up.
    pub late: AtomicU64,
    /// Malformed records sent to the dead-letter output.
    pub dead_lettered: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    counters: Counters,
    dead_letters: Mutex<DeadLetterOutput>,
    errors: Mutex<Vec<JobError>>,
}

/// What every operator of a running job may reach: counters, the dead-letter output and the
/// place to report a failure that must stop the job.
#[derive(Debug, Clone)]
pub struct TaskContext {
    shared: Arc<Shared>,
}

impl TaskContext {
    fn new(dead_letters: DeadLetterOutput) -> Self {
        TaskContext {
            shared: Arc::new(Shared {
                counters: Counters::default(),
                dead_letters: Mutex::new(dead_letters),
                errors: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A context for driving operators outside a job (tests, docs): dead letters to stderr.
    pub fn detached() -> Self {
        TaskContext::new(DeadLetterOutput::Stderr)
    }

    /// The job's counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
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
        self.shared.errors.lock().unwrap_or_else(|p| p.into_inner()).push(error);
    }

    fn take_errors(&self) -> Vec<JobError> {
        std::mem::take(&mut *self.shared.errors.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A source task: drives its source and the chain behind it on the job's thread.
pub(crate) type Task<'a> = Box<dyn FnOnce(&TaskContext) -> Result<(), JobError> + 'a>;

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
}

impl<'a> Job<'a> {
    /// An empty job with these settings.
    pub fn new(spec: JobSpec) -> Self {
        Job {
            spec,
            builders: Vec::new(),
        }
    }

    /// A job whose dataflow `wire` builds when the job starts, once the parallelism is known
    /// (what `pipeline!` generates).
    pub fn build(spec: JobSpec, wire: impl FnOnce(&mut Env<'a>) + 'a) -> Self {
        Job {
            spec,
            builders: vec![Box::new(wire)],
        }
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
    /// do not fail the job (they are dead-lettered and counted).
    pub fn run(self) -> Result<JobSummary, JobError> {
        let started = Instant::now();
        let dead = DeadLetterOutput::open(&self.spec.dead_letter)?;
        let ctx = TaskContext::new(dead);
        let mut env = Env::new(self.spec.parallelism);
        for wire in self.builders {
            wire(&mut env);
        }
        let Env { sources, workers, .. } = env;
        std::thread::scope(|scope| {
            for (i, worker) in workers.into_iter().enumerate() {
                let worker_ctx = ctx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("fuseflow-worker-{i}"))
                    .spawn_scoped(scope, move || worker(&worker_ctx));
                if let Err(e) = spawned {
                    ctx.fail(JobError::Other(format!("cannot start a worker thread: {e}")));
                }
            }
            for (_name, task) in sources {
                if let Err(e) = task(&ctx) {
                    ctx.fail(e);
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
            return Err(errors.swap_remove(0));
        }
        let c = ctx.counters();
        Ok(JobSummary {
            name: self.spec.name,
            records_in: c.records_in.load(Ordering::Relaxed),
            records_out: c.records_out.load(Ordering::Relaxed),
            late: c.late.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
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
        )
    }
}
