//! [`Query`]: the queries of [`queries`] by name, for command lines, and one dispatch from a
//! name to its job, shared by the example binary and the benchmark.

use crate::Generator;
use crate::queries::{self, SideInput};
use clap::ValueEnum;
use fuseflow::Job;
use serde::Serialize;
use std::fmt;

/// Where a query's rows go: builds a sink for any row type (the queries' rows differ).
pub trait RowSink {
    /// A sink for rows of type `R`.
    fn sink<'a, R: Serialize + Send + 'a>(&self) -> impl FnMut(R) + Clone + Send + 'a;
}

/// A Nexmark query of [`queries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Query {
    /// Pass-through.
    Q0,
    /// Currency conversion.
    Q1,
    /// Selection.
    Q2,
    /// Hottest auctions per tumbling window.
    Q5,
    /// Highest bids per tumbling window.
    Q7,
    /// Date and minute columns.
    Q10,
    /// Bids per bidder in processing-time windows.
    Q12,
    /// Side-input lookup.
    Q13,
    /// Filter, `CASE` and a UDF.
    Q14,
    /// Channel ids (string matching).
    Q21,
    /// URL directories (string splitting).
    Q22,
}

impl Query {
    /// Flink 2.x's published throughput per core for this query, in events per second.
    pub fn flink_per_core(self) -> Option<f64> {
        match self {
            Query::Q0 => Some(379e3),
            Query::Q1 => Some(395e3),
            Query::Q2 => Some(414e3),
            Query::Q12 => Some(194e3),
            Query::Q14 => Some(259e3),
            Query::Q22 => Some(212e3),
            _ => None,
        }
    }

    /// Whether the rows depend on the wall clock (processing time), so that their number may
    /// differ between runs.
    pub fn uses_processing_time(self) -> bool {
        self == Query::Q12
    }

    /// The query's job over the first `events` events of `generator`, rows to `rows`.
    pub fn job<'a>(self, generator: &'a Generator, side: &'a SideInput, events: u64, rows: &impl RowSink) -> Job<'a> {
        let (g, n) = (generator, events);
        match self {
            Query::Q0 => queries::q0(g, n, rows.sink()),
            Query::Q1 => queries::q1(g, n, rows.sink()),
            Query::Q2 => queries::q2(g, n, rows.sink()),
            Query::Q5 => queries::q5(g, n, rows.sink()),
            Query::Q7 => queries::q7(g, n, rows.sink()),
            Query::Q10 => queries::q10(g, n, rows.sink()),
            Query::Q12 => queries::q12(g, n, rows.sink()),
            Query::Q13 => queries::q13(g, side, n, rows.sink()),
            Query::Q14 => queries::q14(g, n, rows.sink()),
            Query::Q21 => queries::q21(g, n, rows.sink()),
            Query::Q22 => queries::q22(g, n, rows.sink()),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.to_possible_value().expect("no skipped variants");
        f.write_str(v.get_name())
    }
}
