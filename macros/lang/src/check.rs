//! Every rule of the DSL that spans more than one token, in one place, building the
//! [`Graph`] as it goes.
//!
//! What belongs here: name resolution (undefined, duplicate, unused streams), the shape of a
//! stream as it flows (plain → keyed → windowed), event-time prerequisites, durations, sink
//! placement and job settings. Each rule records an error at the offending token, says what
//! to write instead, and checking goes on, so one compile shows every mistake. Type errors in
//! user closures are left to rustc, which reports them at the closure (see `codegen`).

use crate::ast::{Call, Head, Pipeline, Stmt};
use crate::duration::parse_duration;
use crate::errors::Errors;
use crate::graph::{
    Edge, Exchange, Graph, JobSettings, Node, NodeId, NodeKind, Restart, Stateless, Strategy, TimeKind, WindowFn,
    WindowSpec,
};
use crate::ops::{self, Word};
use proc_macro2::Span;
use std::collections::BTreeMap;
use syn::spanned::Spanned;
use syn::{Expr, Lit};

/// What a stream is at some point of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    Keyed,
}

/// A stream flowing out of `(node, port)`, with what is known about it.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    node: NodeId,
    port: usize,
    shape: Shape,
    /// A `timestamps` operator is upstream.
    timestamps: bool,
    /// A `watermarks` operator is upstream.
    watermarks: bool,
    /// `rebalance()` was called: the next operator is across a round-robin exchange.
    rebalanced: bool,
    /// The records are results of an event-time window (and so are never late downstream).
    windowed: bool,
    /// The records come from the instances of a `.parallel()` source, each its own share,
    /// before any exchange.
    split: bool,
}

/// A named stream.
#[derive(Debug)]
struct Named {
    cursor: Cursor,
    span: Span,
    used: bool,
}

/// Settings gathered between `.window(…)` and its window function.
struct PendingWindow {
    span: Span,
    time: TimeKind,
    size_ms: i64,
    lateness: Option<(i64, Span)>,
    late: Option<LatePolicy>,
    /// False when the window call itself or its input had a mistake (already reported):
    /// its settings are still checked, but it builds nothing and reports nothing more.
    valid: bool,
}

enum LatePolicy {
    SideOutput(syn::Ident),
    Drop(Span),
}

struct Checker<'e> {
    errors: &'e mut Errors,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    streams: BTreeMap<String, Named>,
    /// The `uid`s given so far, where.
    uids: BTreeMap<String, Span>,
    /// Names bound later in the pipeline, to say "defined below" instead of "undefined".
    later: BTreeMap<String, Span>,
    sources: usize,
    sinks: usize,
    /// A stream name could not be resolved: "never used" errors would only echo that typo.
    unresolved: bool,
    /// For each node, whether it runs behind an exchange (once per worker).
    parallel: Vec<bool>,
    /// How many sinks took each name so far.
    sink_names: BTreeMap<String, usize>,
    /// Where each `watermarks` node's `.idleness(…)` was written.
    idleness_spans: BTreeMap<NodeId, Span>,
    /// Where `rebalance()` was called.
    rebalances: Vec<Span>,
}

/// Checks a parsed pipeline and builds its graph; errors go to `errors`.
pub fn check(pipeline: &Pipeline, errors: &mut Errors) -> Graph {
    let settings = check_settings(pipeline, errors);
    let mut later = BTreeMap::new();
    for stmt in &pipeline.stmts {
        if let Some(b) = &stmt.binding {
            later.entry(b.to_string()).or_insert(b.span());
        }
    }
    let mut c = Checker {
        errors,
        nodes: Vec::new(),
        edges: Vec::new(),
        streams: BTreeMap::new(),
        later,
        uids: BTreeMap::new(),
        sources: 0,
        sinks: 0,
        unresolved: false,
        parallel: Vec::new(),
        sink_names: BTreeMap::new(),
        idleness_spans: BTreeMap::new(),
        rebalances: Vec::new(),
    };
    for stmt in &pipeline.stmts {
        if let Some(b) = &stmt.binding {
            c.later.remove(&b.to_string());
        }
        c.check_stmt(stmt);
    }
    c.check_unused();
    c.check_idleness_fused();
    if settings.scale_out {
        c.check_scale_out(pipeline, &settings);
    }
    if pipeline.stmts.is_empty() {
        c.errors.push(
            pipeline.span,
            "this pipeline has no statements: start with a source, e.g. `csv::<Record>(\"in.csv\").sink(stdout());`",
        );
    } else if c.errors.is_empty() && c.sources == 0 {
        c.errors.push(
            pipeline.span,
            "this pipeline has no source: a chain must start with a source such as `csv::<Record>(\"in.csv\")`",
        );
    } else if c.errors.is_empty() && c.sinks == 0 {
        c.errors.push(
            pipeline.span,
            "this pipeline has no sink: end a chain with `.sink(stdout())` or another sink",
        );
    }
    Graph {
        settings,
        nodes: c.nodes,
        edges: c.edges,
    }
}

