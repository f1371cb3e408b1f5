//! `for_each`: a sink calling a closure with every record, for checksums in benchmarks and
//! side effects the other sinks do not cover. It adds nothing per record but the call.

use crate::{Collector, JobError, TaskContext, Timestamp, Ty};

/// The sink behind [`for_each`].
#[derive(Debug, Clone)]
pub struct ForEachSink<F> {
    f: F,
    count: u64,
    ctx: Option<TaskContext>,
}

/// A sink calling `f` with every record, in order.
pub fn for_each<T, F: FnMut(T)>(_ty: Ty<T>, f: F) -> ForEachSink<F> {
    ForEachSink { f, count: 0, ctx: None }
}

impl<T, F: FnMut(T)> Collector<T> for ForEachSink<F> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        (self.f)(record);
        self.count += 1;
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

    fn end(&mut self) {
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Job, JobSpec, source};

    #[test]
    fn calls_f_per_record_and_counts() {
        let mut sum = 0u64;
        let src = source::generate(10, |i| i);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("numbers", src, for_each(ty, |x| sum += x));
        let summary = job.run().unwrap();
        assert_eq!(sum, 45);
        assert_eq!(summary.records_out, 10);
    }
}
