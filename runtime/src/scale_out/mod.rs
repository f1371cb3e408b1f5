//! Scaling a job out over several processes through Kafka, the Kafka Streams model.
//!
//! A job with the setting `scale_out: kafka` is started as any number of processes of the
//! same binary, on one machine or many. They divide the work through Kafka alone, with no
//! coordinator of their own:
//!
//! 1. **Input.** The job's Kafka source joins its consumer group (`.group_id(…)`), so the
//!    group protocol gives each process a share of the input partitions, and gives a dead
//!    process's partitions to the others. The chain up to the job's `key_by` runs in each
//!    process on the records of its partitions.
//! 2. **Repartition.** At the `key_by`, records go to an internal topic,
//!    `<group>-<job>-repartition`, with one partition per *key group range*: partition `i`
//!    holds the key groups that subtask `i` of `parallelism` subtasks owns
//!    (`key_group * parallelism / max_parallelism == i`, as within one process). The topic is
//!    created with `parallelism` partitions by the first process that needs it.
//! 3. **Keyed stage.** Every process also reads the internal topic in a second consumer
//!    group, `<group>-<job>-keyed`, so that each key group range is read by one process at a
//!    time. For each partition it is given, a process runs subtask `i` of the chain behind the
//!    `key_by` (windows, sinks) with that range's state.
//! 4. **Checkpoints.** Each key group range checkpoints on its own into
//!    `<checkpoint_dir>/subtask-<i>`, a directory all processes share (a network file system
//!    in production): its operators' state, the internal topic's offset, and what it needs to
//!    drop duplicates. The process that is given a range restores its latest checkpoint
//!    there, so a range moves between processes with its state. Sinks that commit with
//!    checkpoints (PostgreSQL) commit per range, so the output stays exactly-once.
//! 5. **Duplicates.** The broker's transactions are not used (the test broker, tansu, does not
//!    isolate aborted ones). Instead, the first stage commits its input offsets to the group
//!    only after the records they produced are acknowledged by the broker (at least once), and
//!    every record on the internal topic carries the input partition and offset it came from
//!    and its rank among that input record's outputs. The keyed stage keeps, per input
//!    partition, the last (offset, rank) it took, in its checkpoints, and drops anything not
//!    after it: what a process that took over an input partition sends again.
//! 6. **Watermarks.** Each process sends, on every partition of the internal topic, the
//!    watermark of the input partitions it owns (the minimum of their per-partition
//!    watermarks, as in one process). The keyed stage keeps the latest for every input
//!    partition and goes on at their minimum, so a window fires once every input partition is
//!    past it, whichever process reads it. Watermarks are sent at most every
//!    [`WATERMARK_EVERY`] and at every flush: a record the keyed stage receives is never
//!    judged against a watermark later than the one its own process had.
//!
//! Limits, checked when the job is compiled or starts: one Kafka source, with a group id,
//! not bounded (a scaled-out job runs until it is stopped); one `key_by` and no other
//! exchange; no operator before the `key_by` that keeps state; checkpoints on. The records
//! crossing the `key_by` are sent as JSON (`Serialize + DeserializeOwned`).

#[cfg(feature = "kafka")]
mod keyed;
#[cfg(feature = "kafka")]
mod output;
#[cfg(feature = "kafka")]
mod topic;
pub(crate) mod wire;

use crate::checkpoint::CheckpointConfig;
use crate::exchange::{ByKeyGroup, Env};
use crate::{Collector, JobError, JobSpec, TaskContext, Ty};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use wire::{
    Origin, PartitionWatermark, PartitionWatermarks, set_origin, set_partition_watermark, set_partition_watermarks,
};

/// How often, at most, the first stage sends its watermark to the keyed stage.
pub const WATERMARK_EVERY: Duration = Duration::from_millis(50);

/// Where a Kafka source reads: what a scaled-out job's internal topic and groups derive from.
#[derive(Debug, Clone)]
pub struct KafkaEndpoint {
    /// The bootstrap servers.
    pub brokers: String,
    /// The source's consumer group, which the processes of a scaled-out job share.
    pub group_id: Option<String>,
    /// Extra librdkafka properties (also used by the internal topic's clients).
    pub properties: Vec<(String, String)>,
    /// How long brokers that cannot be reached are retried.
    pub connect_timeout: Duration,
}

