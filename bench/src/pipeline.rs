//! The workload as a `pipeline!` job: the job of `examples/workload/mod.rs` with a `fold`
//! sink, so that each worker folds its own results into a [`Checksum`] and the checksums are
//! merged after the run, at any parallelism.

use crate::workload::{Checksum, Event, Outcome, event};
use fuseflow::{AggregateFunction, JobError, pipeline};

/// Sum of values and count of events, computed incrementally (Flink's AggregateFunction).
#[derive(Debug, Clone, Copy)]
pub struct SumCount;

impl AggregateFunction<Event> for SumCount {
    type Acc = (i64, u64);
    type Out = (i64, u64);
    #[inline]
    fn create_accumulator(&self) -> (i64, u64) {
        (0, 0)
    }
    #[inline]
    fn add(&mut self, acc: &mut (i64, u64), e: Event) {
        acc.0 += e.value;
        acc.1 += 1;
    }
    #[inline]
    fn get_result(&self, acc: &(i64, u64)) -> (i64, u64) {
        *acc
    }
    fn merge(&self, a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// Runs the workload with `keys` keys over `n` events on `parallelism` workers.
///
/// ```
/// use fuseflow_bench::{pipeline, workload::Workload};
/// assert_eq!(pipeline::run::<100>(1_000, 1).ok(), Workload::W2.expected(1_000));
/// ```
pub fn run<const KEYS: u64>(n: u64, parallelism: usize) -> Result<Outcome, JobError> {
    let sums = fuseflow::Folded::new();
    let job = pipeline! {
        job { name: "workload" }
        generate(n, event::<KEYS>)
            .timestamps(|e| e.ts_ms)
            .watermarks(bounded_out_of_orderness(500ms))
            .key_by(|e| e.key)
            .window(tumbling(1s))
            .drop_late_data()
            .aggregate(SumCount)
            .sink(fold(sums, Checksum::default(), |acc, r| acc.add(&r)));
    };
    let summary = job.with_parallelism(parallelism).run()?;
    let checksum = sums.take().into_iter().fold(Checksum::default(), Checksum::merge);
    Ok(Outcome {
        checksum,
        late: summary.late,
    })
}
