//! Exchanges: where a job's dataflow crosses from one fused chain to parallel instances of
//! the next, and the [`Env`] that wires them when a job starts.
//!
//! A `key_by` ends a chain. Behind it, the next chain runs on `parallelism` worker threads;
//! each key belongs to one key group (`hash(key) % max_parallelism`, Flink's model) and each
//! key group to one worker (`key_group * parallelism / max_parallelism`). Records cross
//! threads in batches over bounded channels: a full channel blocks the producer, so memory
//! stays bounded under a slow consumer (backpressure).
//!
//! Watermarks and the end of input travel in-band, in order with the records. A producer
//! sends a worker the current watermark just before the next record it routes there (and to
//! every worker at the end), so each worker sees its records interleaved with exactly the
//! watermarks they were judged against at parallelism 1: lateness decisions, and so results,
//! do not depend on parallelism. A worker fed by several producers takes the minimum of their
//! watermarks. At parallelism 1 an exchange is a direct call: no thread, no channel.
//!
//! A parallel source ([`Env::add_parallel_source`]) needs no exchange: each of its instances
//! drives its own copy of the chain behind it, and an exchange after that chain has one
//! producer per instance.

use crate::checkpoint::{Barrier, key_group_of};
use crate::{Collector, JobError, MIN_WATERMARK, TaskContext, Timestamp, Ty};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::collections::VecDeque;
use std::hash::Hash;

/// Records per batch sent over a channel.
pub const BATCH_SIZE: usize = 1024;

/// Batches a channel holds before its producer blocks.
pub const CHANNEL_CAPACITY: usize = 16;

/// What crosses an exchange.
#[derive(Debug)]
enum Message<R> {
    Record(R, Timestamp),
    Watermark(Timestamp),
    Barrier(Barrier),
    /// The producer's source waits for input: hand on what is buffered.
    Flush,
    End,
}

/// The channel to one worker, and the one its drained batches come back on.
type WorkerChannel<R> = (Sender<Batch<R>>, Receiver<Vec<Message<R>>>);

/// A batch of messages from one producer.
#[derive(Debug)]
struct Batch<R> {
    from: usize,
    messages: Vec<Message<R>>,
}

/// Chooses the worker a record goes to.
pub trait Partitioner<R>: Clone {
    /// Called once with the number of workers before the first [`worker`](Self::worker).
    fn prepare(&mut self, _workers: usize) {}

    /// The worker, in `0..workers`, for `record`.
    fn worker(&mut self, record: &R, workers: usize) -> usize;
}

/// Partitions `(key, value)` records by key group, as Flink's `KeyGroupRangeAssignment`:
/// key → key group → worker (`key_group * workers / max_parallelism`).
#[derive(Debug, Clone)]
pub struct ByKeyGroup {
    max_parallelism: usize,
    /// The worker of each key group: a table lookup instead of a division per record.
    worker_of: Vec<u32>,
}

/// The hash exchange after `key_by`, for records `(K, T)`.
pub fn by_key_group<K: Hash, T>(_input: Ty<(K, T)>, max_parallelism: usize) -> ByKeyGroup {
    ByKeyGroup {
        max_parallelism: max_parallelism.max(1),
        worker_of: Vec::new(),
    }
}

impl ByKeyGroup {
    /// The key group of `key`, in `0..max_parallelism`: a fixed-seed hash (the same in every
    /// run) mapped onto the range by a multiply-shift rather than a division.
    #[inline]
    pub fn key_group<K: Hash>(&self, key: &K) -> usize {
        key_group_of(key, self.max_parallelism)
    }
}

impl<K: Hash, T> Partitioner<(K, T)> for ByKeyGroup {
    fn prepare(&mut self, workers: usize) {
        let m = self.max_parallelism;
        self.worker_of = (0..m).map(|kg| (kg * workers / m) as u32).collect();
    }

    #[inline]
    fn worker(&mut self, record: &(K, T), _workers: usize) -> usize {
        self.worker_of[self.key_group(&record.0)] as usize
    }
}

