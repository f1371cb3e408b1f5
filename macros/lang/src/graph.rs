//! The checked dataflow: operators (nodes) and the streams between them (edges).
//!
//! `check` builds it from the surface AST. Nodes are numbered in source order, which is also
//! a topological order (a stream must be defined before it is used), so every later stage
//! walks plain `Vec`s and the generated code is the same on every build.

use proc_macro2::Span;
use syn::Expr;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// The job settings after checking, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Job name.
    pub name: String,
    /// Default parallelism.
    pub parallelism: u64,
    /// Number of key groups.
    pub max_parallelism: u64,
    /// `"stderr"` or a path.
    pub dead_letter: String,
    /// Checkpoint every this many milliseconds (`checkpoint_interval`).
    pub checkpoint_interval_ms: Option<i64>,
    /// Checkpoint every this many source records (`checkpoint_every_records`).
    pub checkpoint_every_records: Option<u64>,
    /// Where checkpoints go (`checkpoint_dir`).
    pub checkpoint_dir: String,
    /// Complete checkpoints kept (`checkpoints_retained`).
    pub checkpoints_retained: u64,
    /// What to do when the job fails while running (`restart`).
    pub restart: Restart,
    /// `state_backend: rocksdb` (else memory).
    pub rocksdb: bool,
    /// The job names its state backend (`state_backend: memory` or `rocksdb`): its windows and
    /// keyed `reduce` are then ready for a byte backend (`--state-backend` can move them).
    pub state_backend_set: bool,
    /// `state_dir: "path"`.
    pub state_dir: Option<String>,
    /// `scale_out: kafka`: the job runs as several processes sharing its Kafka input and,
    /// through an internal topic, its keyed stage.
    pub scale_out: bool,
}

/// The `restart` job setting: Flink's restart strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// `none`: fail at the first failure.
    #[default]
    None,
    /// `fixed_delay(attempts, delay)`.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each, in ms.
        delay_ms: i64,
    },
    /// `exponential_delay(initial, max, attempts)`: the wait doubles from `initial` up to `max`.
    ExponentialDelay {
        /// First wait, in ms.
        initial_ms: i64,
        /// Longest wait, in ms.
        max_ms: i64,
        /// Restarts allowed.
        attempts: u32,
    },
}

impl JobSettings {
    /// Whether the job takes checkpoints (then its stateful operators save their state).
    pub fn checkpoints(&self) -> bool {
        self.checkpoint_interval_ms.is_some() || self.checkpoint_every_records.is_some()
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            name: "job".into(),
            parallelism: 1,
            max_parallelism: 128,
            dead_letter: "stderr".into(),
            checkpoint_interval_ms: None,
            checkpoint_every_records: None,
            checkpoint_dir: "checkpoints".into(),
            checkpoints_retained: 3,
            restart: Restart::None,
            rocksdb: false,
            state_backend_set: false,
            state_dir: None,
            scale_out: false,
        }
    }
}

/// The whole checked dataflow.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Job settings.
    pub settings: JobSettings,
    /// Operators in topological (source) order.
    pub nodes: Vec<Node>,
    /// Streams between them.
    pub edges: Vec<Edge>,
}

/// One operator.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it does.
    pub kind: NodeKind,
    /// The span of the word that introduced it (errors from rustc land here).
    pub span: Span,
    /// `.on_error(dead_letter)` follows it: a record whose call fails or panics goes to the
    /// dead-letter output instead of failing the job (`map` and `try_map` only).
    pub dead_letter_on_error: bool,
    /// `.uid("name")` follows it: the stable id its state is saved under in checkpoints
    /// (Flink's `uid`), instead of its kind and position.
    pub uid: Option<String>,
    /// `.idleness(d)` follows it (a `watermarks` fused into a Kafka source): a partition
    /// without records for this many milliseconds stops holding the watermark back.
    pub idleness_ms: Option<i64>,
}

/// How records move along an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exchange {
    /// Same worker, direct call: the two operators fuse into one chain.
    Forward,
    /// Partitioned by key (after `key_by`): a chain boundary.
    Hash,
    /// Spread over the workers in turn (after `rebalance()`): a chain boundary.
    Rebalance,
}

