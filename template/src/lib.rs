//! {{project-name}}: a fuseflow streaming job that counts orders per customer per minute.
//!
//! [`orders_per_customer`] is the whole job: it reads orders from CSV files, puts them on
//! event time (tolerating orders up to 5 s out of order), counts each customer's orders in
//! one-minute tumbling windows, and sets aside orders that arrive after their window fired.
//! `src/main.rs` runs it on `data/orders.csv`; `tests/pipeline.rs` runs it on a tiny input and
//! checks the result. The `pipeline!` language is described in fuseflow's `docs/dsl.md`.

use fuseflow::{Collected, DeadLetterTarget, JobError, JobSummary, WindowResult, pipeline};
use std::path::Path;

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

/// What a run produced. The same records are also written to files in the output directory.
#[derive(Debug)]
pub struct Report {
    /// Orders per customer per minute, in the order the windows fired
    /// (`<out>/orders_per_customer.csv`).
    pub counts: Vec<OrderCount>,
    /// Orders that arrived after their window had fired (`<out>/late_orders.jsonl`).
    pub late: Vec<Order>,
    /// Records in and out, late and malformed records (`<out>/dead_letters.jsonl`), run time.
    pub summary: JobSummary,
}

/// Runs the job on `input` (a CSV file, or a directory of CSV files) and writes its results
/// into `out_dir`: `orders_per_customer.csv`, `late_orders.jsonl` and `dead_letters.jsonl`
/// (malformed rows). The counts are also printed to standard output as they are produced.
pub fn orders_per_customer(input: &Path, out_dir: &Path) -> Result<Report, JobError> {
    let counts_csv = out_dir
        .join("orders_per_customer.csv")
        .display()
        .to_string();
    let late_jsonl = out_dir.join("late_orders.jsonl").display().to_string();
    let dead_letters = out_dir.join("dead_letters.jsonl").display().to_string();
    let counts = Collected::new();
    let late = Collected::new();

    let job = pipeline! {
        job { name: "{{project-name}}" }
        let orders = csv::<Order>(input);
        let per_customer = orders
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(5s))
            .key_by(|o| o.customer.clone())
            .window(tumbling(1min))
            .side_output_late_data(late_orders)
            .count();
        per_customer.sink(stdout());
        per_customer.sink(csv(counts_csv));
        per_customer.sink(collect(counts));
        late_orders.sink(json_lines(late_jsonl));
        late_orders.sink(collect(late));
    };
    let summary = job
        .with_dead_letter(DeadLetterTarget::File(dead_letters))
        .run()?;
    Ok(Report {
        counts: counts.take(),
        late: late.take(),
        summary,
    })
}