/// Wires a job when it starts: how many workers, which source tasks, which worker loops.
///
/// Generated code calls [`Env::connect`] for every exchange and [`Env::add_source`] for every
/// source, once the parallelism is known (it may be overridden after `pipeline!` built the job).
pub struct Env<'a> {
    parallelism: usize,
    pub(crate) sources: Vec<(&'static str, crate::job::Task<'a>)>,
    /// The instances of parallel sources, each to run on a thread of its own.
    pub(crate) source_instances: Vec<SourceInstance<'a>>,
    pub(crate) workers: Vec<Worker<'a>>,
    /// Paths to read instead of a file source's own, by source name (`--input`).
    pub(crate) input_overrides: std::collections::BTreeMap<String, crate::source::InputPaths>,
    /// The names of the sources that read files.
    pub(crate) file_sources: Vec<&'static str>,
    /// How a scaled-out job reaches Kafka (`None`: the job runs in one process).
    pub(crate) scale_out: Option<std::sync::Arc<crate::scale_out::ScaleOutPlan>>,
}

/// A worker loop, ready to move to its thread.
pub(crate) type Worker<'a> = Box<dyn FnOnce(&TaskContext) + Send + 'a>;

/// One instance of a parallel source ([`Env::add_parallel_source`]): opens its chain (on
/// the job's thread, given the instance's context) and returns what drives its share of the
/// source through it, on a thread of its own.
pub(crate) struct SourceInstance<'a> {
    pub(crate) name: &'static str,
    pub(crate) instance: usize,
    pub(crate) instances: usize,
    pub(crate) open: OpenInstance<'a>,
}

/// Opens the chain of a parallel source's instance.
pub(crate) type OpenInstance<'a> = Box<dyn FnOnce(&TaskContext) -> Result<InstanceRun<'a>, JobError> + Send + 'a>;

/// An open instance of a parallel source: drives its share of the input to the end.
pub(crate) type InstanceRun<'a> = Box<dyn FnOnce(&TaskContext) -> Result<(), JobError> + Send + 'a>;

impl<'a> Env<'a> {
    pub(crate) fn new(parallelism: usize) -> Self {
        Env {
            parallelism: parallelism.max(1),
            sources: Vec::new(),
            source_instances: Vec::new(),
            workers: Vec::new(),
            input_overrides: Default::default(),
            file_sources: Vec::new(),
            scale_out: None,
        }
    }

    /// The number of worker threads behind each exchange.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Adds a task: `source` drives the fused chain `head` on the job's own thread.
    ///
    /// A file source named in the job's input overrides reads the overriding paths.
    pub fn add_source<S, C>(&mut self, name: &'static str, source: S, mut head: C)
    where
        S: crate::Source + 'a,
        C: Collector<S::Item> + 'a,
    {
        let mut source = source;
        if let Some(plan) = &self.scale_out {
            plan.found_source(name, source.kafka_endpoint());
        }
        if let Some(paths) = source.input_paths_mut() {
            self.file_sources.push(name);
            if let Some(other) = self.input_overrides.get(name) {
                *paths = other.clone();
            }
        }
        let task = move |ctx: &TaskContext| -> Result<crate::job::Run<'a>, JobError> {
            head.open(ctx)?;
            Ok(Box::new(move |ctx: &TaskContext| source.run(name, &mut head, ctx)))
        };
        self.sources.push((name, Box::new(task)));
    }

    /// Adds a parallel source: `parallelism` instances, each driving its own copy of the fused
    /// chain behind the source on a thread of its own, with no exchange in between (Flink's
    /// parallel source, each instance reading its split). `instance(i)` builds instance `i`'s
    /// source and chain; the source reads the share [`TaskContext::source_instance`] gives it
    /// (see [`SplitSource`](crate::source::SplitSource)).
    ///
    /// An exchange after the chain has `parallelism` producers (`parallel_producers` in
    /// [`Env::connect`]), whose watermarks it merges as their minimum. In checkpoints, each
    /// instance keeps its own position, under `name#i`.
    pub fn add_parallel_source<S, C>(&mut self, name: &'static str, mut instance: impl FnMut(usize) -> (S, C))
    where
        S: crate::source::SplitSource + Send + 'a,
        C: Collector<S::Item> + Send + 'a,
    {
        let instances = self.parallelism;
        for i in 0..instances {
            let (source, mut head) = instance(i);
            let open = move |ctx: &TaskContext| -> Result<InstanceRun<'a>, JobError> {
                head.open(ctx)?;
                Ok(Box::new(move |ctx: &TaskContext| source.run(name, &mut head, ctx)))
            };
            self.source_instances.push(SourceInstance {
                name,
                instance: i,
                instances,
                open: Box::new(open),
            });
        }
    }

