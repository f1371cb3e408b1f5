//! `stdout`: a sink printing each record's `Debug` form on its own line of standard output.
//! Lines are formatted into a buffer that is written to the locked stdout in large chunks
//! holding whole lines (so two stdout sinks never split each other's lines) and flushed at the
//! end of input.

use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use std::fmt::Debug;
use std::io::Write;
use std::marker::PhantomData;

/// Bytes buffered before they are written to stdout.
const CHUNK: usize = 64 * 1024;

/// The sink behind [`stdout`].
pub struct StdoutSink<T> {
    buffer: Vec<u8>,
    target: Target,
    count: u64,
    failed: bool,
    ctx: Option<TaskContext>,
    _ty: PhantomData<fn(T)>,
}

impl<T> Clone for StdoutSink<T> {
    fn clone(&self) -> Self {
        StdoutSink {
            buffer: Vec::with_capacity(CHUNK),
            target: self.target.clone(),
            count: 0,
            failed: false,
            ctx: None,
            _ty: PhantomData,
        }
    }
}

/// Where the lines go: stdout, or a buffer in tests.
#[derive(Clone)]
enum Target {
    Stdout,
    #[cfg(test)]
    Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

/// A sink printing `{:?}` of each record, one per line, on standard output.
pub fn stdout<T: Debug>(_ty: Ty<T>) -> StdoutSink<T> {
    StdoutSink {
        buffer: Vec::with_capacity(CHUNK),
        target: Target::Stdout,
        count: 0,
        failed: false,
        ctx: None,
        _ty: PhantomData,
    }
}

impl<T> StdoutSink<T> {
    /// Writes the buffered lines out (and flushes stdout when `flush`).
    fn write_out(&mut self, flush: bool) {
        if self.failed {
            return;
        }
        let result = match &self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&self.buffer)
                    .and_then(|()| if flush { out.flush() } else { Ok(()) })
            }
            #[cfg(test)]
            Target::Capture(out) => {
                out.lock().unwrap().extend_from_slice(&self.buffer);
                Ok(())
            }
        };
        self.buffer.clear();
        if let Err(e) = result {
            self.failed = true;
            if let Some(ctx) = &self.ctx {
                ctx.fail(JobError::io("cannot write output", "stdout", e));
            }
        }
    }
}

impl<T: Debug> Collector<T> for StdoutSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        if self.failed {
            return;
        }
        // Writing into a Vec cannot fail.
        let _ = writeln!(self.buffer, "{record:?}");
        self.count += 1;
        if self.buffer.len() >= CHUNK {
            self.write_out(false);
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.write_out(true);
        }
    }

    fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

    fn end(&mut self) {
        self.write_out(true);
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};

    #[test]
    fn prints_debug_lines() {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let ctx = TaskContext::detached();
        let mut sink = stdout(Ty::of());
        sink.target = Target::Capture(captured.clone());
        sink.open(&ctx).unwrap();
        sink.record(("a", 1), 0);
        sink.record(("b\n", 2), 0);
        sink.end();
        assert_eq!(
            String::from_utf8(captured.lock().unwrap().clone()).unwrap(),
            "(\"a\", 1)\n(\"b\\n\", 2)\n"
        );
        assert_eq!(ctx.counters().records_out.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn large_output_is_written_in_whole_lines() {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let mut sink = stdout(Ty::of());
        sink.target = Target::Capture(captured.clone());
        sink.open(&TaskContext::detached()).unwrap();
        for i in 0..20_000u32 {
            sink.record(i, 0);
            let len = captured.lock().unwrap().len();
            assert!(len == 0 || captured.lock().unwrap()[len - 1] == b'\n');
        }
        sink.end();
        let text = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 20_000);
        assert_eq!(text.lines().last(), Some("19999"));
    }

    #[test]
    fn real_stdout_does_not_fail() {
        let ctx = TaskContext::detached();
        let mut sink = stdout(Ty::of());
        sink.open(&ctx).unwrap();
        sink.record("printed by a test", 0);
        sink.end();
        assert_eq!(ctx.counters().records_out.load(Ordering::Relaxed), 1);
    }
}
