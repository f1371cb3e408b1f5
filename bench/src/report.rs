//! The measurements of a benchmark run, the table they are printed as, and the checks that
//! every implementation computed the same checksums as the baseline and as `workloads.md`.

use crate::workload::{Outcome, Workload};
use std::fmt::{self, Write as _};

/// What was measured: the baseline or the `pipeline!` job at some parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// The hand-written single-threaded Rust baseline.
    Baseline,
    /// The `pipeline!` job on this many workers.
    Pipeline {
        /// The number of workers.
        parallelism: u16,
    },
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Implementation::Baseline => f.write_str("baseline"),
            Implementation::Pipeline { parallelism } => write!(f, "pipeline p={parallelism}"),
        }
    }
}

/// The best of several runs of one implementation on one workload.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// The workload.
    pub workload: Workload,
    /// The implementation.
    pub implementation: Implementation,
    /// Events per second of the fastest run, generation included.
    pub events_per_sec: f64,
    /// What every run computed (the runs are checked to agree).
    pub outcome: Outcome,
}

/// Renders the measurements as a Markdown table, each row's speed also as a ratio to the
/// baseline of its workload (when the baseline was measured).
pub fn table(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "| workload | implementation | events/s | vs baseline | R | C | S | late |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for m in rows {
        let base = rows
            .iter()
            .find(|b| b.workload == m.workload && b.implementation == Implementation::Baseline);
        let ratio = base.map_or("-".to_string(), |b| {
            format!("{:.2}x", m.events_per_sec / b.events_per_sec)
        });
        let c = m.outcome.checksum;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} M/s | {} | {} | {} | {} | {} |",
            m.workload,
            m.implementation,
            m.events_per_sec / 1e6,
            ratio,
            c.r,
            c.c,
            c.s,
            m.outcome.late
        );
    }
    out
}

/// Every disagreement among `rows` for `n` events: with the baseline of the same workload, and
/// with the expected checksums of `workloads.md` when it lists `n`. Empty when all agree.
pub fn mismatches(rows: &[Measurement], n: u64) -> Vec<String> {
    let mut found = Vec::new();
    for m in rows {
        let base = rows
            .iter()
            .find(|b| b.workload == m.workload && b.implementation == Implementation::Baseline);
        if let Some(b) = base
            && b.outcome != m.outcome
        {
            found.push(format!(
                "{} {}: {} differs from the baseline's {}",
                m.workload, m.implementation, m.outcome, b.outcome
            ));
        }
        if let Some(expected) = m.workload.expected(n)
            && expected != m.outcome
        {
            found.push(format!(
                "{} {}: {} differs from workloads.md's {expected} for N = {n}",
                m.workload, m.implementation, m.outcome
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Checksum;

    fn m(implementation: Implementation, events_per_sec: f64, r: u64) -> Measurement {
        Measurement {
            workload: Workload::W2,
            implementation,
            events_per_sec,
            outcome: Outcome {
                checksum: Checksum {
                    r,
                    c: 1_000,
                    s: 8_698_515_894,
                },
                late: 0,
            },
        }
    }

    #[test]
    fn the_table_gives_the_ratio_to_the_baseline() {
        let rows = [
            m(Implementation::Baseline, 100e6, 176),
            m(Implementation::Pipeline { parallelism: 2 }, 80e6, 176),
        ];
        let t = table(&rows);
        assert!(
            t.contains("| W2 | baseline | 100.0 M/s | 1.00x | 176 | 1000 | 8698515894 | 0 |"),
            "{t}"
        );
        assert!(t.contains("| W2 | pipeline p=2 | 80.0 M/s | 0.80x |"), "{t}");
        assert!(mismatches(&rows, 1_000).is_empty());
    }

    #[test]
    fn a_differing_checksum_is_reported_against_the_baseline_and_the_expected_values() {
        let rows = [
            m(Implementation::Baseline, 1.0, 176),
            m(Implementation::Pipeline { parallelism: 1 }, 1.0, 175),
        ];
        let found = mismatches(&rows, 1_000);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("W2 pipeline p=1: R=175"), "{found:?}");
        assert!(found[1].contains("workloads.md"), "{found:?}");
        assert!(mismatches(&rows, 999).len() == 1);
    }
}