/// A stream from output `port` of `from` into `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Producer.
    pub from: NodeId,
    /// Producer's output: 0 is the main output, 1 a window's late-data side output.
    pub port: usize,
    /// Consumer.
    pub to: NodeId,
    /// How records cross it.
    pub exchange: Exchange,
}

/// A stateless one-in operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stateless {
    /// `map`
    Map,
    /// `try_map`
    TryMap,
    /// `filter`
    Filter,
    /// `flat_map`
    FlatMap,
    /// `filter_map`
    FilterMap,
    /// `inspect`
    Inspect,
}

impl Stateless {
    /// The DSL word.
    pub fn name(self) -> &'static str {
        match self {
            Stateless::Map => "map",
            Stateless::TryMap => "try_map",
            Stateless::Filter => "filter",
            Stateless::FlatMap => "flat_map",
            Stateless::FilterMap => "filter_map",
            Stateless::Inspect => "inspect",
        }
    }
}

/// Event time or processing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    /// Timestamps from the records, progress from watermarks.
    EventTime,
    /// The wall clock when a record arrives.
    ProcessingTime,
}

/// A window function and its argument.
#[derive(Debug, Clone)]
pub struct WindowFn {
    /// `count`, `sum`, `min`, `max`, `avg`, `reduce` or `aggregate`.
    pub name: String,
    /// Its argument (a closure or an `AggregateFunction` value), if any.
    pub arg: Option<Expr>,
    /// The span of its name.
    pub span: Span,
}

/// A keyed tumbling window with its settings and function.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    /// Event or processing time.
    pub time: TimeKind,
    /// Window size in ms.
    pub size_ms: i64,
    /// Allowed lateness in ms (event time only).
    pub lateness_ms: i64,
    /// The late-data side output's name, if captured (`side_output_late_data`).
    pub late_output: Option<String>,
    /// The window function.
    pub func: WindowFn,
}

/// The watermark strategy of a `watermarks` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `bounded_out_of_orderness(d)`
    BoundedOutOfOrderness(i64),
    /// `monotonous()`
    Monotonous,
}

/// What an operator does, with the user's code it runs.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A source: `kind` is the DSL word, `name` the stream name used in dead letters.
    Source {
        /// `csv`, `json_lines`, `from_iter`, `generate`, `stdin_lines` or `kafka`.
        kind: String,
        /// A name for logs and dead letters.
        name: String,
        /// The record type given with a turbofish.
        generics: Option<syn::AngleBracketedGenericArguments>,
        /// The call's arguments.
        args: Vec<Expr>,
        /// `.parallel()` follows it (a `generate`): it runs as one instance per worker, each
        /// generating its share of the indices and driving its own copy of the chain behind.
        parallel: bool,
    },
    /// `map`, `filter`, `flat_map`, `filter_map`, `inspect`.
    Stateless(Stateless, Expr),
    /// `timestamps(f)`.
    Timestamps(Expr),
    /// `watermarks(strategy)`.
    Watermarks(Strategy),
    /// `key_by(f)`.
    KeyBy(Expr),
    /// Keyed running `reduce(f)`.
    KeyedReduce(Expr),
    /// Keyed `process(f)`: a `KeyedProcessFunction` with keyed state and timers.
    KeyedProcess(Expr),
    /// `window(…)` with everything up to its window function.
    Window(WindowSpec),
    /// `sink(kind(args))`.
    Sink {
        /// `stdout`, `csv`, `json_lines`, `collect`, `for_each`, `fold` or `postgres`.
        kind: String,
        /// The name `--output <name>=<path>` overrides it by: the stream it writes, when it
        /// directly follows a stream name, else `sink_<n>`; made unique with a suffix.
        name: String,
        /// The sink's arguments.
        args: Vec<Expr>,
    },
}

impl Graph {
    /// The edges leaving output `port` of `node`, in order.
    pub fn consumers(&self, node: NodeId, port: usize) -> Vec<&Edge> {
        self.edges.iter().filter(|e| e.from == node && e.port == port).collect()
    }

    /// The edge into `node`, if it has one (sources have none).
    pub fn input(&self, node: NodeId) -> Option<&Edge> {
        self.edges.iter().find(|e| e.to == node)
    }

