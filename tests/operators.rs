//! Every operator, window function, source kind and sink of the DSL, end to end through
//! `pipeline!`.

mod common;

use common::at_every_parallelism;
use fuseflow::{AggregateFunction, Collected, WindowResult, pipeline};

#[test]
fn stateless_operators_compose_in_one_chain() {
    // No exchange: the chain runs on the job's thread, so closures may even use a `Cell`.
    for p in common::PARALLELISMS {
        let out = Collected::new();
        let seen = std::cell::Cell::new(0);
        let job = pipeline! {
            from_iter(1..=6u32)
                .map(|x| x * 10)
                .filter(|x| *x != 30)
                .filter_map(|x| if x > 10 { Some(x as u64) } else { None })
                .flat_map(|x| [x, x + 1])
                .inspect(|_| seen.set(seen.get() + 1))
                .sink(collect(out));
        };
        let summary = job.with_parallelism(p).run().unwrap();
        assert_eq!(out.take(), vec![20, 21, 40, 41, 50, 51, 60, 61]);
        assert_eq!(seen.get(), 8);
        assert_eq!((summary.records_in, summary.records_out), (6, 8));
    }
}

#[test]
fn functions_can_be_given_by_path() {
    fn triple(x: i64) -> i64 {
        x * 3
    }
    fn odd(x: &i64) -> bool {
        x % 2 == 1
    }
    let out = Collected::new();
    let job = pipeline! { from_iter(vec![1i64, 2, 3]).map(triple).filter(odd).sink(collect(out)); };
    job.run().unwrap();
    assert_eq!(out.take(), vec![3, 9]);
}

#[test]
fn a_stream_can_feed_several_consumers() {
    let (all, evens) = at_every_parallelism(|p| {
        let evens = Collected::new();
        let all = Collected::new();
        let job = pipeline! {
            let numbers = generate(6, |i| i * 2 + 1);
            numbers.sink(collect(all));
            numbers.map(|x| x + 1).key_by(|x| *x).reduce(|a, b| a + b).sink(collect(evens));
        };
        job.with_parallelism(p).run().unwrap();
        (all.take(), evens.take())
    });
    assert_eq!(all, vec![1, 3, 5, 7, 9, 11]);
    assert_eq!(evens, vec![2, 4, 6, 8, 10, 12]);
}