/// What the processes of a scaled-out job agree on: built from the job's settings when it
/// starts, and completed by its Kafka source's endpoint while the job is wired.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
#[derive(Debug)]
pub struct ScaleOutPlan {
    job: String,
    subtasks: usize,
    max_parallelism: usize,
    checkpoints: Option<CheckpointConfig>,
    endpoint: OnceLock<KafkaEndpoint>,
    /// Why the job cannot scale out, found while wiring (reported at start).
    problems: Mutex<Vec<String>>,
    /// The first stage stopped: the keyed stage stops too.
    stopped: AtomicBool,
}

#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
impl ScaleOutPlan {
    /// The plan of the job `spec` describes.
    pub(crate) fn new(spec: &JobSpec) -> Self {
        ScaleOutPlan {
            job: spec.name.to_owned(),
            subtasks: spec.parallelism.max(1),
            max_parallelism: spec.max_parallelism.max(1),
            checkpoints: spec.checkpoints.clone(),
            endpoint: OnceLock::new(),
            problems: Mutex::default(),
            stopped: AtomicBool::new(false),
        }
    }

    /// A source named `name` was wired; `endpoint` is where it reads, if it is Kafka.
    pub(crate) fn found_source(&self, name: &str, endpoint: Option<KafkaEndpoint>) {
        let problem = match endpoint {
            None => format!("source `{name}` is not a Kafka source"),
            Some(e) if e.group_id.is_none() => format!(
                "Kafka source `{name}` has no consumer group, which its processes share: add `.group_id(\"…\")`"
            ),
            Some(e) => match self.endpoint.set(e) {
                Ok(()) => return,
                Err(_) => format!("source `{name}` is a second source; a scaled-out job has one"),
            },
        };
        self.problem(problem);
    }

    fn problem(&self, problem: String) {
        self.problems.lock().unwrap_or_else(|p| p.into_inner()).push(problem);
    }

    /// The job's error if it cannot scale out.
    pub(crate) fn check(&self) -> Result<&KafkaEndpoint, JobError> {
        let problems = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        let why = if let Some(first) = problems.first() {
            first.clone()
        } else if self.checkpoints.is_none() {
            "it takes no checkpoints, which is where each key group range keeps its state: add `checkpoint_interval: 10s`".into()
        } else if let Some(e) = self.endpoint.get() {
            return Ok(e);
        } else {
            "it has no Kafka source".into()
        };
        Err(JobError::Other(format!(
            "job `{}` cannot scale out through Kafka: {why}",
            self.job
        )))
    }

    /// The first stage stopped (the job failed, or its source ended).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether the first stage stopped.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// The consumer group of the job's Kafka source (after [`check`](Self::check)).
    pub(crate) fn group(&self) -> &str {
        self.endpoint
            .get()
            .and_then(|e| e.group_id.as_deref())
            .unwrap_or("fuseflow")
    }

    /// The internal topic the `key_by` writes to.
    pub fn topic(&self) -> String {
        format!("{}-{}-repartition", self.group(), self.job)
    }

    /// The consumer group of the keyed stage.
    pub fn keyed_group(&self) -> String {
        format!("{}-{}-keyed", self.group(), self.job)
    }

    /// The number of key group ranges: the internal topic's partitions, the keyed stage's
    /// subtasks (the job's `parallelism`).
    pub fn subtasks(&self) -> usize {
        self.subtasks
    }

    /// The number of key groups.
    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The job's checkpoint settings.
    pub(crate) fn checkpoints(&self) -> Option<&CheckpointConfig> {
        self.checkpoints.as_ref()
    }

    /// How often the first stage commits its input offsets (the checkpoint interval, 1 s
    /// without one).
    pub(crate) fn commit_every(&self) -> Duration {
        self.checkpoints
            .as_ref()
            .and_then(|c| c.interval)
            .unwrap_or(Duration::from_secs(1))
    }
}

/// How the records crossing a scaled-out job's `key_by` are written to the internal topic:
/// as JSON. [`codec`] is the one place that asks for the serde bounds, so that a record type
/// without them gets one error, at the `key_by`.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub struct Codec<R> {
    encode: fn(&R, &mut Vec<u8>) -> serde_json::Result<()>,
    decode: fn(&[u8]) -> serde_json::Result<R>,
}

impl<R> Clone for Codec<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Codec<R> {}

