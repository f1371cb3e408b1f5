//! A windowed job that takes checkpoints and survives being killed: per-user sums of
//! amounts in 10-second event-time windows over out-of-order events, with late events to a
//! side output, and per-user spending streaks kept in keyed state (a keyed `process`). The
//! state of both lives in the job's state backend: `--state-backend rocksdb` puts it on disk.
//! Run it, kill it (even with SIGKILL), and run it again with `--restore latest`:
//! the committed output (the `part-*` files) is exactly that of a run that was never killed.
//!
//! ```bash
//! cargo run --release --example recovery -- --parallelism 2
//! cargo run --release --example recovery -- --parallelism 2 --restore latest
//! ```

use fuseflow::state::{StateRegistry, ValueState};
use fuseflow::{KeyedProcessFunction, ProcessContext, pipeline};
use std::process::ExitCode;

/// One event: a user spent `amount` at `ts` (ms).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Event {
    user: String,
    amount: u64,
    ts: i64,
}

/// Per user: the amount spent since the user's last quiet second, emitted as
/// `(user, total, events)` when a second passes without an event of theirs (an event-time
/// timer), in keyed state.
#[derive(Clone, Default)]
struct Streaks {
    total: ValueState<(u64, u64)>,
    last: ValueState<i64>,
}

impl KeyedProcessFunction<String, Event> for Streaks {
    type Out = (String, u64, u64);
    fn open(&mut self, states: &mut StateRegistry) {
        self.total = states.value("total");
        self.last = states.value("last");
    }
    fn process_element(&mut self, e: Event, ctx: &mut ProcessContext<'_, String, Self::Out>) {
        ctx.value(self.total)
            .update_with(|| (0, 0), |t| *t = (t.0 + e.amount, t.1 + 1));
        let last = ctx.value(self.last).get();
        if last.is_none_or(|l| e.ts > l) {
            if let Some(l) = last {
                ctx.delete_event_time_timer(l + 1000);
            }
            ctx.value(self.last).update(e.ts);
            ctx.register_event_time_timer(e.ts + 1000);
        }
    }
    fn on_timer(&mut self, _ts: i64, ctx: &mut ProcessContext<'_, String, Self::Out>) {
        let (total, events) = ctx.value(self.total).get().unwrap_or((0, 0));
        ctx.value(self.total).clear();
        ctx.value(self.last).clear();
        let user = ctx.key().clone();
        ctx.collect((user, total, events));
    }
}

fn main() -> ExitCode {
    fuseflow::main(pipeline! {
        job {
            name: "recovery",
            checkpoint_every_records: 2000,
            checkpoint_dir: "out/recovery/checkpoints",
            checkpoints_retained: 2,
        }
        let events = csv::<Event>("examples/data/events.csv");
        let timed = events
            .timestamps(|e| e.ts)
            .watermarks(bounded_out_of_orderness(2s));
        let streaks = timed.key_by(|e| e.user.clone()).process(Streaks::default());
        streaks.sink(csv("out/recovery/streaks"));
        let totals = timed
            .key_by(|e| e.user.clone())
            .window(tumbling(10s))
            .allowed_lateness(3s)
            .side_output_late_data(late)
            .sum(|e| e.amount);
        totals.sink(csv("out/recovery/totals"));
        late.sink(json_lines("out/recovery/late"));
    })
}
