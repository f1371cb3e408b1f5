//! fuseflow: streaming ETL jobs written as Rust, checked and fused at compile time.
//!
//! Write a job as a dataflow inside [`pipeline!`]: sources, stateless operators, event time,
//! keyed tumbling windows and sinks. The macro checks the whole dataflow at compile time
//! (every mistake reported at its token) and generates monomorphized, operator-fused code that
//! links to the runtime re-exported here.
//!
//! ```
//! use fuseflow::{pipeline, Collected, WindowResult};
//!
//! #[derive(Debug, Clone)]
//! struct Click { user: &'static str, ts: i64 }
//!
//! let clicks = vec![
//!     Click { user: "ana", ts: 1_000 },
//!     Click { user: "bo", ts: 2_500 },
//!     Click { user: "ana", ts: 9_000 },
//!     Click { user: "ana", ts: 12_000 },
//! ];
//! let out = Collected::new();
//! let job = pipeline! {
//!     job { name: "clicks-per-user" }
//!     from_iter(clicks)
//!         .timestamps(|c| c.ts)
//!         .watermarks(bounded_out_of_orderness(1s))
//!         .key_by(|c| c.user)
//!         .window(tumbling(10s))
//!         .drop_late_data()
//!         .count()
//!         .sink(collect(out));
//! };
//! let summary = job.run().unwrap();
//! assert_eq!(summary.records_in, 4);
//! assert_eq!(out.take(), vec![
//!     WindowResult { key: "ana", start: 0, end: 10_000, value: 2 },
//!     WindowResult { key: "bo", start: 0, end: 10_000, value: 1 },
//!     WindowResult { key: "ana", start: 10_000, end: 20_000, value: 1 },
//! ]);
//! ```
//!
//! The DSL is documented in `docs/dsl.md`, the event-time semantics in `docs/semantics.md`.

/// The global allocator of programs built with the `mimalloc` feature: mimalloc, whose
/// per-thread heaps make the allocations of records (and frees on another worker) cheaper
/// than glibc's; see the feature's note in `Cargo.toml`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use fuseflow_runtime::checkpoint;
pub use fuseflow_runtime::cli::{self, main};
pub use fuseflow_runtime::kafka;
pub use fuseflow_runtime::ops::{KeyedProcessFunction, ProcessContext};
pub use fuseflow_runtime::sink::{Folded, PgTable};
pub use fuseflow_runtime::state;
pub use fuseflow_runtime::{
    AggregateFunction, Collected, Collector, Counters, DeadLetter, DeadLetterTarget, Job, JobError, JobSpec,
    JobSummary, Timestamp, WindowResult,
};

/// Defines a streaming job; expands to a [`Job`] value. See `docs/dsl.md` for the grammar.
///
/// ```
/// let out = fuseflow::Collected::new();
/// let job = fuseflow::pipeline! {
///     from_iter(1..=3u32).map(|x| x * 10).sink(collect(out));
/// };
/// job.run().unwrap();
/// assert_eq!(out.take(), vec![10, 20, 30]);
/// ```
#[macro_export]
macro_rules! pipeline {
    ($($body:tt)*) => {
        $crate::__private::__pipeline! { [$crate] $($body)* }
    };
}

/// Not public API: what generated code names. It may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use fuseflow_macros::__pipeline;
    pub use fuseflow_runtime::*;
}
