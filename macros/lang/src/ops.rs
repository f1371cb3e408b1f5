//! The vocabulary of `pipeline!`, as data: every source, operator, window function, window
//! assigner, watermark strategy, sink and job setting, with how it is called.
//!
//! `check` reads these tables to validate calls and to list the valid choices in errors
//! ("unknown operator `mapp`: expected one of …"); `docs/dsl.md` documents the same names.

/// One callable word of the DSL.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    /// Its name, as written.
    pub name: &'static str,
    /// How it is called, for error messages.
    pub usage: &'static str,
    /// Its argument count.
    pub arity: usize,
}

const fn w(name: &'static str, usage: &'static str, arity: usize) -> Word {
    Word { name, usage, arity }
}

/// Sources: the head of a chain.
pub const SOURCES: &[Word] = &[
    w("from_iter", "from_iter(iterable)", 1),
    w("generate", "generate(count, |i: u64| record)", 2),
    w("csv", "csv::<Record>(\"path\" | [\"a\", \"b\"] | \"dir/\")", 1),
    w(
        "json_lines",
        "json_lines::<Record>(\"path\" | [\"a\", \"b\"] | \"dir/\")",
        1,
    ),
    w("stdin_lines", "stdin_lines()", 0),
    w(
        "kafka",
        "kafka::<Record>(kafka::source(\"host:9092\", \"topic\").bounded())",
        1,
    ),
];

/// Settings of a source, right after its call.
pub const SOURCE_SETTINGS: &[Word] = &[w("parallel", "generate(count, |i: u64| record).parallel()", 0)];

/// Operators on any stream (before a window).
pub const OPERATORS: &[Word] = &[
    w("map", "map(|r| …)", 1),
    w("try_map", "try_map(|r| -> Result<_, _> …)", 1),
    w("on_error", "on_error(dead_letter)", 1),
    w("uid", "uid(\"stable-name\")", 1),
    w("filter", "filter(|r| …)", 1),
    w("flat_map", "flat_map(|r| …)", 1),
    w("filter_map", "filter_map(|r| …)", 1),
    w("inspect", "inspect(|r| …)", 1),
    w("timestamps", "timestamps(|r| r.ts_ms)", 1),
    w("watermarks", "watermarks(bounded_out_of_orderness(5s))", 1),
    w("idleness", "idleness(30s)", 1),
    w("key_by", "key_by(|r| r.key)", 1),
    w("rebalance", "rebalance()", 0),
    w("reduce", "reduce(|a, b| …)", 1),
    w("process", "process(MyKeyedProcessFunction)", 1),
    w("window", "window(tumbling(10s))", 1),
    w("sink", "sink(stdout())", 1),
];

/// Settings of a windowed stream, between `.window(…)` and its window function.
pub const WINDOW_SETTINGS: &[Word] = &[
    w("allowed_lateness", "allowed_lateness(1s)", 1),
    w("side_output_late_data", "side_output_late_data(late_stream_name)", 1),
    w("drop_late_data", "drop_late_data()", 0),
];

/// Window functions: they end a windowed stream and emit one result per key and window.
pub const WINDOW_FUNCTIONS: &[Word] = &[
    w("count", "count()", 0),
    w("sum", "sum(|r| r.amount)", 1),
    w("min", "min(|r| r.amount)", 1),
    w("max", "max(|r| r.amount)", 1),
    w("avg", "avg(|r| r.amount)", 1),
    w("reduce", "reduce(|a, b| …)", 1),
    w("aggregate", "aggregate(MyAggregateFunction)", 1),
];

/// Window assigners, the argument of `.window(…)`.
pub const WINDOW_ASSIGNERS: &[Word] = &[
    w("tumbling", "tumbling(10s)", 1),
    w("tumbling_processing_time", "tumbling_processing_time(10s)", 1),
];

/// Watermark strategies, the argument of `.watermarks(…)`.
pub const WATERMARK_STRATEGIES: &[Word] = &[
    w("bounded_out_of_orderness", "bounded_out_of_orderness(5s)", 1),
    w("monotonous", "monotonous()", 0),
];

/// Sinks, the argument of `.sink(…)`.
pub const SINKS: &[Word] = &[
    w("stdout", "stdout()", 0),
    w("csv", "csv(\"out.csv\")", 1),
    w("json_lines", "json_lines(\"out.jsonl\")", 1),
    w("collect", "collect(handle)", 1),
    w("for_each", "for_each(|r| …)", 1),
    w("fold", "fold(handle, initial_accumulator, |acc, r| …)", 3),
    w(
        "postgres",
        "postgres(PgTable::insert(\"postgres://…\", \"table\") | PgTable::upsert(url, \"table\", [\"key\"]))",
        1,
    ),
    w("kafka", "kafka(kafka::sink(\"host:9092\", \"topic\"))", 1),
    w(
        "kafka_keyed",
        "kafka_keyed(kafka::sink(\"host:9092\", \"topic\"), |r| r.key)",
        2,
    ),
];

/// Job settings, inside `job { … }`.
pub const SETTINGS: &[&str] = &[
    "name",
    "parallelism",
    "max_parallelism",
    "dead_letter",
    "checkpoint_interval",
    "checkpoint_every_records",
    "checkpoint_dir",
    "checkpoints_retained",
    "restart",
    "scale_out",
    "state_backend",
    "state_dir",
];

/// Finds `name` in `table`.
pub fn find(table: &'static [Word], name: &str) -> Option<&'static Word> {
    table.iter().find(|w| w.name == name)
}

/// "`a`, `b` or `c`", for error messages.
pub fn list(names: impl IntoIterator<Item = &'static str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The names of a table, for [`list`].
pub fn names(table: &'static [Word]) -> impl Iterator<Item = &'static str> {
    table.iter().map(|w| w.name)
}

/// The closest name to `wrong` in `candidates` (edit distance ≤ 2), for "did you mean".
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(wrong, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_suggestions() {
        assert_eq!(list(["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(closest("mapp", names(OPERATORS)), Some("map"));
        assert_eq!(closest("zzzzzz", names(OPERATORS)), None);
    }
}
