//! `generate`: a source that calls a function with `0, 1, …, count - 1`, for benchmarks and
//! synthetic data. The loop is as tight as the fused chain behind it allows: no buffering,
//! no allocation, one counter update at the end.
//!
//! As a parallel source (the DSL's `generate(count, f).parallel()`), instance `s` of `p`
//! makes the records of the indices `s, s + p, s + 2p, …`: the instances interleave, so they
//! move through the index range in step, and each record comes from exactly one instance.

use super::{Source, SplitSource};
use crate::checkpoint::SourceCheckpoints;
use crate::{Collector, JobError, NO_TIMESTAMP, TaskContext, Ty};

/// A source of `count` records made by a function of their index (see [`generate`]).
#[derive(Debug, Clone)]
pub struct Generate<F> {
    count: u64,
    f: F,
}

/// A source of the records `f(0), f(1), …, f(count - 1)`, each with [`NO_TIMESTAMP`].
pub fn generate<T, F: FnMut(u64) -> T>(count: u64, f: F) -> Generate<F> {
    Generate { count, f }
}

impl<F> Generate<F> {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty<T>(&self) -> Ty<T>
    where
        F: FnMut(u64) -> T,
    {
        Ty::of()
    }
}

impl<T, F: FnMut(u64) -> T> Source for Generate<F> {
    type Item = T;

    fn run<C: Collector<T>>(mut self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        let mut cps = SourceCheckpoints::new(ctx, name);
        // This instance's indices: `first`, `first + step`, …
        let (first, step) = match ctx.source_instance() {
            Some((instance, instances)) => (instance as u64, instances as u64),
            None => (0, 1),
        };
        // The position is the index of the next record.
        let start = cps.restored::<u64>()?.unwrap_or(first);
        let mut next = start;
        while next < self.count {
            out.record((self.f)(next), NO_TIMESTAMP);
            next = next.saturating_add(step);
            if cps.due() && !cps.trigger(out, ctx, &next) {
                break;
            }
        }
        TaskContext::add(&ctx.counters().records_in, next.saturating_sub(start).div_ceil(step));
        cps.end(out, &next);
        Ok(())
    }
}

impl<T, F: FnMut(u64) -> T> SplitSource for Generate<F> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Job, JobSpec, sink};

    #[test]
    fn calls_f_with_every_index() {
        let out = sink::Collected::new();
        let src = generate(5, |i| i * i);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("squares", src, sink::collect(ty, &out));
        let summary = job.run().unwrap();
        assert_eq!(out.take(), [0, 1, 4, 9, 16]);
        assert_eq!(summary.records_in, 5);
    }

    #[test]
    fn the_instances_of_a_parallel_generate_interleave_their_shares() {
        for (count, p) in [(10u64, 3usize), (7, 2), (2, 4), (0, 2)] {
            let outs: Vec<sink::Collected<u64>> = (0..p).map(|_| sink::Collected::new()).collect();
            let wired = outs.clone();
            let job = Job::build(JobSpec::default(), move |env| {
                env.add_parallel_source("indices", |i| {
                    let src = generate(count, |x| x);
                    let ty = src.ty();
                    (src, sink::collect(ty, &wired[i]))
                })
            });
            let summary = job.with_parallelism(p).run().unwrap();
            for (s, out) in outs.iter().enumerate() {
                let expected: Vec<u64> = (s as u64..count).step_by(p).collect();
                assert_eq!(out.take(), expected, "instance {s} of {p}, {count} indices");
            }
            assert_eq!(summary.records_in, count, "{p} instances, {count} indices");
        }
    }
}