/// `restart: none | fixed_delay(attempts, delay) | exponential_delay(initial, max, attempts)`.
fn parse_restart(value: &Expr) -> Result<Restart, (Span, String)> {
    const USAGE: &str = "`restart` takes `none`, `fixed_delay(3, 10s)` (attempts, delay) or `exponential_delay(1s, 1min, 10)` (first delay, longest delay, attempts)";
    let attempts = |e: &Expr| -> Result<u32, (Span, String)> {
        match e {
            Expr::Lit(l) => match &l.lit {
                Lit::Int(i) => i.base10_parse::<u32>().ok().filter(|n| *n > 0),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            (
                e.span(),
                "the number of restart attempts must be a positive integer literal, e.g. `3`".to_owned(),
            )
        })
    };
    let delay = |e: &Expr| parse_duration(e).map_err(|m| (e.span(), m));
    match value {
        Expr::Path(p) if p.path.is_ident("none") => Ok(Restart::None),
        Expr::Call(c) => {
            let name = match &*c.func {
                Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                _ => None,
            };
            let args: Vec<&Expr> = c.args.iter().collect();
            match (name.as_deref(), args.as_slice()) {
                (Some("fixed_delay"), [a, d]) => Ok(Restart::FixedDelay {
                    attempts: attempts(a)?,
                    delay_ms: delay(d)?,
                }),
                (Some("exponential_delay"), [i, m, a]) => {
                    let (initial_ms, max_ms) = (delay(i)?, delay(m)?);
                    if max_ms < initial_ms {
                        return Err((
                            m.span(),
                            "the longest delay must be at least the first delay".to_owned(),
                        ));
                    }
                    Ok(Restart::ExponentialDelay {
                        initial_ms,
                        max_ms,
                        attempts: attempts(a)?,
                    })
                }
                _ => Err((value.span(), USAGE.to_owned())),
            }
        }
        _ => Err((value.span(), USAGE.to_owned())),
    }
}