    /// Creates the exchange into a chain: `chain(worker)` builds the instance for each worker.
    ///
    /// `parallel_producers` says whether the chain feeding the exchange itself runs once per
    /// worker (a second `key_by`, or a parallel source's chain) or once (a source's chain). The returned [`Link`] hands
    /// out the producers' ends with [`Link::output`].
    pub fn connect<R, P, C>(
        &mut self,
        partitioner: P,
        parallel_producers: bool,
        mut chain: impl FnMut(usize) -> C,
    ) -> Link<C, R, P>
    where
        R: Send + 'a,
        P: Partitioner<R>,
        C: Collector<R> + Send + 'a,
    {
        let n = self.parallelism;
        if n == 1 {
            return Link {
                direct: Some(chain(0)),
                senders: Vec::new(),
                partitioner,
                produced: 0,
            };
        }
        let producers = if parallel_producers { n } else { 1 };
        let mut senders = Vec::with_capacity(n);
        for worker in 0..n {
            let (tx, rx) = bounded::<Batch<R>>(CHANNEL_CAPACITY);
            // Drained batches go back to the producers, so batches are allocated once.
            let (recycle_tx, recycle_rx) = bounded::<Vec<Message<R>>>(CHANNEL_CAPACITY + 2);
            senders.push((tx, recycle_rx));
            let mut instance = chain(worker);
            self.workers.push(Box::new(move |ctx: &TaskContext| {
                let ctx = &ctx.for_subtask(worker, n);
                // Failures (errors, panics) are recorded before the job hears that this
                // worker is open. A panic while draining fails the job (which a restart
                // strategy may restart); dropping the receiver unblocks the producers.
                match crate::job::catch_panic(|| instance.open(ctx)) {
                    Ok(Ok(())) => {
                        ctx.task_opened();
                        if let Err(e) =
                            crate::job::catch_panic(|| drain(&rx, &recycle_tx, producers, &mut instance, ctx))
                        {
                            ctx.fail(JobError::Other(format!("worker {worker}: {e}")));
                        }
                    }
                    Ok(Err(e)) | Err(e) => {
                        ctx.fail(e);
                        ctx.task_opened();
                    }
                }
            }));
        }
        Link {
            direct: None,
            senders,
            partitioner,
            produced: 0,
        }
    }
}

/// Feeds one worker's chain from its channel until every producer has ended, then ends the
/// chain; returns without ending it when the producers are gone without ending (failed).
///
/// Checkpoint barriers are *aligned*: once a producer's barrier has arrived, that producer's
/// later messages wait in a queue until every producer's barrier has arrived; then the
/// chain passes the barrier on (saving its state), the worker acknowledges it, and the
/// queued messages go through in their order. So the state saved holds exactly the records
/// that came before the barrier on every input, as Flink's aligned checkpoints.
fn drain<R, C: Collector<R>>(
    rx: &Receiver<Batch<R>>,
    recycle: &Sender<Vec<Message<R>>>,
    producers: usize,
    chain: &mut C,
    ctx: &TaskContext,
) {
    let mut input = Input {
        watermarks: vec![MIN_WATERMARK; producers],
        current: MIN_WATERMARK,
        ended: 0,
        blocked: vec![false; producers],
        queued: (0..producers).map(|_| VecDeque::new()).collect(),
        arrived: 0,
    };
    while input.ended < producers {
        let Ok(mut batch) = rx.recv() else {
            // Every producer is gone without ending its input: an upstream task failed. The
            // input was cut off, not ended, so the chain does not end (its sinks deliver
            // nothing); the job reports the upstream failure.
            return;
        };
        for message in batch.messages.drain(..) {
            input.handle(batch.from, message, chain, ctx);
        }
        let _ = recycle.try_send(batch.messages);
    }
    chain.end();
}

