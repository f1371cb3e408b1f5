//! `try_map`, and the dead-letter error policy of `map` and `try_map`.
//!
//! `try_map(f)` runs a fallible `f: FnMut(T) -> Result<U, E>`. By default (Flink's
//! behaviour for an exception in a `MapFunction`) an `Err` fails the job, with the operator and
//! the error in the message; the job's restart strategy may then restart it from its latest
//! checkpoint. With `.on_error(dead_letter)` after a `map` or `try_map`, a record whose call
//! returns `Err` *or panics* goes instead to the dead-letter output, with its `Debug` text
//! and the error, is counted, and the job goes on. That policy formats each record before
//! the call (the call consumes it), so it costs a `format!` per record: use it where bad
//! records are expected, not on the hot path of a clean feed.

use crate::checkpoint::Barrier;
use crate::job::panic_message;
use crate::{Collector, DeadLetter, JobError, TaskContext, Timestamp, Ty};
use std::fmt::{Debug, Display};
use std::marker::PhantomData;

/// The `try_map` operator (an `Err` fails the job); `D` is the successor once the chain is
/// built.
#[derive(Debug, Clone)]
pub struct TryMap<F, D = ()> {
    f: F,
    operator: &'static str,
    ctx: Option<TaskContext>,
    /// An `Err` failed the job: later records are dropped while it stops.
    failed: bool,
    next: D,
}

/// Types `f` against the input `T`; the output is the `Ok` type of its result.
pub fn try_map<T, U, E: Display, F: FnMut(T) -> Result<U, E>>(_input: Ty<T>, f: F) -> (TryMap<F>, Ty<U>) {
    let op = TryMap {
        f,
        operator: "try_map",
        ctx: None,
        failed: false,
        next: (),
    };
    (op, Ty::of())
}

impl<F> TryMap<F> {
    /// The operator's name in error messages (`pipeline!` gives its id, e.g. `try_map_3`).
    pub fn named(mut self, operator: &'static str) -> Self {
        self.operator = operator;
        self
    }

    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> TryMap<F, D> {
        TryMap {
            f: self.f,
            operator: self.operator,
            ctx: None,
            failed: false,
            next,
        }
    }
}

/// The control half of `Collector` for an operator that keeps its `TaskContext` (`ctx`)
/// and forwards everything to `next`.
macro_rules! control_keeping_context {
    () => {
        fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
            self.ctx = Some(ctx.clone());
            self.next.open(ctx)
        }
        #[inline]
        fn watermark(&mut self, wm: Timestamp) {
            self.next.watermark(wm)
        }
        fn checkpoint(&mut self, barrier: Barrier) {
            self.next.checkpoint(barrier)
        }

        fn flush(&mut self) {
            self.next.flush();
        }
        fn end(&mut self) {
            self.next.end()
        }
    };
}

impl<T, U, E: Display, F: FnMut(T) -> Result<U, E>, D: Collector<U>> Collector<T> for TryMap<F, D> {
    control_keeping_context!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        if self.failed {
            return;
        }
        match (self.f)(record) {
            Ok(out) => self.next.record(out, ts),
            Err(e) => {
                self.failed = true;
                let error = JobError::Other(format!("operator `{}` failed on a record: {e}", self.operator));
                match &self.ctx {
                    Some(ctx) => ctx.fail(error),
                    None => panic!("{error}"),
                }
            }
        }
    }
}

/// Marks a [`DeadLettering`] around an infallible function (`map`).
#[derive(Debug, Clone, Copy)]
pub struct Infallible;

/// Marks a [`DeadLettering`] around a fallible function (`try_map`).
#[derive(Debug, Clone, Copy)]
pub struct Fallible;

/// A `map` or `try_map` with the dead-letter error policy (see [`try_map`](crate::ops::try_map) and [`map_or_dead_letter`](crate::ops::map_or_dead_letter)).
pub struct DeadLettering<F, K, D = ()> {
    f: F,
    operator: &'static str,
    ctx: Option<TaskContext>,
    next: D,
    _kind: PhantomData<K>,
}

impl<F: Clone, K, D: Clone> Clone for DeadLettering<F, K, D> {
    fn clone(&self) -> Self {
        DeadLettering {
            f: self.f.clone(),
            operator: self.operator,
            ctx: None,
            next: self.next.clone(),
            _kind: PhantomData,
        }
    }
}