#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
impl<R> Codec<R> {
    /// Appends `record`'s JSON to `buf`.
    pub(crate) fn encode(&self, record: &R, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        (self.encode)(record, buf)
    }

    /// Reads a record back.
    pub(crate) fn decode(&self, bytes: &[u8]) -> serde_json::Result<R> {
        (self.decode)(bytes)
    }
}

/// The codec of the `(key, record)` pairs behind a `key_by` (what `pipeline!` generates for
/// a job with `scale_out: kafka`).
pub fn codec<K, T>(_input: Ty<(K, T)>) -> Codec<(K, T)>
where
    (K, T): Serialize + DeserializeOwned,
{
    Codec {
        encode: |r, buf| serde_json::to_writer(buf, r),
        decode: |bytes| serde_json::from_slice(bytes),
    }
}

impl<'a> Env<'a> {
    /// Creates the exchange behind the `key_by` of a job that scales out through Kafka
    /// (see the [module docs](self)): the producing chain ends in a writer to the internal
    /// topic, and one task reads the partitions of that topic this process is given, running
    /// `chain(i)` for key group range `i`, built whenever the range comes to this process.
    pub fn connect_scaled<K, T, C>(
        &mut self,
        partitioner: ByKeyGroup,
        codec: Codec<(K, T)>,
        chain: impl FnMut(usize) -> C + Send + 'a,
    ) -> ScaledLink<K, T>
    where
        K: Hash + Send + 'a,
        T: Send + 'a,
        C: Collector<(K, T)> + 'a,
    {
        let _ = &partitioner;
        let plan = self.scale_out.clone();
        #[cfg(feature = "kafka")]
        {
            let mut chain = chain;
            self.workers.push(Box::new(move |ctx: &TaskContext| match &plan {
                Some(plan) => keyed::run(plan, codec, &mut chain, ctx),
                None => {
                    ctx.fail(not_scaled());
                    ctx.task_opened();
                }
            }));
        }
        #[cfg(not(feature = "kafka"))]
        {
            let _ = (chain, plan);
            self.workers.push(Box::new(|ctx: &TaskContext| {
                ctx.fail(crate::kafka::feature_missing("a job that scales out through Kafka"));
                ctx.task_opened();
            }));
        }
        ScaledLink(codec)
    }
}

/// The group timeouts of a scaled-out job's consumers (a dead process's partitions move after
/// 6 s), under the source's own properties.
#[cfg(feature = "kafka")]
pub(crate) fn group_defaults(properties: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "1000".to_owned()),
        ("max.poll.interval.ms".to_owned(), "60000".to_owned()),
    ];
    all.extend(properties.iter().cloned());
    all
}

/// The error of a job wired to scale out but run without the plan to (a bug).
#[cfg(feature = "kafka")]
fn not_scaled() -> JobError {
    JobError::Other("a scale-out exchange in a job run without `scale_out` (a bug in fuseflow)".into())
}

/// The producer side of a scaled-out `key_by`: hands out the writer to the internal topic.
pub struct ScaledLink<K, T>(Codec<(K, T)>);

impl<K: Hash, T> ScaledLink<K, T> {
    /// The collector the producing chain ends in.
    pub fn output(&mut self) -> RemoteOutput<K, T> {
        RemoteOutput::new(self.0)
    }
}

#[cfg(feature = "kafka")]
pub use output::RemoteOutput;

/// Without the `kafka` feature the writer to the internal topic fails the job when it opens.
#[cfg(not(feature = "kafka"))]
pub struct RemoteOutput<K, T>(Ty<(K, T)>);

#[cfg(not(feature = "kafka"))]
impl<K, T> RemoteOutput<K, T> {
    fn new(_codec: Codec<(K, T)>) -> Self {
        RemoteOutput(Ty::of())
    }
}

#[cfg(not(feature = "kafka"))]
impl<K, T> Collector<(K, T)> for RemoteOutput<K, T> {
    fn open(&mut self, _ctx: &TaskContext) -> Result<(), JobError> {
        Err(crate::kafka::feature_missing("a job that scales out through Kafka"))
    }
    fn record(&mut self, _record: (K, T), _ts: crate::Timestamp) {}
    fn watermark(&mut self, _wm: crate::Timestamp) {}
    fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}
    fn end(&mut self) {}
}
