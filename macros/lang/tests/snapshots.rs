//! Insta snapshots of what the macro decides: the fused plan (text and mermaid) and the
//! `prettyplease`-formatted expansion of representative pipelines. Review changes with
//! `cargo insta review`; a diff here is a codegen change.

use fuseflow_lang::render::{Format, render};
use proc_macro2::TokenStream;
use quote::quote;

fn snapshot(name: &str, body: TokenStream) {
    let (graph, plan) = fuseflow_lang::analyze(body.clone()).unwrap_or_else(|e| panic!("{name}: {:?}", e.messages()));
    insta::assert_snapshot!(format!("{name}@plan_text"), render(&graph, &plan, Format::Text));
    insta::assert_snapshot!(format!("{name}@plan_mermaid"), render(&graph, &plan, Format::Mermaid));
    insta::assert_snapshot!(format!("{name}@plan_dot"), render(&graph, &plan, Format::Dot));
    let expansion = fuseflow_lang::expand(body, quote!(::fuseflow));
    let file: syn::File = syn::parse2(quote! { fn job() { let job = #expansion; } }).expect("expansion parses");
    insta::assert_snapshot!(format!("{name}@expansion"), prettyplease::unparse(&file));
}

#[test]
fn stateless_chain() {
    snapshot(
        "stateless_chain",
        quote! {
            job { name: "stateless" }
            from_iter(1..=10u32)
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .filter_map(|x| x.checked_sub(4))
                .flat_map(|x| [x, x + 1])
                .inspect(|x| println!("{x}"))
                .sink(stdout());
        },
    );
}

#[test]
fn event_time_window_with_late_side_output() {
    snapshot(
        "event_time_window",
        quote! {
            job { name: "clicks", parallelism: 2, dead_letter: "dead.jsonl" }
            let clicks = csv::<Click>("clicks.csv");
            let counts = clicks
                .timestamps(|c| c.ts)
                .watermarks(bounded_out_of_orderness(2s))
                .key_by(|c| c.user.clone())
                .window(tumbling(10s))
                .allowed_lateness(5s)
                .side_output_late_data(late)
                .count();
            counts.sink(csv("out/counts.csv"));
            late.sink(json_lines("out/late.jsonl"));
        },
    );
}

#[test]
fn checkpointed_window_and_fold() {
    snapshot(
        "checkpointed",
        quote! {
            job {
                name: "totals", checkpoint_interval: 10s, checkpoint_dir: "ckpt", checkpoints_retained: 5,
                restart: fixed_delay(3, 1s),
            }
            let orders = json_lines::<Order>("orders.jsonl");
            let totals = orders
                .try_map(validate)
                .on_error(dead_letter)
                .timestamps(|o| o.ts)
                .watermarks(bounded_out_of_orderness(1s))
                .key_by(|o| o.customer)
                .window(tumbling(1min))
                .drop_late_data()
                .sum(|o| o.amount);
            totals.sink(csv("out/totals"));
            totals.sink(fold(grand, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
        },
    );
}

#[test]
fn checkpointed_postgres_sinks() {
    snapshot(
        "postgres",
        quote! {
            job { name: "totals", checkpoint_every_records: 1000, parallelism: 2 }
            let orders = csv::<Order>("orders.csv");
            let totals = orders
                .key_by(|o| o.customer)
                .reduce(|a, b| Order { amount: a.amount + b.amount, ..b });
            totals.sink(postgres(PgTable::upsert(URL, "totals", ["customer"])));
            totals.sink(postgres(PgTable::insert(URL, "history")));
        },
    );
}

#[test]
fn fan_out_to_two_sinks() {
    snapshot(
        "fan_out",
        quote! {
            let parsed = stdin_lines().filter_map(|l| l.parse::<i64>().ok());
            parsed.sink(stdout());
            parsed.map(|x| x * x).sink(collect(squares));
        },
    );
}

#[test]
fn keyed_running_reduce() {
    snapshot(
        "keyed_reduce",
        quote! {
            json_lines::<Order>(["a.jsonl", "b.jsonl"])
                .key_by(|o| o.customer)
                .reduce(|a, b| Order { amount: a.amount + b.amount, ..b })
                .sink(json_lines("totals.jsonl"));
        },
    );
}

#[test]
fn generator_with_aggregate_and_processing_time() {
    snapshot(
        "generator_aggregate",
        quote! {
            job { name: "w1" }
            let events = generate(n, |i| Event { key: i % 10, value: i as i64, ts: i as i64 });
            events
                .timestamps(|e| e.ts)
                .watermarks(monotonous())
                .key_by(|e| e.key)
                .window(tumbling(1s))
                .drop_late_data()
                .aggregate(SumCount)
                .sink(for_each(|r| checksum.add(&r)));
            events
                .key_by(|e| e.key)
                .window(tumbling_processing_time(5min))
                .max(|e| e.value)
                .sink(stdout());
        },
    );
}

#[test]
fn rebalance_and_two_exchanges() {
    snapshot(
        "rebalance_two_exchanges",
        quote! {
            job { name: "rollup", parallelism: 4, max_parallelism: 64 }
            let counts = stdin_lines()
                .timestamps(|_| 0)
                .watermarks(monotonous())
                .key_by(|l| l.len())
                .window(tumbling(1min))
                .drop_late_data()
                .count();
            counts.rebalance().map(|r| r.value).sink(stdout());
            counts.key_by(|r| r.value).reduce(|a, _b| a).sink(stdout());
        },
    );
}

#[test]
fn parallel_source_fused_and_into_an_exchange() {
    snapshot(
        "parallel_source",
        quote! {
            job { name: "parallel", parallelism: 2 }
            let events = generate(1_000_000, |i: u64| (i % 100, i)).parallel();
            events.filter(|e| e.1 % 3 == 0).map(|e| e.1).sink(for_each(|x| drop(x)));
            events.key_by(|e| e.0).reduce(|a, b| (a.0, a.1 + b.1)).sink(stdout());
        },
    );
}

#[test]
fn kafka_source_with_per_partition_watermarks_and_sink() {
    snapshot(
        "kafka",
        quote! {
            job { name: "orders", parallelism: 2 }
            let orders = kafka::<Order>(kafka::source("127.0.0.1:9092", "orders").bounded())
                .timestamps(|o| o.ts)
                .watermarks(bounded_out_of_orderness(4s))
                .idleness(30s);
            let totals = orders
                .key_by(|o| o.user.clone())
                .window(tumbling(10s))
                .drop_late_data()
                .sum(|o| o.amount);
            totals.sink(kafka_keyed(kafka::sink("127.0.0.1:9092", "totals"), |t| t.key.clone()));
        },
    );
}

/// A job that scales out through Kafka: its `key_by` becomes `connect_scaled` (the internal
/// topic), whose chain builder owns copies of the operators behind it.
#[test]
fn scale_out_through_kafka() {
    snapshot(
        "scale_out",
        quote! {
            job { name: "orders", parallelism: 4, checkpoint_interval: 1s, scale_out: kafka }
            let orders = kafka::<Order>(kafka::source("127.0.0.1:9092", "orders").group_id("orders"))
                .timestamps(|o| o.ts)
                .watermarks(bounded_out_of_orderness(1s));
            orders
                .filter(|o| o.amount > 0)
                .key_by(|o| o.user.clone())
                .window(tumbling(10s))
                .drop_late_data()
                .sum(|o| o.amount)
                .sink(postgres(PgTable::insert(URL, "totals")));
        },
    );
}

/// A job with `state_backend: rocksdb` and no checkpoints wraps its window and keyed `reduce`
/// in `checkpointed`, which moves their state into the backend (and brings the serde bounds).
#[test]
fn rocksdb_state_without_checkpoints() {
    snapshot(
        "rocksdb_state",
        quote! {
            job { name: "on_disk", state_backend: rocksdb }
            let values = generate(1_000, |i: u64| (i % 7, i));
            let sums = values
                .timestamps(|v| v.1 as i64)
                .watermarks(monotonous())
                .key_by(|v| v.0)
                .window(tumbling(1s))
                .drop_late_data()
                .sum(|v| v.1);
            let running = sums.key_by(|r| r.key).reduce(|a, b| WindowResult { value: a.value + b.value, ..b });
            running.sink(stdout());
        },
    );
}
