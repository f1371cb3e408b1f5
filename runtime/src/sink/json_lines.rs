//! `json_lines`: a sink writing each record as one line of JSON (JSON Lines), through serde,
//! with struct fields in declaration order. The file and its parent directories are created in
//! `open`; writes are buffered and flushed at the end of input.

use super::{CHUNK, SinkFile};
use crate::checkpoint::Barrier;
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use std::marker::PhantomData;

/// The sink behind [`json_lines`]. Its clones (one per worker) share the output file.
pub struct JsonLinesSink<T> {
    file: SinkFile,
    buffer: Vec<u8>,
    writing: bool,
    count: u64,
    ctx: Option<TaskContext>,
    _ty: PhantomData<fn(T)>,
}

impl<T> Clone for JsonLinesSink<T> {
    fn clone(&self) -> Self {
        JsonLinesSink {
            file: self.file.clone(),
            buffer: Vec::new(),
            writing: false,
            count: 0,
            ctx: None,
            _ty: PhantomData,
        }
    }
}

/// A sink writing each record as one JSON line to the file at `path` (created or truncated).
pub fn json_lines<T: Serialize>(_ty: Ty<T>, path: impl Into<String>) -> JsonLinesSink<T> {
    JsonLinesSink {
        file: SinkFile::new(path.into(), "jsonl"),
        buffer: Vec::new(),
        writing: false,
        count: 0,
        ctx: None,
        _ty: PhantomData,
    }
}

impl<T> JsonLinesSink<T> {
    /// Names the sink, for `--output name=path` ([`Job::with_output`](crate::Job::with_output)).
    ///
    /// `pipeline!` names a file sink after the stream it writes; an unnamed sink goes by the
    /// stem of its file name (`out/late.jsonl` is `late`).
    pub fn named(mut self, name: &str) -> Self {
        self.file.set_name(name);
        self
    }

    /// The sink's name (see [`JsonLinesSink::named`]).
    pub fn name(&self) -> String {
        self.file.name()
    }

    /// Reports a write error once and stops writing.
    fn fail(&mut self, e: std::io::Error) {
        self.writing = false;
        if let Some(ctx) = &self.ctx {
            ctx.fail(JobError::io("cannot write output", self.file.path(), e));
        }
    }

    /// Appends the buffered lines to the shared file.
    fn write_out(&mut self) {
        if self.writing && !self.buffer.is_empty() {
            let result = self.file.append(b"", &self.buffer);
            self.buffer.clear();
            if let Err(e) = result {
                self.fail(e);
            }
        }
    }
}

impl<T: Serialize> Collector<T> for JsonLinesSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        self.file.open(ctx)?;
        self.writing = true;
        self.buffer.reserve(CHUNK);
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        if !self.writing {
            return;
        }
        match serde_json::to_writer(&mut self.buffer, &record) {
            Ok(()) => {
                self.buffer.push(b'\n');
                self.count += 1;
            }
            Err(e) => self.fail(e.into()),
        }
        if self.buffer.len() >= CHUNK {
            self.write_out();
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, barrier: Barrier) {
        self.write_out();
        if let Err(e) = self.file.precommit(Some(barrier.id))
            && let Some(ctx) = &self.ctx
        {
            ctx.fail(e);
        }
    }

    fn end(&mut self) {
        self.write_out();
        if self.writing
            && let Err(e) = self.file.precommit(None)
            && let Some(ctx) = &self.ctx
        {
            ctx.fail(e);
        }
        self.writing = false;
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