/// What a worker knows about its producers while draining.
struct Input<R> {
    watermarks: Vec<Timestamp>,
    current: Timestamp,
    ended: usize,
    /// Producers whose barrier arrived before the others' (their messages queue up).
    blocked: Vec<bool>,
    queued: Vec<VecDeque<Message<R>>>,
    /// How many producers' barriers have arrived for the barrier being aligned.
    arrived: usize,
}

impl<R> Input<R> {
    #[inline]
    fn handle<C: Collector<R>>(&mut self, from: usize, message: Message<R>, chain: &mut C, ctx: &TaskContext) {
        if self.blocked[from] {
            self.queued[from].push_back(message);
            return;
        }
        match message {
            Message::Record(r, ts) => chain.record(r, ts),
            Message::Watermark(wm) => {
                self.watermarks[from] = wm;
                let min = self.watermarks.iter().copied().min().unwrap_or(wm);
                if min > self.current {
                    self.current = min;
                    chain.watermark(min);
                }
            }
            Message::Barrier(barrier) => self.barrier(from, barrier, chain, ctx),
            Message::Flush => chain.flush(),
            Message::End => self.ended += 1,
        }
    }

    #[cold]
    fn barrier<C: Collector<R>>(&mut self, from: usize, barrier: Barrier, chain: &mut C, ctx: &TaskContext) {
        self.blocked[from] = true;
        self.arrived += 1;
        if self.arrived < self.blocked.len() {
            return;
        }
        chain.checkpoint(barrier);
        if let Some(c) = ctx.checkpoints()
            && let Err(e) = c.ack(barrier.id)
        {
            ctx.fail(e);
        }
        self.arrived = 0;
        self.blocked.iter_mut().for_each(|b| *b = false);
        // Replay what waited, producer by producer; a queued barrier blocks its producer
        // again, and the rest of that producer's queue stays queued behind it.
        for p in 0..self.queued.len() {
            while !self.blocked[p] {
                let Some(m) = self.queued[p].pop_front() else { break };
                self.handle(p, m, chain, ctx);
            }
        }
    }
}

/// The producer side of an exchange, handed out once per producing chain instance.
pub struct Link<C, R, P> {
    direct: Option<C>,
    senders: Vec<WorkerChannel<R>>,
    partitioner: P,
    produced: usize,
}

impl<C, R, P: Partitioner<R>> Link<C, R, P> {
    /// The collector a producing chain ends in: at parallelism 1 the consuming chain itself,
    /// otherwise a batching sender to every worker.
    pub fn output(&mut self) -> Output<C, R, P> {
        let from = self.produced;
        self.produced += 1;
        match self.direct.take() {
            Some(chain) => Output::Direct(chain),
            None => {
                let n = self.senders.len();
                Output::Channels(Channels {
                    from,
                    senders: self.senders.clone(),
                    partitioner: {
                        let mut p = self.partitioner.clone();
                        p.prepare(n);
                        p
                    },
                    buffers: (0..n).map(|_| Vec::with_capacity(BATCH_SIZE)).collect(),
                    watermark: MIN_WATERMARK,
                    sent: vec![MIN_WATERMARK; n],
                    routed: 0,
                    sent_since_sync: vec![false; n],
                })
            }
        }
    }
}

/// The end of a producing chain: see [`Link::output`].
pub enum Output<C, R, P> {
    /// Parallelism 1: a direct call into the consuming chain.
    Direct(C),
    /// Batches to the workers.
    Channels(Channels<R, P>),
}

/// Batching senders to every worker of an exchange.
pub struct Channels<R, P> {
    from: usize,
    senders: Vec<WorkerChannel<R>>,
    partitioner: P,
    buffers: Vec<Vec<Message<R>>>,
    watermark: Timestamp,
    sent: Vec<Timestamp>,
    /// Records routed since the last sync (see [`SYNC_INTERVAL`]).
    routed: usize,
    /// Whether each worker's buffer was sent since the last sync.
    sent_since_sync: Vec<bool>,
}

