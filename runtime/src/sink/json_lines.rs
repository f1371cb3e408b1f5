//! `json_lines`: a sink writing each record as one line of JSON (JSON Lines), through serde,
//! with struct fields in declaration order. The file and its parent directories are created in
//! `open`; writes are buffered and flushed at the end of input.

use super::create_output;
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;

/// The sink behind [`json_lines`].
pub struct JsonLinesSink<T> {
    path: String,
    writer: Option<BufWriter<File>>,
    count: u64,
    ctx: Option<TaskContext>,
    _ty: PhantomData<fn(T)>,
}

/// A sink writing each record as one JSON line to the file at `path` (created or truncated).
pub fn json_lines<T: Serialize>(_ty: Ty<T>, path: impl Into<String>) -> JsonLinesSink<T> {
    JsonLinesSink {
        path: path.into(),
        writer: None,
        count: 0,
        ctx: None,
        _ty: PhantomData,
    }
}

impl<T> JsonLinesSink<T> {
    /// Reports a write error once and stops writing.
    fn fail(&mut self, e: std::io::Error) {
        self.writer = None;
        if let Some(ctx) = &self.ctx {
            ctx.fail(JobError::io("cannot write output", &self.path, e));
        }
    }
}

impl<T: Serialize> Collector<T> for JsonLinesSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        self.writer = Some(BufWriter::with_capacity(1 << 16, create_output(&self.path)?));
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        let Some(w) = &mut self.writer else { return };
        let result = serde_json::to_writer(&mut *w, &record)
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"));
        match result {
            Ok(()) => self.count += 1,
            Err(e) => self.fail(e),
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn end(&mut self) {
        if let Some(mut w) = self.writer.take()
            && let Err(e) = w.flush()
        {
            self.fail(e);
        }
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Job, JobSpec, source};

    #[derive(Serialize)]
    struct Row {
        name: &'static str,
        pair: (i64, u64),
    }

    #[test]
    fn one_object_per_line_in_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/sub/rows.jsonl").display().to_string();
        let src = source::from_iter([
            Row {
                name: "a",
                pair: (-1, 2),
            },
            Row {
                name: "b\"",
                pair: (3, 4),
            },
        ]);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("rows", src, json_lines(ty, &path));
        let summary = job.run().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"name\":\"a\",\"pair\":[-1,2]}\n{\"name\":\"b\\\"\",\"pair\":[3,4]}\n"
        );
        assert_eq!(summary.records_out, 2);
    }

    #[test]
    fn unwritable_output_fails_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("out.jsonl").display().to_string();
        let src = source::from_iter([1, 2]);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("rows", src, json_lines(ty, path));
        assert!(matches!(
            job.run(),
            Err(JobError::Io {
                what: "cannot create output",
                ..
            })
        ));
    }

    #[test]
    fn a_write_error_is_reported_once() {
        let full = std::path::Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let src = source::generate(100_000, |i| i);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("numbers", src, json_lines(ty, "/dev/full"));
        let err = job.run().unwrap_err();
        assert!(
            matches!(
                err,
                JobError::Io {
                    what: "cannot write output",
                    ..
                }
            ),
            "{err}"
        );
    }
}
