//! `from_iter`: a source over any Rust iterator, for tests, examples and small lookup data.
//! Records carry no timestamp; assign one downstream with `timestamps`.

use super::Source;
use crate::checkpoint::SourceCheckpoints;
use crate::{Collector, JobError, NO_TIMESTAMP, TaskContext, Ty};

/// A source that yields the items of an iterator (see [`from_iter`]).
#[derive(Debug, Clone)]
pub struct FromIter<I> {
    iter: I,
}

/// A source over the items of `iter`, in order, each with [`NO_TIMESTAMP`].
pub fn from_iter<I: IntoIterator>(iter: I) -> FromIter<I::IntoIter> {
    FromIter { iter: iter.into_iter() }
}

impl<I: Iterator> FromIter<I> {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty(&self) -> Ty<I::Item> {
        Ty::of()
    }
}

impl<I: Iterator> Source for FromIter<I> {
    type Item = I::Item;

    fn run<C: Collector<I::Item>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        let mut cps = SourceCheckpoints::new(ctx, name);
        // The position is the number of items consumed: a restore skips them again, so the
        // iterator must yield the same items on every run.
        let start = cps.restored::<u64>()?.unwrap_or(0);
        let mut iter = self.iter;
        let mut n = 0u64;
        while n < start {
            if iter.next().is_none() {
                break;
            }
            n += 1;
        }
        for record in iter {
            out.record(record, NO_TIMESTAMP);
            n += 1;
            if cps.due() && !cps.trigger(out, ctx, &n) {
                break;
            }
        }
        TaskContext::add(&ctx.counters().records_in, n - start.min(n));
        cps.end(out, &n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Job, JobSpec, sink};

    #[test]
    fn yields_items_in_order_and_counts_them() {
        let out = sink::Collected::new();
        let src = from_iter(vec!["a", "b", "c"]);
        let mut job = Job::new(JobSpec::default());
        job.add_source("letters", src, sink::collect(crate::Ty::of(), &out));
        let summary = job.run().unwrap();
        assert_eq!(out.take(), ["a", "b", "c"]);
        assert_eq!((summary.records_in, summary.records_out), (3, 3));
    }
}