/// Every this many records routed, a producer brings every worker up to date: workers that
/// got no records meanwhile receive the current watermark, and buffers that were not sent
/// since the previous sync are sent. So a worker whose keys are rare still sees event time
/// advance (its windows fire, and it does not hold back the watermark of the chain after it),
/// and no record waits in a buffer for more than two intervals. Counting records, not time,
/// keeps the outcome the same in every run.
pub const SYNC_INTERVAL: usize = 4 * BATCH_SIZE;

impl<R, P> Channels<R, P> {
    /// Queues the current watermark for `worker` if it has not been sent there yet.
    #[inline]
    fn catch_up(&mut self, worker: usize) {
        if self.sent[worker] != self.watermark {
            self.sent[worker] = self.watermark;
            self.buffers[worker].push(Message::Watermark(self.watermark));
        }
    }

    /// Sends every worker the current watermark and then `message()`, at once.
    fn broadcast(&mut self, message: impl Fn() -> Message<R>) {
        for w in 0..self.senders.len() {
            self.catch_up(w);
            self.buffers[w].push(message());
            self.flush(w);
        }
    }

    /// See [`SYNC_INTERVAL`].
    #[cold]
    fn sync(&mut self) {
        self.routed = 0;
        for w in 0..self.senders.len() {
            self.catch_up(w);
            if !self.sent_since_sync[w] && !self.buffers[w].is_empty() {
                self.flush(w);
            }
            self.sent_since_sync[w] = false;
        }
    }

    fn flush(&mut self, worker: usize) {
        self.sent_since_sync[worker] = true;
        let (tx, recycled) = &self.senders[worker];
        let fresh = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_SIZE));
        let messages = std::mem::replace(&mut self.buffers[worker], fresh);
        // A worker that is gone has failed; the job reports that, so the batch is moot.
        let _ = tx.send(Batch {
            from: self.from,
            messages,
        });
    }
}

impl<C: Collector<R>, R, P: Partitioner<R>> Collector<R> for Output<C, R, P> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        match self {
            Output::Direct(c) => c.open(ctx),
            Output::Channels(_) => Ok(()),
        }
    }

    #[inline]
    fn record(&mut self, record: R, ts: Timestamp) {
        match self {
            Output::Direct(c) => c.record(record, ts),
            Output::Channels(ch) => {
                let w = ch.partitioner.worker(&record, ch.senders.len());
                ch.catch_up(w);
                ch.buffers[w].push(Message::Record(record, ts));
                if ch.buffers[w].len() >= BATCH_SIZE {
                    ch.flush(w);
                }
                ch.routed += 1;
                if ch.routed >= SYNC_INTERVAL {
                    ch.sync();
                }
            }
        }
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        match self {
            Output::Direct(c) => c.watermark(wm),
            Output::Channels(ch) => ch.watermark = wm,
        }
    }

    fn checkpoint(&mut self, barrier: Barrier) {
        match self {
            Output::Direct(c) => c.checkpoint(barrier),
            // Every worker gets the current watermark before the barrier, so the state each
            // saves was judged against the same watermark it will meet on restore.
            Output::Channels(ch) => ch.broadcast(|| Message::Barrier(barrier)),
        }
    }

    fn flush(&mut self) {
        match self {
            Output::Direct(c) => c.flush(),
            Output::Channels(ch) => ch.broadcast(|| Message::Flush),
        }
    }

    fn end(&mut self) {
        match self {
            Output::Direct(c) => c.end(),
            Output::Channels(ch) => ch.broadcast(|| Message::End),
        }
    }
}

/// A copy of an operator for one worker: chains behind an exchange run once per worker, so
/// their operators (and the closures in them) must be `Clone`.
pub fn clone_for_worker<T: Clone>(operator: &T) -> T {
    operator.clone()
}

/// Spreads records over the workers in turn (Flink's `rebalance()`), for stateless work.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

/// The rebalancing exchange after `rebalance()`, for records `T`.
pub fn round_robin<T>(_input: Ty<T>) -> RoundRobin {
    RoundRobin::default()
}

impl<T> Partitioner<T> for RoundRobin {
    #[inline]
    fn worker(&mut self, _record: &T, workers: usize) -> usize {
        let w = self.next;
        self.next = if w + 1 == workers { 0 } else { w + 1 };
        w
    }
}
