//! `state_backends`: W1 (`shared/bench/workloads.md`) with its window state in keyed state,
//! in memory and in RocksDB, in the same run: the cost of a disk-backed state backend.
//!
//! ```bash
//! cargo run --release -p fuseflow-bench --features rocksdb --bin state_backends -- [N]
//! ```
//!
//! The built-in window operator keeps its state in its own in-memory tables (see issue 4's
//! notes), so this job expresses W1's windows as a keyed `process`: a map state from window
//! start to `(sum, count)` per key and an event-time timer per window end, exactly W1's
//! results (the checksums are checked). Without the `rocksdb` feature only the in-memory run
//! happens.

use fuseflow::state::{MapState, StateBackendKind, StateRegistry};
use fuseflow::{Folded, Job, KeyedProcessFunction, ProcessContext, pipeline};
use fuseflow_bench::workload::{Checksum, Event, WINDOW_MS, Workload, event};
use std::time::Instant;

/// W1's windows as keyed state and timers.
#[derive(Clone, Default)]
struct Windows {
    open: MapState<i64, (i64, u64)>,
}

/// `(key, window start, sum, count)` of a fired window, or a late record (`count == 0`).
type Fired = (u64, i64, i64, u64);

impl KeyedProcessFunction<u64, Event> for Windows {
    type Out = Fired;
    fn open(&mut self, states: &mut StateRegistry) {
        self.open = states.map("open");
    }
    fn process_element(&mut self, e: Event, ctx: &mut ProcessContext<'_, u64, Fired>) {
        let (value, ts) = (e.value, e.ts_ms);
        let start = ts - ts.rem_euclid(WINDOW_MS);
        if start + WINDOW_MS - 1 <= ctx.current_watermark() {
            let key = *ctx.key();
            ctx.collect((key, start, 0, 0)); // late
            return;
        }
        let mut m = ctx.map(self.open);
        let (sum, count) = m.get(&start).unwrap_or((0, 0));
        m.put(start, (sum + value, count + 1));
        ctx.register_event_time_timer(start + WINDOW_MS - 1);
    }
    fn on_timer(&mut self, ts: i64, ctx: &mut ProcessContext<'_, u64, Fired>) {
        let start = ts + 1 - WINDOW_MS;
        let key = *ctx.key();
        let mut m = ctx.map(self.open);
        if let Some((sum, count)) = m.get(&start) {
            m.remove(&start);
            ctx.collect((key, start, sum, count));
        }
    }
}

fn job<'a>(n: u64, out: &Folded<(Checksum, u64)>) -> Job<'a> {
    pipeline! {
        job { name: "w1-keyed-state" }
        let events = generate(n, |i: u64| event::<10_000>(i));
        let fired = events
            .timestamps(|e| e.ts_ms)
            .watermarks(bounded_out_of_orderness(500ms))
            .key_by(|e| e.key)
            .process(Windows::default());
        fired.sink(fold(out, (Checksum::default(), 0u64), |acc: &mut (Checksum, u64), f: Fired| {
            if f.3 == 0 {
                acc.1 += 1;
            } else {
                acc.0.add_parts(f.0, f.1, f.2, f.3);
            }
        }));
    }
}

fn run(n: u64, backend: StateBackendKind) -> Result<(f64, Checksum, u64), String> {
    let out = Folded::new();
    let dir = std::env::temp_dir();
    let started = Instant::now();
    job(n, &out)
        .with_state_backend(backend, Some(dir))
        .run()
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let (checksum, late) = out
        .take()
        .into_iter()
        .fold((Checksum::default(), 0), |(c, l), (c2, l2)| (c.merge(c2), l + l2));
    Ok((n as f64 / secs, checksum, late))
}

fn main() -> std::process::ExitCode {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let expected = Workload::W1.expected(n);
    let mut memory_rate = None;
    println!("W1 as keyed state and timers, N = {n}");
    println!("{:<10} {:>14} {:>10}", "backend", "events/s", "ratio");
    for backend in [StateBackendKind::Memory, StateBackendKind::RocksDb] {
        match run(n, backend) {
            Ok((rate, checksum, late)) => {
                if let Some(e) = expected {
                    assert_eq!((checksum, late), (e.checksum, e.late), "{backend:?}: wrong checksums");
                }
                let base = *memory_rate.get_or_insert(rate);
                println!("{:<10} {:>14.0} {:>9.3}x", format!("{backend:?}"), rate, rate / base);
            }
            Err(e) => println!("{:<10} skipped: {e}", format!("{backend:?}")),
        }
    }
    std::process::ExitCode::SUCCESS
}