/// `job { name: "…", parallelism: N, max_parallelism: N, dead_letter: "stderr" | "path",
/// checkpoint_interval: 10s, checkpoint_every_records: N, checkpoint_dir: "path",
/// checkpoints_retained: N }`.
fn check_settings(pipeline: &Pipeline, errors: &mut Errors) -> JobSettings {
    let mut s = JobSettings::default();
    let Some(job) = &pipeline.job else { return s };
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for setting in &job.settings {
        let name = setting.name.to_string();
        if let Some(first) = seen.insert(name.clone(), setting.name.span()) {
            errors.push_pair(
                first,
                setting.name.span(),
                format!("job setting `{name}` is given twice"),
            );
            continue;
        }
        let string = || match &setting.value {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        };
        let int = || match &setting.value {
            Expr::Lit(l) => match &l.lit {
                Lit::Int(i) => i.base10_parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        };
        let vspan = setting.value.span();
        match name.as_str() {
            "name" => match string() {
                Some(v) if !v.is_empty() => s.name = v,
                _ => errors.push(
                    vspan,
                    "the job name must be a non-empty string literal, e.g. `name: \"clicks\"`",
                ),
            },
            "dead_letter" => match string() {
                Some(v) if !v.is_empty() => s.dead_letter = v,
                _ => errors.push(
                    vspan,
                    "`dead_letter` takes `\"stderr\"` or a file path as a string literal",
                ),
            },
            "checkpoint_interval" => match parse_duration(&setting.value) {
                Ok(ms) if ms > 0 => s.checkpoint_interval_ms = Some(ms),
                Ok(_) => errors.push(
                    vspan,
                    "a checkpoint interval of zero would checkpoint after every record: give a positive duration such as `10s`",
                ),
                Err(msg) => errors.push(vspan, msg),
            },
            "checkpoint_dir" => match string() {
                Some(v) if !v.is_empty() => s.checkpoint_dir = v,
                _ => errors.push(
                    vspan,
                    "`checkpoint_dir` takes a directory path as a string literal, e.g. `checkpoint_dir: \"checkpoints\"`",
                ),
            },
            "state_backend" => match &setting.value {
                Expr::Path(p) if p.path.is_ident("memory") => (s.rocksdb, s.state_backend_set) = (false, true),
                Expr::Path(p) if p.path.is_ident("rocksdb") => (s.rocksdb, s.state_backend_set) = (true, true),
                _ => errors.push(
                    vspan,
                    "`state_backend` takes `memory` (the default) or `rocksdb` (state on disk, larger than memory)",
                ),
            },
            "state_dir" => match string() {
                Some(v) if !v.is_empty() => s.state_dir = Some(v),
                _ => errors.push(vspan, "`state_dir` takes a directory path as a string literal"),
            },
            "scale_out" => match &setting.value {
                Expr::Path(p) if p.path.is_ident("kafka") => s.scale_out = true,
                _ => errors.push(
                    vspan,
                    "`scale_out` takes `kafka`: the job's processes share its Kafka input through the consumer \
                     group and its keyed stage through an internal topic",
                ),
            },
            "restart" => match parse_restart(&setting.value) {
                Ok(r) => s.restart = r,
                Err((span, msg)) => errors.push(span, msg),
            },
            "checkpoint_every_records" | "checkpoints_retained" => match int() {
                Some(0) | None => errors.push(
                    vspan,
                    format!("`{name}` must be a positive integer literal, e.g. `{name}: 3`"),
                ),
                Some(v) if name == "checkpoints_retained" => s.checkpoints_retained = v,
                Some(v) => s.checkpoint_every_records = Some(v),
            },
            "parallelism" | "max_parallelism" => match int() {
                Some(0) | None => errors.push(
                    vspan,
                    format!("`{name}` must be a positive integer literal, e.g. `{name}: 4`"),
                ),
                Some(v) if name == "parallelism" => s.parallelism = v,
                Some(v) => s.max_parallelism = v,
            },
            _ => {
                let hint = ops::closest(&name, ops::SETTINGS.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                errors.push(
                    setting.name.span(),
                    format!(
                        "unknown job setting `{name}`{hint}: expected one of {}",
                        ops::list(ops::SETTINGS.iter().copied())
                    ),
                );
            }
        }
    }
    if !s.checkpoints()
        && let Some(span) = ["checkpoint_dir", "checkpoints_retained"]
            .iter()
            .find_map(|n| seen.get(*n))
    {
        errors.push(
            *span,
            "this job takes no checkpoints: add `checkpoint_interval: 10s` (or `checkpoint_every_records: N`) to take them",
        );
    }
    if s.max_parallelism < s.parallelism {
        errors.push(
            job.keyword.span(),
            format!(
                "`max_parallelism` ({}) must be at least `parallelism` ({}): keys are spread over max_parallelism key groups",
                s.max_parallelism, s.parallelism
            ),
        );
    }
    s
}

fn unknown(errors: &mut Errors, call: &Call, what: &str, table: &'static [Word]) {
    let name = call.name.to_string();
    let hint = ops::closest(&name, ops::names(table))
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    errors.push(
        call.name.span(),
        format!(
            "unknown {what} `{name}`{hint}: expected one of {}",
            ops::list(ops::names(table))
        ),
    );
}

/// Checks the argument count of `call` against `word`; false if wrong (error recorded).
fn arity(errors: &mut Errors, call: &Call, word: &Word) -> bool {
    if call.args.len() == word.arity {
        return true;
    }
    let span = if call.args.len() > word.arity {
        call.args[word.arity].span()
    } else {
        call.paren_span
    };
    errors.push(
        span,
        format!(
            "`{}` takes {} argument{}, found {}: write `{}`",
            word.name,
            word.arity,
            if word.arity == 1 { "" } else { "s" },
            call.args.len(),
            word.usage
        ),
    );
    false
}

/// `name(args)` inside an argument, e.g. `tumbling(10s)` or `stdout()`.
fn inner_call(expr: &Expr) -> Option<(syn::Ident, Vec<Expr>, Span)> {
    let Expr::Call(call) = expr else { return None };
    let Expr::Path(p) = &*call.func else { return None };
    let ident = p.path.get_ident()?.clone();
    Some((ident, call.args.iter().cloned().collect(), call.paren_token.span.join()))
}

impl Checker<'_> {
    /// Whether an operator reading from `c` runs once per worker, behind an exchange.
    fn behind_exchange(&self, c: &Cursor) -> bool {
        c.rebalanced || c.shape == Shape::Keyed || self.parallel.get(c.node).copied().unwrap_or(false)
    }

    /// `.uid("name")` after a stateful operator: the stable id of its state in checkpoints.
    fn uid(&mut self, input: &Cursor, call: &Call) {
        let arg = call.args.first();
        let uid = match arg {
            Some(Expr::Lit(l)) => match &l.lit {
                Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        };
        let valid = uid
            .as_ref()
            .is_some_and(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let Some(uid) = uid.filter(|_| valid) else {
            self.errors.push(
                arg.map_or(call.name.span(), |a| a.span()),
                "`uid` takes a non-empty string literal of letters, digits, `_` and `-`, e.g. `uid(\"clicks-per-user\")`",
            );
            return;
        };
        let node = &mut self.nodes[input.node];
        let stateful = matches!(
            node.kind,
            NodeKind::Watermarks(_) | NodeKind::KeyedReduce(_) | NodeKind::KeyedProcess(_) | NodeKind::Window(_)
        );
        if !stateful || input.port != 0 {
            self.errors.push(
                call.name.span(),
                "`uid` names the state of the stateful operator just before it (`watermarks`, a window function, keyed `reduce` or `process`): put it right after one",
            );
            return;
        }
        if let Some(first) = self.uids.insert(uid.clone(), call.name.span()) {
            self.errors
                .push_pair(first, call.name.span(), format!("uid `{uid}` is given twice"));
            return;
        }
        node.uid = Some(uid);
    }

    /// `.idleness(d)` right after `kafka::<T>(…).timestamps(…).watermarks(…)`: a partition
    /// without records for `d` no longer holds the source's watermark back. Only a Kafka
    /// source has partitions to be idle, so anywhere else it is an error, e.g.
    /// `csv::<R>("in.csv").timestamps(|r| r.ts).watermarks(monotonous()).idleness(5s)`.
    fn idleness(&mut self, input: &Cursor, call: &Call) {
        let ms = match parse_duration(&call.args[0]) {
            Ok(0) => {
                self.errors
                    .push(call.args[0].span(), "the idleness timeout cannot be zero");
                return;
            }
            Ok(ms) => ms,
            Err(e) => {
                self.errors.push(call.args[0].span(), e);
                return;
            }
        };
        let behind_kafka = || -> Option<()> {
            let input_of = |n: NodeId| self.edges.iter().find(|e| e.to == n).map(|e| e.from);
            let node = self.nodes.get(input.node)?;
            let ts = input_of(input.node)?;
            let src = input_of(ts)?;
            let fits = input.port == 0
                && matches!(node.kind, NodeKind::Watermarks(_))
                && matches!(self.nodes[ts].kind, NodeKind::Timestamps(_))
                && matches!(&self.nodes[src].kind, NodeKind::Source { kind, .. } if kind == "kafka");
            fits.then_some(())
        };
        if behind_kafka().is_none() {
            self.errors.push(
                call.name.span(),
                "`idleness` applies to the per-partition watermarks of a Kafka source: write it right after \
                 `kafka::<Record>(…).timestamps(…).watermarks(…)`",
            );
            return;
        }
        let node = &mut self.nodes[input.node];
        if node.idleness_ms.is_some() {
            self.errors.push(call.name.span(), "`idleness` is given twice");
            return;
        }
        node.idleness_ms = Some(ms);
        self.idleness_spans.insert(input.node, call.name.span());
    }

    /// `.parallel()` right after a `generate(…)` source: the source runs as one instance per
    /// worker, each generating its share of the indices. Only a generator can be split
    /// (each index is made independently of the others); a file, Kafka topic or iterator is
    /// read once, in order, e.g. `csv::<R>("in.csv").parallel()` is an error.
    /// Returns whether the source is now parallel.
    fn parallel_source(&mut self, input: &Cursor, call: &Call, right_after_source: bool) -> bool {
        let span = call.name.span();
        let node = &mut self.nodes[input.node];
        let NodeKind::Source { kind, parallel, .. } = &mut node.kind else {
            self.errors.push(
                span,
                "`.parallel()` splits a `generate(…)` source over the workers: write it right after the source call, e.g. `generate(n, |i| …).parallel()` (to spread records over the workers later in a chain, use `.rebalance()`)",
            );
            return false;
        };
        if kind != "generate" {
            self.errors.push(
                span,
                format!(
                    "`{kind}` cannot run as parallel instances: only a `generate(…)` source can be split, each instance making its own share of the indices; remove `.parallel()`, and add `.rebalance()` to spread the records over the workers"
                ),
            );
            return false;
        }
        if *parallel {
            self.errors.push(span, "`.parallel()` is given twice");
            return false;
        }
        if !right_after_source {
            self.errors.push(
                span,
                "`.parallel()` marks the `generate(…)` call it follows: write it right after the source call, before binding the stream to a name, e.g. `let events = generate(n, |i| …).parallel();`",
            );
            return false;
        }
        *parallel = true;
        true
    }

    /// `.on_error(dead_letter | fail)` after a `map` or `try_map`: its error policy.
    fn on_error(&mut self, input: &Cursor, call: &Call) {
        let arg = call.args.first();
        let policy = match arg {
            Some(Expr::Path(p)) if p.path.is_ident("dead_letter") => true,
            Some(Expr::Path(p)) if p.path.is_ident("fail") => false,
            _ => {
                self.errors.push(
                    arg.map_or(call.name.span(), |a| a.span()),
                    "`on_error` takes `dead_letter` (send the record and its error to the dead-letter output and go on) or `fail` (fail the job: the default)",
                );
                return;
            }
        };
        let node = &mut self.nodes[input.node];
        match node.kind {
            NodeKind::Stateless(Stateless::Map | Stateless::TryMap, _) if input.port == 0 => {
                node.dead_letter_on_error = policy;
            }
            _ => self.errors.push(
                call.name.span(),
                "`on_error` sets the error policy of the `map` or `try_map` just before it: put it right after one",
            ),
        }
    }

    fn add(&mut self, kind: NodeKind, span: Span, input: Option<Cursor>) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            kind,
            span,
            dead_letter_on_error: false,
            uid: None,
            idleness_ms: None,
        });
        self.parallel.push(input.is_some_and(|c| self.behind_exchange(&c)));
        if let Some(from) = input {
            let exchange = if from.rebalanced {
                Exchange::Rebalance
            } else if from.shape == Shape::Keyed {
                Exchange::Hash
            } else {
                Exchange::Forward
            };
            self.edges.push(Edge {
                from: from.node,
                port: from.port,
                to: id,
                exchange,
            });
        }
        id
    }

    fn check_stmt(&mut self, stmt: &Stmt) {
        let mut cur: Option<Cursor> = match &stmt.chain.head {
            Head::Stream(name) => self.use_stream(name),
            Head::Source(call) => self.source(call, stmt),
        };
        let mut window: Option<PendingWindow> = None;
        let mut sunk: Option<Span> = None;
        let mut last_span = match &stmt.chain.head {
            Head::Stream(n) => n.span(),
            Head::Source(c) => c.name.span(),
        };
        for (index, call) in stmt.chain.ops.iter().enumerate() {
            let name = call.name.to_string();
            last_span = call.name.span();
            if let Some(sink_span) = sunk {
                self.errors.push_pair(
                    sink_span,
                    call.name.span(),
                    "nothing can follow a sink: a sink ends its chain",
                );
                return;
            }
            if let Some(w) = window.as_mut() {
                if ops::find(ops::WINDOW_SETTINGS, &name).is_some() {
                    self.window_setting(w, call);
                    continue;
                }
                if let Some(word) = ops::find(ops::WINDOW_FUNCTIONS, &name) {
                    let w = window.take().expect("checked above");
                    cur = self.window_function(w, call, word, cur);
                    continue;
                }
                self.errors.push(
                    call.name.span(),
                    format!(
                        "`{name}` cannot follow `.window(…)`: a window needs a window function ({}), optionally after {}",
                        ops::list(ops::names(ops::WINDOW_FUNCTIONS)),
                        ops::list(ops::names(ops::WINDOW_SETTINGS))
                    ),
                );
                return;
            }
            if cur.is_none()
                && (ops::find(ops::WINDOW_SETTINGS, &name).is_some()
                    || name != "window" && ops::find(ops::WINDOW_FUNCTIONS, &name).is_some())
            {
                // The chain is already broken by a reported mistake: do not pile on.
                continue;
            }
            if ops::find(ops::WINDOW_SETTINGS, &name).is_some() {
                self.errors.push(
                    call.name.span(),
                    format!("`{name}` configures a window: it goes between `.window(…)` and the window function"),
                );
                cur = None;
                continue;
            }
            if name != "reduce"
                && let Some(word) = ops::find(ops::WINDOW_FUNCTIONS, &name)
            {
                self.errors.push(
                    call.name.span(),
                    format!(
                        "`{}` is a window function: it needs a keyed window before it, e.g. `.key_by(|r| r.key).window(tumbling(10s)).{}`",
                        word.name, word.usage
                    ),
                );
                cur = None;
                continue;
            }
            if let Some(word) = ops::find(ops::SOURCE_SETTINGS, &name) {
                if arity(self.errors, call, word)
                    && let Some(input) = cur.as_mut()
                {
                    let right_after_source = index == 0 && matches!(stmt.chain.head, Head::Source(_));
                    input.split |= self.parallel_source(input, call, right_after_source);
                }
                continue;
            }
            let Some(word) = ops::find(ops::OPERATORS, &name) else {
                let all = ops::names(ops::OPERATORS)
                    .chain(ops::names(ops::SOURCE_SETTINGS))
                    .chain(ops::names(ops::WINDOW_FUNCTIONS))
                    .chain(ops::names(ops::WINDOW_SETTINGS));
                let hint = ops::closest(&name, all)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.errors.push(
                    call.name.span(),
                    format!(
                        "unknown operator `{name}`{hint}: expected one of {}",
                        ops::list(ops::names(ops::OPERATORS))
                    ),
                );
                cur = None;
                continue;
            };
            if !arity(self.errors, call, word) {
                cur = None;
                continue;
            }
            let arg = call.args.first().cloned();
            let span = call.name.span();
            let Some(input) = cur else {
                // An earlier mistake in this chain: keep checking calls, not their flow.
                if name == "window" {
                    window = Some(self.window(call, None));
                }
                continue;
            };
            cur = match name.as_str() {
                "on_error" => {
                    self.on_error(&input, call);
                    Some(input)
                }
                "uid" => {
                    self.uid(&input, call);
                    Some(input)
                }
                "idleness" => {
                    self.idleness(&input, call);
                    Some(input)
                }
                "map" | "try_map" | "filter" | "flat_map" | "filter_map" | "inspect" => {
                    let op = match name.as_str() {
                        "map" => Stateless::Map,
                        "try_map" => Stateless::TryMap,
                        "filter" => Stateless::Filter,
                        "flat_map" => Stateless::FlatMap,
                        "filter_map" => Stateless::FilterMap,
                        _ => Stateless::Inspect,
                    };
                    let id = self.add(NodeKind::Stateless(op, arg.expect("arity")), span, Some(input));
                    Some(Cursor {
                        node: id,
                        port: 0,
                        shape: Shape::Plain,
                        ..input
                    })
                }
                "timestamps" => {
                    let id = self.add(NodeKind::Timestamps(arg.expect("arity")), span, Some(input));
                    Some(Cursor {
                        node: id,
                        port: 0,
                        shape: Shape::Plain,
                        timestamps: true,
                        watermarks: false,
                        rebalanced: false,
                        windowed: false,
                        split: input.split,
                    })
                }
                "watermarks" => {
                    if !input.timestamps {
                        self.errors.push(
                            span,
                            "watermarks need timestamps: call `.timestamps(|r| r.ts_ms)` before `.watermarks(…)`",
                        );
                    } else if self.behind_exchange(&input) {
                        // A generator behind an exchange would see one worker's share of the
                        // stream, so lateness would depend on the parallelism.
                        self.errors.push(
                            span,
                            "watermarks must be generated before the first `key_by`/`rebalance`, where the whole stream is seen in order: move `.timestamps(…).watermarks(…)` up, right after the source",
                        );
                    } else if input.split {
                        // Each instance would see only its share of the event times, and an
                        // exchange would merge them at the pace of the threads.
                        self.errors.push(
                            span,
                            "watermarks cannot follow a `.parallel()` source: each instance sees only its share of the records, so which records are late would depend on how fast the instances run; remove `.parallel()` (one instance generates the whole stream in order)",
                        );
                    }
                    self.watermark_strategy(&arg.expect("arity")).map(|s| {
                        let id = self.add(NodeKind::Watermarks(s), span, Some(input));
                        Cursor {
                            node: id,
                            port: 0,
                            shape: Shape::Plain,
                            watermarks: true,
                            ..input
                        }
                    })
                }
                "key_by" => {
                    let id = self.add(NodeKind::KeyBy(arg.expect("arity")), span, Some(input));
                    Some(Cursor {
                        node: id,
                        port: 0,
                        shape: Shape::Keyed,
                        ..input
                    })
                }
                "reduce" | "process" => {
                    let (kind, unkeyed) = if name == "reduce" {
                        (
                            NodeKind::KeyedReduce(arg.expect("arity")),
                            "`reduce` needs a keyed stream: add `.key_by(|r| r.key)` before it (or a window for a windowed reduce)",
                        )
                    } else {
                        (
                            NodeKind::KeyedProcess(arg.expect("arity")),
                            "`process` runs a keyed process function with keyed state and timers: add `.key_by(|r| r.key)` before it",
                        )
                    };
                    if input.shape != Shape::Keyed {
                        self.errors.push(span, unkeyed);
                        None
                    } else {
                        // A reduce passes records on with their timestamps; a process
                        // function may emit anything, so its output is no longer window results.
                        let windowed = input.windowed && name == "reduce";
                        let id = self.add(kind, span, Some(input));
                        Some(Cursor {
                            node: id,
                            port: 0,
                            shape: Shape::Plain,
                            windowed,
                            ..input
                        })
                    }
                }
                "window" => {
                    window = Some(self.window(call, Some(input)));
                    Some(input)
                }
                "sink" => {
                    let stream = match &stmt.chain.head {
                        Head::Stream(s) if index == 0 => Some(s.to_string()),
                        _ => None,
                    };
                    self.sink(call, input, stream);
                    sunk = Some(span);
                    None
                }
                "rebalance" => {
                    self.rebalances.push(span);
                    if input.shape == Shape::Keyed {
                        self.errors.push(
                            span,
                            "`rebalance()` after `key_by(…)` would undo the keying: rebalance before `key_by`, or drop one of them",
                        );
                        None
                    } else {
                        Some(Cursor {
                            rebalanced: true,
                            ..input
                        })
                    }
                }
                _ => unreachable!("every operator in ops::OPERATORS is handled"),
            };
            // Only the operator right after `rebalance()` is across its exchange.
            if name != "rebalance"
                && let Some(c) = cur.as_mut()
            {
                c.rebalanced = false;
            }
        }
        if let Some(w) = window.filter(|w| w.valid) {
            self.errors.push(
                w.span,
                format!(
                    "this window has no window function: end it with one of {}, e.g. `.count()`",
                    ops::list(ops::names(ops::WINDOW_FUNCTIONS))
                ),
            );
            return;
        }
        match (&stmt.binding, sunk) {
            (Some(b), Some(s)) => {
                self.errors.push_pair(
                    b.span(),
                    s,
                    format!("`{b}` would name nothing: a sink produces no stream; remove `let {b} =`"),
                );
            }
            (Some(b), None) => {
                if let Some(c) = cur {
                    self.define(b, c);
                } else {
                    // Keep the name known so later uses do not cascade into "undefined" errors.
                    self.streams.insert(
                        b.to_string(),
                        Named {
                            cursor: Cursor::dead(),
                            span: b.span(),
                            used: true,
                        },
                    );
                }
            }
            (None, None) => {
                if cur.is_some() {
                    self.errors.push(
                        last_span,
                        "this stream goes nowhere: end the chain with `.sink(…)`, e.g. `.sink(stdout())`, or bind it with `let name = …;`",
                    );
                }
            }
            (None, Some(_)) => {}
        }
    }

    fn define(&mut self, name: &syn::Ident, cursor: Cursor) {
        let key = name.to_string();
        if let Some(prev) = self.streams.get(&key) {
            self.errors.push_pair(
                prev.span,
                name.span(),
                format!("stream `{key}` is defined twice: give each stream its own name"),
            );
            return;
        }
        self.streams.insert(
            key,
            Named {
                cursor,
                span: name.span(),
                used: false,
            },
        );
    }

    fn use_stream(&mut self, name: &syn::Ident) -> Option<Cursor> {
        let key = name.to_string();
        if let Some(named) = self.streams.get_mut(&key) {
            named.used = true;
            return (named.cursor.node != usize::MAX).then_some(named.cursor);
        }
        self.unresolved = true;
        if let Some(def) = self.later.get(&key).copied() {
            self.errors.push_pair(
                def,
                name.span(),
                format!("stream `{key}` is used before it is defined: move this statement after `let {key} = …;`"),
            );
            return None;
        }
        let known: Vec<&str> = self.streams.keys().map(String::as_str).collect();
        let hint = ops::closest(&key, known.iter().copied())
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        let defined = if known.is_empty() {
            "no stream is defined before this point".to_string()
        } else {
            format!(
                "defined streams: {}",
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            )
        };
        let is_source = ops::find(ops::SOURCES, &key).is_some();
        let source_hint = if is_source {
            format!("; to read from a source, call it: `{key}(…)`")
        } else {
            String::new()
        };
        self.errors.push(
            name.span(),
            format!("undefined stream `{key}`{hint}; {defined}{source_hint}"),
        );
        None
    }

    /// An `idleness` needs the Kafka source's watermarks to be generated in the source, which
    /// is only possible when the source and its `timestamps` feed nothing else.
    fn check_idleness_fused(&mut self) {
        let graph = Graph {
            settings: JobSettings::default(),
            nodes: std::mem::take(&mut self.nodes),
            edges: std::mem::take(&mut self.edges),
        };
        for (id, node) in graph.nodes.iter().enumerate() {
            if node.idleness_ms.is_some() && graph.fused_into_kafka_source(id).is_none() {
                self.errors.push(
                    self.idleness_spans.get(&id).copied().unwrap_or(node.span),
                    "per-partition watermarks (and so `idleness`) need a Kafka source that feeds only its \
                     `.timestamps(…).watermarks(…)`: bind the stream after `watermarks` and use that name instead",
                );
            }
        }
        self.nodes = graph.nodes;
        self.edges = graph.edges;
    }

    /// A job that scales out through Kafka (`scale_out: kafka`) has one Kafka source, one
    /// `key_by` and no other exchange, no sink before the `key_by` (its first stage is
    /// at-least-once), and checkpoints (where each key group range keeps its state).
    fn check_scale_out(&mut self, pipeline: &Pipeline, settings: &JobSettings) {
        let span = pipeline
            .job
            .iter()
            .flat_map(|j| &j.settings)
            .find(|s| s.name == "scale_out")
            .map_or(pipeline.span, |s| s.name.span());
        if !settings.checkpoints() {
            self.errors.push(
                span,
                "a job that scales out keeps each key group range's state in checkpoints, which its processes \
                 share: add `checkpoint_interval: 10s` and a shared `checkpoint_dir`",
            );
        }
        for node in &self.nodes {
            if let NodeKind::Source { kind, .. } = &node.kind
                && kind != "kafka"
            {
                self.errors.push(
                    node.span,
                    format!(
                        "a job with `scale_out: kafka` reads a Kafka topic, whose partitions its processes share: \
                         `{kind}` cannot be shared; use `kafka::<T>(…)` or remove `scale_out`"
                    ),
                );
            }
        }
        if self.sources > 1 {
            self.errors.push(span, "a job with `scale_out: kafka` has one source");
        }
        let graph = Graph {
            settings: JobSettings::default(),
            nodes: std::mem::take(&mut self.nodes),
            edges: std::mem::take(&mut self.edges),
        };
        for (id, node) in graph.nodes.iter().enumerate() {
            if matches!(node.kind, NodeKind::Watermarks(_)) && graph.fused_into_kafka_source(id).is_none() {
                self.errors.push(
                    node.span,
                    "a job with `scale_out: kafka` generates watermarks per Kafka partition, in the source, and its \
                     keyed stage merges those of every partition: write `.timestamps(…).watermarks(…)` right after \
                     `kafka::<T>(…)`, with nothing else reading the source",
                );
            }
        }
        self.nodes = graph.nodes;
        self.edges = graph.edges;
        let exchanges: Vec<Edge> = self
            .edges
            .iter()
            .filter(|e| e.exchange != Exchange::Forward)
            .copied()
            .collect();
        let mut keyed = None;
        for &span in &self.rebalances {
            self.errors.push(
                span,
                "a job with `scale_out: kafka` moves records between processes only at its `key_by`: remove \
                 `rebalance()`",
            );
        }
        for e in &exchanges {
            if e.exchange == Exchange::Rebalance {
                continue;
            } else if keyed.is_some() {
                self.errors.push(
                    self.nodes[e.from].span,
                    "a job with `scale_out: kafka` has one `key_by` (the internal topic between its two stages): \
                     key the stream once",
                );
            } else {
                keyed = Some(e.to);
            }
        }
        let Some(keyed) = keyed else {
            if exchanges.is_empty() {
                self.errors.push(
                    span,
                    "a job with `scale_out: kafka` needs a `key_by`, where records move to the process that owns \
                     their key group; without one, run one job per topic instead",
                );
            }
            return;
        };
        // The nodes behind the key_by; the others form the first stage.
        let mut behind = vec![false; self.nodes.len()];
        behind[keyed] = true;
        for id in keyed..self.nodes.len() {
            if behind[id] {
                for e in self.edges.iter().filter(|e| e.from == id) {
                    behind[e.to] = true;
                }
            }
        }
        for node in &self.nodes {
            if let NodeKind::Sink { kind, .. } = &node.kind
                && (kind == "csv" || kind == "json_lines")
            {
                self.errors.push(
                    node.span,
                    format!(
                        "a job with `scale_out: kafka` cannot write `{kind}` part files yet: their checkpoints are \
                         per process, not per key group range; write to `postgres(…)` (exactly-once) or `kafka(…)`"
                    ),
                );
            }
        }
        for (id, node) in self.nodes.iter().enumerate() {
            if !behind[id] && matches!(node.kind, NodeKind::Sink { .. }) {
                self.errors.push(
                    node.span,
                    "a job with `scale_out: kafka` writes only behind its `key_by` (before it, records may be \
                     read twice when a process takes over a partition): move this sink after the `key_by`",
                );
            }
        }
    }

    fn check_unused(&mut self) {
        if self.unresolved {
            return;
        }
        for (name, named) in &self.streams {
            if !named.used {
                self.errors.push(
                    named.span,
                    format!("stream `{name}` is never used: send it to a sink (`{name}.sink(stdout());`) or remove it"),
                );
            }
        }
    }

    fn source(&mut self, call: &Call, stmt: &Stmt) -> Option<Cursor> {
        let name = call.name.to_string();
        let Some(word) = ops::find(ops::SOURCES, &name) else {
            if ops::find(ops::OPERATORS, &name).is_some() || ops::find(ops::WINDOW_FUNCTIONS, &name).is_some() {
                self.errors.push(
                    call.name.span(),
                    format!("`{name}` is an operator, not a source: a chain starts with a source or a stream name, e.g. `csv::<Record>(\"in.csv\").{name}(…)`"),
                );
            } else {
                unknown(self.errors, call, "source", ops::SOURCES);
            }
            return None;
        };
        self.sources += 1;
        if !arity(self.errors, call, word) {
            return None;
        }
        let typed = matches!(name.as_str(), "csv" | "json_lines" | "kafka");
        if typed && call.generics.is_none() {
            self.errors.push(
                call.name.span(),
                format!("`{name}` needs the record type to deserialize into: write `{name}::<MyRecord>(…)` where `MyRecord: serde::Deserialize`"),
            );
            return None;
        }
        if !typed && let Some(g) = &call.generics {
            self.errors.push(
                g.span(),
                format!("`{name}` takes no type parameter: the record type comes from its argument"),
            );
            return None;
        }
        let stream_name = stmt
            .binding
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_else(|| format!("{name}_{}", self.sources));
        let id = self.add(
            NodeKind::Source {
                kind: name,
                name: stream_name,
                generics: call.generics.clone(),
                args: call.args.clone(),
                parallel: false,
            },
            call.name.span(),
            None,
        );
        Some(Cursor {
            node: id,
            port: 0,
            shape: Shape::Plain,
            timestamps: false,
            watermarks: false,
            rebalanced: false,
            windowed: false,
            split: false,
        })
    }

    /// An argument that is itself a call of a word from `table` (`tumbling(10s)`,
    /// `stdout()`, `monotonous()`), with its argument count checked; errors name `what`.
    fn inner_word(&mut self, arg: &Expr, table: &'static [Word], what: &str) -> Option<(Call, &'static Word)> {
        let Some((ident, args, paren)) = inner_call(arg) else {
            self.errors.push(
                arg.span(),
                format!("expected a {what}: {}", ops::list(table.iter().map(|w| w.usage))),
            );
            return None;
        };
        let call = Call {
            name: ident.clone(),
            generics: None,
            args,
            paren_span: paren,
        };
        let Some(word) = ops::find(table, &ident.to_string()) else {
            unknown(self.errors, &call, what, table);
            return None;
        };
        arity(self.errors, &call, word).then_some((call, word))
    }

    fn watermark_strategy(&mut self, arg: &Expr) -> Option<Strategy> {
        let (call, word) = self.inner_word(arg, ops::WATERMARK_STRATEGIES, "watermark strategy")?;
        match word.name {
            "monotonous" => Some(Strategy::Monotonous),
            _ => match parse_duration(&call.args[0]) {
                Ok(ms) => Some(Strategy::BoundedOutOfOrderness(ms)),
                Err(e) => {
                    self.errors.push(call.args[0].span(), e);
                    None
                }
            },
        }
    }

    fn window(&mut self, call: &Call, input: Option<Cursor>) -> PendingWindow {
        let valid = input.is_some();
        match self.window_assigner(call, input) {
            Some(w) => PendingWindow { valid, ..w },
            None => PendingWindow {
                span: call.name.span(),
                time: TimeKind::EventTime,
                size_ms: 1,
                lateness: None,
                late: None,
                valid: false,
            },
        }
    }

    fn window_assigner(&mut self, call: &Call, input: Option<Cursor>) -> Option<PendingWindow> {
        let (assigner, word) = self.inner_word(&call.args[0], ops::WINDOW_ASSIGNERS, "window assigner")?;
        let ident = assigner.name.clone();
        let size_ms = match parse_duration(&assigner.args[0]) {
            Ok(0) => {
                self.errors.push(
                    assigner.args[0].span(),
                    "a window cannot be empty: give it a positive size, e.g. `tumbling(10s)`",
                );
                return None;
            }
            Ok(ms) => ms,
            Err(e) => {
                self.errors.push(assigner.args[0].span(), e);
                return None;
            }
        };
        let time = if word.name == "tumbling" {
            TimeKind::EventTime
        } else {
            TimeKind::ProcessingTime
        };
        if let Some(input) = input {
            if input.shape != Shape::Keyed {
                self.errors.push(
                    call.name.span(),
                    "a window needs a keyed stream: add `.key_by(|r| r.key)` before `.window(…)`",
                );
                return None;
            }
            if time == TimeKind::EventTime && !(input.timestamps && input.watermarks) {
                let missing = match (input.timestamps, input.watermarks) {
                    (false, _) => {
                        "timestamps and watermarks: add `.timestamps(|r| r.ts_ms).watermarks(bounded_out_of_orderness(5s))`"
                    }
                    _ => "watermarks: add `.watermarks(bounded_out_of_orderness(5s))` after `.timestamps(…)`",
                };
                self.errors.push(
                    ident.span(),
                    format!(
                        "an event-time window needs {missing} before `.key_by(…)`, or use `tumbling_processing_time(…)`"
                    ),
                );
            } else if time == TimeKind::EventTime
                && self.parallel.get(input.node).copied().unwrap_or(false)
                && !input.windowed
            {
                // Behind a rebalance or a second exchange, records from several workers
                // interleave in an order that depends on the parallelism, so deciding which
                // are late would too. Window results are never late, so windows over them are
                // fine.
                self.errors.push(
                    ident.span(),
                    "this event-time window would judge lateness after records crossed a `rebalance()` or a second `key_by`, where their order depends on the parallelism: window before that exchange, or window the results of a window",
                );
            }
        }
        Some(PendingWindow {
            span: call.name.span(),
            time,
            size_ms,
            lateness: None,
            late: None,
            valid: true,
        })
    }

    fn window_setting(&mut self, w: &mut PendingWindow, call: &Call) {
        let name = call.name.to_string();
        let word = ops::find(ops::WINDOW_SETTINGS, &name).expect("caller checked");
        if !arity(self.errors, call, word) {
            return;
        }
        let span = call.name.span();
        if w.time == TimeKind::ProcessingTime {
            self.errors.push(
                span,
                format!("`{name}` applies to event-time windows only: processing-time windows have no late data"),
            );
            return;
        }
        match name.as_str() {
            "allowed_lateness" => {
                if let Some((_, first)) = w.lateness {
                    self.errors.push_pair(first, span, "`allowed_lateness` is given twice");
                    return;
                }
                match parse_duration(&call.args[0]) {
                    Ok(ms) => w.lateness = Some((ms, span)),
                    Err(e) => self.errors.push(call.args[0].span(), e),
                }
            }
            _ => {
                let policy = if name == "drop_late_data" {
                    LatePolicy::Drop(span)
                } else {
                    match &call.args[0] {
                        Expr::Path(p) if p.path.get_ident().is_some() => {
                            LatePolicy::SideOutput(p.path.get_ident().expect("checked").clone())
                        }
                        other => {
                            self.errors.push(
                                other.span(),
                                "expected a name for the late-data stream, e.g. `side_output_late_data(late_clicks)`",
                            );
                            return;
                        }
                    }
                };
                if let Some(first) = &w.late {
                    let first = match first {
                        LatePolicy::SideOutput(i) => i.span(),
                        LatePolicy::Drop(s) => *s,
                    };
                    self.errors.push_pair(first, span, "a window has one late-data policy: keep either `side_output_late_data(…)` or `drop_late_data()`");
                    return;
                }
                w.late = Some(policy);
            }
        }
    }

    fn window_function(&mut self, w: PendingWindow, call: &Call, word: &Word, input: Option<Cursor>) -> Option<Cursor> {
        if !arity(self.errors, call, word) || !w.valid {
            return None;
        }
        if w.time == TimeKind::EventTime && w.late.is_none() {
            self.errors.push(
                w.span,
                "say what happens to late records of this event-time window: add `.side_output_late_data(late)` to get them as a stream, or `.drop_late_data()` to count and drop them",
            );
        }
        let input = input?;
        let late_output = match &w.late {
            Some(LatePolicy::SideOutput(i)) => Some(i.clone()),
            _ => None,
        };
        let spec = WindowSpec {
            time: w.time,
            size_ms: w.size_ms,
            lateness_ms: w.lateness.map(|(ms, _)| ms).unwrap_or(0),
            late_output: late_output.as_ref().map(|i| i.to_string()),
            func: WindowFn {
                name: word.name.into(),
                arg: call.args.first().cloned(),
                span: call.name.span(),
            },
        };
        let id = self.add(NodeKind::Window(spec), w.span, Some(input));
        if let Some(late) = late_output {
            self.define(
                &late,
                Cursor {
                    node: id,
                    port: 1,
                    shape: Shape::Plain,
                    windowed: false,
                    ..input
                },
            );
        }
        Some(Cursor {
            node: id,
            port: 0,
            shape: Shape::Plain,
            windowed: w.time == TimeKind::EventTime,
            ..input
        })
    }

    fn sink(&mut self, call: &Call, input: Cursor, stream: Option<String>) {
        self.sinks += 1;
        let Some((sink, word)) = self.inner_word(&call.args[0], ops::SINKS, "sink") else {
            return;
        };
        let ident = sink.name.clone();
        // Only file and database sinks can be overridden by name (and a database sink
        // records its commits under its name), so only they compete for names.
        let base = stream.unwrap_or_else(|| format!("sink_{}", self.sinks));
        let name = if matches!(word.name, "csv" | "json_lines" | "postgres") {
            let seen = self.sink_names.entry(base.clone()).or_insert(0);
            *seen += 1;
            if *seen == 1 { base } else { format!("{base}_{seen}") }
        } else {
            base
        };
        self.add(
            NodeKind::Sink {
                kind: word.name.into(),
                name,
                args: sink.args,
            },
            ident.span(),
            Some(input),
        );
    }
}

impl Cursor {
    /// The cursor of a name whose definition had errors.
    fn dead() -> Self {
        Cursor {
            node: usize::MAX,
            port: 0,
            shape: Shape::Plain,
            timestamps: false,
            watermarks: false,
            rebalanced: false,
            windowed: false,
            split: false,
        }
    }
}