#[test]
fn keyed_running_reduce_emits_the_updated_value_per_record() {
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let job = pipeline! {
            from_iter(vec![("a", 1), ("b", 10), ("a", 2), ("a", 3), ("b", 20)])
                .key_by(|p| p.0)
                .reduce(|acc, p| (acc.0, acc.1 + p.1))
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    assert_eq!(out, vec![("a", 1), ("b", 10), ("a", 3), ("a", 6), ("b", 30)]);
}

#[derive(Debug, Clone, Copy)]
struct Sale {
    shop: u8,
    amount: i64,
    ts: i64,
}

fn sales() -> Vec<Sale> {
    vec![
        Sale {
            shop: 1,
            amount: 5,
            ts: 100,
        },
        Sale {
            shop: 2,
            amount: 7,
            ts: 200,
        },
        Sale {
            shop: 1,
            amount: -3,
            ts: 900,
        },
        Sale {
            shop: 1,
            amount: 10,
            ts: 1100,
        },
        Sale {
            shop: 2,
            amount: 1,
            ts: 1900,
        },
    ]
}

/// The results of a window function over `sales()` at parallelism 1, after checking that
/// parallelism 2 and 4 give the same results (compared by their `Debug` form, since `f64`
/// values are not `Ord`).
macro_rules! window_of_sales {
    ($($func:tt)*) => {{
        let run = |p: usize| {
            let out = Collected::new();
            let job = pipeline! {
                from_iter(sales())
                    .timestamps(|s| s.ts)
                    .watermarks(monotonous())
                    .key_by(|s| s.shop)
                    .window(tumbling(1s))
                    .drop_late_data()
                    .$($func)*
                    .sink(collect(out));
            };
            job.with_parallelism(p).run().unwrap();
            out.take()
        };
        let first = run(1);
        let debug_sorted = |v: &Vec<_>| {
            let mut v: Vec<String> = v.iter().map(|w| format!("{w:?}")).collect();
            v.sort();
            v
        };
        for p in [2, 4] {
            assert_eq!(debug_sorted(&run(p)), debug_sorted(&first), "parallelism {p}");
        }
        first
    }};
}

fn values<V: Clone>(results: Vec<WindowResult<u8, V>>) -> Vec<(u8, i64, V)> {
    results.into_iter().map(|w| (w.key, w.start, w.value)).collect()
}

#[test]
fn built_in_window_functions() {
    assert_eq!(
        values(window_of_sales!(count())),
        vec![(1, 0, 2), (2, 0, 1), (1, 1000, 1), (2, 1000, 1)]
    );
    assert_eq!(
        values(window_of_sales!(sum(|s| s.amount))),
        vec![(1, 0, 2), (2, 0, 7), (1, 1000, 10), (2, 1000, 1)]
    );
    assert_eq!(
        values(window_of_sales!(min(|s| s.amount))),
        vec![(1, 0, -3), (2, 0, 7), (1, 1000, 10), (2, 1000, 1)]
    );
    assert_eq!(
        values(window_of_sales!(max(|s| s.amount))),
        vec![(1, 0, 5), (2, 0, 7), (1, 1000, 10), (2, 1000, 1)]
    );
    assert_eq!(
        values(window_of_sales!(avg(|s| s.amount as f64))),
        vec![(1, 0, 1.0), (2, 0, 7.0), (1, 1000, 10.0), (2, 1000, 1.0)]
    );
    let reduced = values(window_of_sales!(reduce(|a, b| Sale {
        amount: a.amount.max(b.amount),
        ..b
    })));
    let reduced: Vec<(u8, i64, i64)> = reduced.into_iter().map(|(k, s, v)| (k, s, v.amount)).collect();
    assert_eq!(reduced, vec![(1, 0, 5), (2, 0, 7), (1, 1000, 10), (2, 1000, 1)]);
}

/// The average amount, as a user-defined Flink-style AggregateFunction.
#[derive(Clone)]
struct AvgAmount;

impl AggregateFunction<Sale> for AvgAmount {
    type Acc = (i64, i64);
    type Out = f64;
    fn create_accumulator(&self) -> (i64, i64) {
        (0, 0)
    }
    fn add(&mut self, acc: &mut (i64, i64), s: Sale) {
        acc.0 += s.amount;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(i64, i64)) -> f64 {
        acc.0 as f64 / acc.1 as f64
    }
    fn merge(&self, a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

#[test]
fn user_defined_aggregate_function() {
    assert_eq!(
        values(window_of_sales!(aggregate(AvgAmount))),
        vec![(1, 0, 1.0), (2, 0, 7.0), (1, 1000, 10.0), (2, 1000, 1.0)]
    );
}

#[test]
fn processing_time_windows_count_every_record_once() {
    // Window boundaries depend on the wall clock, so only the totals per key are compared.
    for p in common::PARALLELISMS {
        let out = Collected::new();
        let job = pipeline! {
            generate(1000, |i| i % 3)
                .key_by(|k| *k)
                .window(tumbling_processing_time(1h))
                .count()
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        let results = out.take();
        for k in 0..3u64 {
            let total: u64 = results.iter().filter(|w| w.key == k).map(|w| w.value).sum();
            assert_eq!(total, if k == 0 { 334 } else { 333 }, "parallelism {p}");
        }
        assert!(results.iter().all(|w| w.end - w.start == 3_600_000));
    }
}

#[test]
fn operators_after_key_by_see_the_record_and_run_on_its_keys_worker() {
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let job = pipeline! {
            from_iter(vec![("a", 1), ("b", 2), ("a", 3)])
                .key_by(|r| r.0)
                .map(|r| format!("{}{}", r.0, r.1))
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    assert_eq!(out, ["a1", "b2", "a3"]);
}

#[test]
fn rebalance_spreads_stateless_work_over_the_workers() {
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let job = pipeline! {
            generate(1000, |i| i)
                .rebalance()
                .map(|i| i * 2)
                .filter(|i| i % 3 == 0)
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    assert_eq!(
        out,
        (0..1000u64).map(|i| i * 2).filter(|i| i % 3 == 0).collect::<Vec<_>>()
    );
}

/// Sums amounts per key and emits the sum one second (event time) after the key's last
/// record: Flink's canonical KeyedProcessFunction with value state and event-time timers.
#[derive(Clone, Default)]
struct SumAfterQuiet {
    sum: fuseflow::state::ValueState<i64>,
    last: fuseflow::state::ValueState<i64>,
}

impl fuseflow::KeyedProcessFunction<u8, Sale> for SumAfterQuiet {
    type Out = (u8, i64);
    fn open(&mut self, states: &mut fuseflow::state::StateRegistry) {
        self.sum = states.value("sum");
        self.last = states.value("last");
    }
    fn process_element(&mut self, sale: Sale, ctx: &mut fuseflow::ProcessContext<'_, u8, (u8, i64)>) {
        ctx.value(self.sum).update_with(|| 0, |s| *s += sale.amount);
        if let Some(previous) = ctx.value(self.last).get() {
            ctx.delete_event_time_timer(previous + 1000);
        }
        ctx.value(self.last).update(sale.ts);
        ctx.register_event_time_timer(sale.ts + 1000);
    }
    fn on_timer(&mut self, _ts: i64, ctx: &mut fuseflow::ProcessContext<'_, u8, (u8, i64)>) {
        let key = *ctx.key();
        let sum = ctx.value(self.sum).get().unwrap_or(0);
        ctx.value(self.sum).clear();
        ctx.collect((key, sum));
    }
}

#[test]
fn keyed_process_function_with_state_and_timers() {
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let job = pipeline! {
            from_iter(sales())
                .timestamps(|s| s.ts)
                .watermarks(monotonous())
                .key_by(|s| s.shop)
                .process(SumAfterQuiet::default())
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    // Shop 1: 100, 900, 1100 → timer 2100; shop 2: 200, 1900 → timer 2900 (the 1200 one was
    // deleted). Both fire at the end of input, in timestamp order.
    assert_eq!(out, vec![(1, 12), (2, 8)]);
}

#[test]
fn sources_exchanges_and_sinks_count_their_records_for_the_metrics() {
    let counters = std::sync::Arc::new(fuseflow::Counters::default());
    let evens = fuseflow::Collected::new();
    let sums = fuseflow::Collected::new();
    fuseflow::pipeline! {
        let numbers = from_iter(0..1_000u64);
        let even = numbers.filter(|n| n % 2 == 0);
        even.sink(collect(evens));
        even.key_by(|n| n % 3).reduce(|a, b| a + b).sink(collect(sums));
    }
    .with_parallelism(2)
    .with_counters(counters.clone())
    .run()
    .unwrap();
    let ops: std::collections::BTreeMap<String, u64> = counters.operators().into_iter().collect();
    // The source, the first operator behind the exchange, and the sinks (named after the
    // stream they write, or `sink_<n>`).
    let expected = [("even", 500), ("numbers", 1_000), ("reduce_4", 500), ("sink_2", 500)];
    assert_eq!(ops, expected.into_iter().map(|(n, c)| (n.to_owned(), c)).collect());
}