/// `map(f)` whose panics dead-letter the record instead of failing the job.
pub fn map_or_dead_letter<T: Debug, U, F: FnMut(T) -> U>(
    _input: Ty<T>,
    f: F,
    operator: &'static str,
) -> (DeadLettering<F, Infallible>, Ty<U>) {
    (DeadLettering::new(f, operator), Ty::of())
}

/// `try_map(f)` whose `Err`s and panics dead-letter the record instead of failing the job.
pub fn try_map_or_dead_letter<T: Debug, U, E: Display, F: FnMut(T) -> Result<U, E>>(
    _input: Ty<T>,
    f: F,
    operator: &'static str,
) -> (DeadLettering<F, Fallible>, Ty<U>) {
    (DeadLettering::new(f, operator), Ty::of())
}

impl<F, K> DeadLettering<F, K> {
    fn new(f: F, operator: &'static str) -> Self {
        DeadLettering {
            f,
            operator,
            ctx: None,
            next: (),
            _kind: PhantomData,
        }
    }

    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> DeadLettering<F, K, D> {
        DeadLettering {
            f: self.f,
            operator: self.operator,
            ctx: None,
            next,
            _kind: PhantomData,
        }
    }
}

impl<F, K, D> DeadLettering<F, K, D> {
    #[cold]
    fn dead_letter(&self, raw: String, reason: String) {
        let letter = DeadLetter {
            source: self.operator.to_owned(),
            file: None,
            line: 0,
            raw,
            reason,
        };
        match &self.ctx {
            Some(ctx) => ctx.dead_letter(&letter),
            None => eprintln!("dead letter: {letter:?}"),
        }
    }

    /// Calls `call` on `record`; on `Err` or panic, dead-letters the record.
    #[inline]
    fn guarded<T: Debug, U, E: Display>(
        &mut self,
        record: T,
        call: impl FnOnce(&mut F, T) -> Result<U, E>,
    ) -> Option<U> {
        let raw = format!("{record:?}");
        let f = &mut self.f;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(f, record))) {
            Ok(Ok(out)) => Some(out),
            Ok(Err(e)) => {
                self.dead_letter(raw, e.to_string());
                None
            }
            Err(payload) => {
                self.dead_letter(raw, format!("panicked: {}", panic_message(payload.as_ref())));
                None
            }
        }
    }
}

impl<T: Debug, U, F: FnMut(T) -> U, D: Collector<U>> Collector<T> for DeadLettering<F, Infallible, D> {
    control_keeping_context!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        if let Some(out) = self.guarded(record, |f, r| Ok::<U, std::convert::Infallible>(f(r))) {
            self.next.record(out, ts);
        }
    }
}

impl<T: Debug, U, E: Display, F: FnMut(T) -> Result<U, E>, D: Collector<U>> Collector<T>
    for DeadLettering<F, Fallible, D>
{
    control_keeping_context!();
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        if let Some(out) = self.guarded(record, |f, r| f(r)) {
            self.next.record(out, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Collected, Job, JobSpec, sink, source};

    fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
        s.parse()
    }

    #[test]
    fn an_err_fails_the_job_naming_the_operator() {
        let out = Collected::new();
        let src = source::from_iter(vec!["1", "x", "3"]);
        let (op, ty) = try_map(src.ty(), parse);
        let mut job = Job::new(JobSpec::default());
        job.add_source("n", src, op.named("try_map_1").into_collector(sink::collect(ty, &out)));
        let err = job.run().unwrap_err().to_string();
        assert!(
            err.contains("operator `try_map_1` failed on a record: invalid digit"),
            "{err}"
        );
    }

    #[test]
    fn dead_letter_policy_sends_errs_and_panics_on_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.jsonl");
        let out = Collected::new();
        let src = source::from_iter(vec!["1", "x", "3", "7"]);
        let (op, ty) = try_map_or_dead_letter(
            src.ty(),
            |s: &str| {
                assert!(s != "7", "seven is unlucky");
                parse(s)
            },
            "try_map_1",
        );
        let mut job =
            Job::new(JobSpec::default()).with_dead_letter(crate::DeadLetterTarget::File(dead.display().to_string()));
        job.add_source("n", src, op.into_collector(sink::collect(ty, &out)));
        let summary = job.run().unwrap();
        assert_eq!(out.take(), [1, 3]);
        assert_eq!(summary.dead_lettered, 2);
        let letters = std::fs::read_to_string(&dead).unwrap();
        assert!(
            letters.contains(r#""raw":"\"x\"""#) && letters.contains("invalid digit"),
            "{letters}"
        );
        assert!(letters.contains("panicked: seven is unlucky"), "{letters}");
    }
}
