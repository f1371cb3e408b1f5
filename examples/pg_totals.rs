//! Per-user totals in PostgreSQL, exactly-once: sums of amounts per user in 10-second
//! event-time windows over out-of-order events (late firings within 3 s of allowed lateness
//! update a window's total), written twice: upserted into `pg_totals` (the latest total of
//! each user and window) and inserted into `pg_firings` (every firing, so a row written twice
//! would show). The job takes checkpoints; kill it (even with SIGKILL) and run it again with
//! `--restore latest`: both tables end exactly as after a run that was never killed.
//!
//! ```bash
//! scripts/services.sh start postgres      # a throwaway server on 127.0.0.1:55432
//! psql postgres://postgres@127.0.0.1:55432/postgres -c "
//!   CREATE TABLE pg_totals (user_id text, window_end bigint, amount bigint, PRIMARY KEY (user_id, window_end));
//!   CREATE TABLE pg_firings (user_id text, window_end bigint, amount bigint)"
//! cargo run --example pg_totals -- --parallelism 2
//! cargo run --example pg_totals -- --parallelism 2 --restore latest
//! ```
//!
//! The database is `FUSEFLOW_PG_URL` (default: the server above); `--output
//! totals=postgres://…` and `--output firings=postgres://…` send a sink elsewhere.

use fuseflow::{PgTable, WindowResult, pipeline};
use std::process::ExitCode;

/// One event: a user spent `amount` at `ts` (ms).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Event {
    user: String,
    amount: u64,
    ts: i64,
}

/// A row of `pg_totals` and `pg_firings`.
#[derive(Debug, Clone, serde::Serialize)]
struct Total {
    user_id: String,
    window_end: i64,
    amount: u64,
}

impl From<WindowResult<String, u64>> for Total {
    fn from(r: WindowResult<String, u64>) -> Self {
        Total {
            user_id: r.key,
            window_end: r.end,
            amount: r.value,
        }
    }
}

fn main() -> ExitCode {
    let url =
        std::env::var("FUSEFLOW_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".to_owned());
    fuseflow::main(pipeline! {
        job {
            name: "pg_totals",
            checkpoint_every_records: 2000,
            checkpoint_dir: "out/pg_totals/checkpoints",
            checkpoints_retained: 2,
        }
        let events = csv::<Event>("examples/data/events.csv");
        let sums = events
            .timestamps(|e| e.ts)
            .watermarks(bounded_out_of_orderness(2s))
            .key_by(|e| e.user.clone())
            .window(tumbling(10s))
            .allowed_lateness(3s)
            .drop_late_data()
            .sum(|e| e.amount);
        let totals = sums.map(Total::from);
        let firings = sums.map(Total::from);
        totals.sink(postgres(PgTable::upsert(&url, "pg_totals", ["user_id", "window_end"])));
        firings.sink(postgres(PgTable::insert(&url, "pg_firings")));
    })
}