    /// For the `watermarks` node `id`: whether it and the `timestamps` before it fuse into the
    /// Kafka source before that, which then generates watermarks per partition. They do when
    /// each of the three feeds only the next.
    pub fn fused_into_kafka_source(&self, id: NodeId) -> Option<(NodeId, NodeId)> {
        if !matches!(self.nodes[id].kind, NodeKind::Watermarks(_)) {
            return None;
        }
        let ts = self.input(id)?.from;
        let src = self.input(ts)?.from;
        let only = |n: NodeId, next: NodeId| matches!(self.consumers(n, 0)[..], [e] if e.to == next);
        let fused = matches!(self.nodes[ts].kind, NodeKind::Timestamps(_))
            && matches!(&self.nodes[src].kind, NodeKind::Source { kind, .. } if kind == "kafka")
            && only(src, ts)
            && only(ts, id);
        fused.then_some((src, ts))
    }

    /// The label of node `id` in rendered plans: its kind's, and for a `timestamps` or
    /// `watermarks` fused into a Kafka source, that they run per partition in the source.
    pub fn label(&self, id: NodeId) -> String {
        let label = self.nodes[id].kind.label();
        let fused_wm = |wm: NodeId| self.fused_into_kafka_source(wm).is_some();
        match self.nodes[id].kind {
            NodeKind::Watermarks(_) if fused_wm(id) => match self.nodes[id].idleness_ms {
                Some(ms) => format!("{label} per partition in the source, idleness {}", fmt_ms(ms)),
                None => format!("{label} per partition in the source"),
            },
            NodeKind::Timestamps(_) if self.consumers(id, 0).first().is_some_and(|e| fused_wm(e.to)) => {
                format!("{label} per partition in the source")
            }
            _ => label,
        }
    }

    /// Whether `node` is a source marked `.parallel()`: its chain runs once per worker.
    pub fn is_parallel_source(&self, node: NodeId) -> bool {
        matches!(self.nodes[node].kind, NodeKind::Source { parallel: true, .. })
    }

    /// How many outputs `node` has.
    pub fn ports(&self, node: NodeId) -> usize {
        match &self.nodes[node].kind {
            NodeKind::Sink { .. } => 0,
            NodeKind::Window(w) if w.time == TimeKind::EventTime => 2,
            _ => 1,
        }
    }
}

impl NodeKind {
    /// A short label for plans: `map`, `csv "clicks"`, `window tumbling 10s count`.
    pub fn label(&self) -> String {
        match self {
            NodeKind::Source {
                kind, name, parallel, ..
            } => {
                let per_worker = if *parallel { ", one instance per worker" } else { "" };
                format!("source {kind} \"{name}\"{per_worker}")
            }
            NodeKind::Stateless(op, _) => op.name().into(),
            NodeKind::Timestamps(_) => "timestamps".into(),
            NodeKind::Watermarks(Strategy::BoundedOutOfOrderness(ms)) => {
                format!("watermarks bounded_out_of_orderness({})", fmt_ms(*ms))
            }
            NodeKind::Watermarks(Strategy::Monotonous) => "watermarks monotonous".into(),
            NodeKind::KeyBy(_) => "key_by".into(),
            NodeKind::KeyedReduce(_) => "keyed reduce".into(),
            NodeKind::KeyedProcess(_) => "keyed process".into(),
            NodeKind::Window(w) => {
                let time = match w.time {
                    TimeKind::EventTime => "event-time",
                    TimeKind::ProcessingTime => "processing-time",
                };
                let mut s = format!("window tumbling({}) {time}", fmt_ms(w.size_ms));
                if w.time == TimeKind::EventTime {
                    s.push_str(&format!(" lateness {}", fmt_ms(w.lateness_ms)));
                }
                s.push_str(&format!(" {}", w.func.name));
                s
            }
            NodeKind::Sink { kind, .. } => format!("sink {kind}"),
        }
    }

    /// Whether this operator keeps state (and so gets a stable operator id in checkpoints).
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            NodeKind::KeyedReduce(_) | NodeKind::KeyedProcess(_) | NodeKind::Window(_) | NodeKind::Watermarks(_)
        )
    }
}

/// Milliseconds in the largest unit that divides them: `10s`, `500ms`, `5min`.
pub fn fmt_ms(ms: i64) -> String {
    for (unit, factor) in crate::duration::UNITS.iter().rev() {
        if ms != 0 && ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}
