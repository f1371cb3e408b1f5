//! {{project-name}}: a fuseflow streaming job that counts orders per customer per minute.
//!
//! [`job`] is the whole job: it reads orders from CSV files, puts them on event time
//! (tolerating orders up to 5 s out of order), counts each customer's orders in one-minute
//! tumbling windows, and sets aside orders that arrive after their window fired.
//! `src/main.rs` runs it with fuseflow's standard command line; `tests/pipeline.rs` runs it on
//! a tiny input and checks the result. The `pipeline!` language is described in fuseflow's
//! `docs/dsl.md`.

use fuseflow::{Job, WindowResult, pipeline};

/// One order: a row of the input CSV (`customer,amount,ts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Order {
    /// Who placed the order.
    pub customer: String,
    /// The amount, in cents.
    pub amount: u64,
    /// Event time: when the order was placed, in milliseconds since the Unix epoch.
    pub ts: i64,
}

/// How many orders one customer (`key`) placed in one minute (`[start, end)`, milliseconds).
pub type OrderCount = WindowResult<String, u64>;

/// The job. It reads `data/orders.csv` (the source `orders`) and writes
/// `out/orders_per_customer.csv` (the sink `per_customer`), `out/late_orders.jsonl` (the sink
/// `late_orders`) and `out/dead_letters.jsonl` (malformed rows); the counts are also printed
/// as their windows fire. Run it elsewhere with `--input orders=<path>`,
/// `--output per_customer=<path>`, `--output late_orders=<path>` and `--dead-letter <path>`
/// (or [`Job::with_input`], [`Job::with_output`], [`Job::with_dead_letter`]).
pub fn job<'a>() -> Job<'a> {
    pipeline! {
        job { name: "{{project-name}}", dead_letter: "out/dead_letters.jsonl" }
        let orders = csv::<Order>("data/orders.csv");
        let per_customer = orders
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(5s))
            .key_by(|o| o.customer.clone())
            .window(tumbling(1min))
            .side_output_late_data(late_orders)
            .count();
        per_customer.sink(stdout());
        per_customer.sink(csv("out/orders_per_customer.csv"));
        late_orders.sink(json_lines("out/late_orders.jsonl"));
    }
}
