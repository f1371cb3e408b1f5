//! `csv`: a sink writing records as CSV rows under a header row, through serde. Nested
//! structs and tuples are flattened into columns named by their dotted path, so a
//! `WindowResult { key, start, end, value: (sum, count) }` becomes the columns
//! `key,start,end,value.0,value.1`; the header comes from the first record. The file and its
//! parent directories are created in `open`; writes are buffered and flushed at the end.

use super::flatten::{Flatten, FlattenError};
use super::{CHUNK, SinkFile};
use crate::checkpoint::Barrier;
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use std::marker::PhantomData;

/// Rows are formatted into this local buffer, then appended to the shared file in chunks.
type RowWriter = ::csv::Writer<Vec<u8>>;

fn row_writer(buffer: Vec<u8>) -> RowWriter {
    ::csv::WriterBuilder::new().from_writer(buffer)
}

/// The sink behind [`csv()`]. Its clones (one per worker) share the output file.
pub struct CsvSink<T> {
    file: SinkFile,
    writer: Option<RowWriter>,
    /// The header row, computed from this instance's first record.
    header: Vec<u8>,
    header_written: bool,
    count: u64,
    ctx: Option<TaskContext>,
    names: Vec<String>,
    field_path: String,
    scratch: String,
    _ty: PhantomData<fn(T)>,
}

/// A sink writing a header row and then one CSV row per record to the file at `path`
/// (created or truncated), flattening nested values into columns.
pub fn csv<T: Serialize>(_ty: Ty<T>, path: impl Into<String>) -> CsvSink<T> {
    CsvSink {
        file: SinkFile::new(path.into(), "csv"),
        writer: None,
        header: Vec::new(),
        header_written: false,
        count: 0,
        ctx: None,
        names: Vec::new(),
        field_path: String::new(),
        scratch: String::new(),
        _ty: PhantomData,
    }
}

impl<T> Clone for CsvSink<T> {
    fn clone(&self) -> Self {
        CsvSink {
            file: self.file.clone(),
            writer: None,
            header: Vec::new(),
            header_written: false,
            count: 0,
            ctx: None,
            names: Vec::new(),
            field_path: String::new(),
            scratch: String::new(),
            _ty: PhantomData,
        }
    }
}

impl<T> CsvSink<T> {
    /// Names the sink, for `--output name=path` ([`Job::with_output`](crate::Job::with_output)).
    ///
    /// `pipeline!` names a file sink after the stream it writes; an unnamed sink goes by the
    /// stem of its file name (`out/late.jsonl` is `late`).
    pub fn named(mut self, name: &str) -> Self {
        self.file.set_name(name);
        self
    }

    /// The sink's name (see [`CsvSink::named`]).
    pub fn name(&self) -> String {
        self.file.name()
    }

    /// Reports a write error once and stops writing.
    fn fail(&mut self, e: std::io::Error) {
        self.writer = None;
        if let Some(ctx) = &self.ctx {
            ctx.fail(JobError::io("cannot write output", self.file.path(), e));
        }
    }

    /// Appends the rows formatted so far to the shared file.
    fn write_out(&mut self) -> std::io::Result<()> {
        let Some(w) = self.writer.take() else { return Ok(()) };
        let mut rows = w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        let result = self.file.append(&self.header, &rows);
        rows.clear();
        self.writer = Some(row_writer(rows));
        result
    }
}

impl<T: Serialize> CsvSink<T> {
    fn write(&mut self, record: &T) -> Result<(), FlattenError> {
        let Some(w) = &mut self.writer else { return Ok(()) };
        if !self.header_written {
            self.names.clear();
            record.serialize(&mut Flatten::<Vec<u8>>::names(
                &mut self.names,
                &mut self.field_path,
                &mut self.scratch,
            ))?;
            let mut header = row_writer(Vec::new());
            header.write_record(&self.names)?;
            self.header = header
                .into_inner()
                .map_err(|e| FlattenError(std::io::Error::other(e.to_string())))?;
            self.header_written = true;
        }
        record.serialize(&mut Flatten::values(w, &mut self.field_path, &mut self.scratch))?;
        w.write_record(None::<&[u8]>)?;
        Ok(())
    }
}

impl<T: Serialize> Collector<T> for CsvSink<T> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.ctx = Some(ctx.clone());
        self.file.open(ctx)?;
        self.writer = Some(row_writer(Vec::with_capacity(CHUNK)));
        Ok(())
    }

    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        if self.writer.is_none() {
            return;
        }
        match self.write(&record) {
            Ok(()) => self.count += 1,
            Err(FlattenError(e)) => return self.fail(e),
        }
        if self.writer.as_ref().is_some_and(|w| w.get_ref().len() >= CHUNK)
            && let Err(e) = self.write_out()
        {
            self.fail(e);
        }
    }

    #[inline]
    fn watermark(&mut self, _wm: Timestamp) {}

    fn checkpoint(&mut self, barrier: Barrier) {
        if self.writer.is_none() {
            return;
        }
        if let Err(e) = self.write_out() {
            return self.fail(e);
        }
        if let Err(e) = self.file.precommit(Some(barrier.id))
            && let Some(ctx) = &self.ctx
        {
            ctx.fail(e);
        }
    }

    fn end(&mut self) {
        if let Err(e) = self.write_out() {
            self.fail(e);
        }
        if self.writer.is_some()
            && let Err(e) = self.file.precommit(None)
            && let Some(ctx) = &self.ctx
        {
            ctx.fail(e);
        }
        self.writer = None;
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().records_out, std::mem::take(&mut self.count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Job, JobSpec, source};
    use std::collections::BTreeMap;

    /// Writes `records` with a CSV sink through a job and returns the file's text.
    fn write_all<T: Serialize + 'static>(records: Vec<T>) -> Result<(String, u64), JobError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/out.csv").display().to_string();
        let src = source::from_iter(records);
        let ty = src.ty();
        let mut job = Job::new(JobSpec::default());
        job.add_source("rows", src, csv(ty, &path));
        let summary = job.run()?;
        Ok((std::fs::read_to_string(&path).unwrap(), summary.records_out))
    }

    #[derive(Serialize)]
    struct Flat {
        name: String,
        qty: u32,
        price: f64,
        ok: bool,
        note: Option<&'static str>,
    }

    #[test]
    fn flat_records_with_header_and_quoting() {
        let rows = vec![
            Flat {
                name: "plain".into(),
                qty: 1,
                price: 1.0,
                ok: true,
                note: None,
            },
            Flat {
                name: "comma, \"quoted\"\nnewline".into(),
                qty: 2,
                price: 0.25,
                ok: false,
                note: Some("n"),
            },
        ];
        let (text, out) = write_all(rows).unwrap();
        assert_eq!(
            text,
            "name,qty,price,ok,note\nplain,1,1.0,true,\n\"comma, \"\"quoted\"\"\nnewline\",2,0.25,false,n\n"
        );
        assert_eq!(out, 2);
    }

    /// The shape of `WindowResult<K, V>`, defined here so the test does not depend on windows.
    #[derive(Serialize)]
    struct Windowed<K, V> {
        key: K,
        start: i64,
        end: i64,
        value: V,
    }

    #[derive(Serialize)]
    struct Stats {
        sum: i64,
        count: u64,
    }

    #[test]
    fn nested_tuple_value_is_flattened() {
        let rows = vec![
            Windowed {
                key: "a".to_owned(),
                start: 0,
                end: 1000,
                value: (-5i64, 2u64),
            },
            Windowed {
                key: "b".to_owned(),
                start: 1000,
                end: 2000,
                value: (7, 1),
            },
        ];
        let (text, _) = write_all(rows).unwrap();
        assert_eq!(text, "key,start,end,value.0,value.1\na,0,1000,-5,2\nb,1000,2000,7,1\n");
    }

    #[test]
    fn nested_struct_and_tuple_key_are_flattened() {
        let rows = vec![Windowed {
            key: ("k", 1u8),
            start: -1000,
            end: 0,
            value: Stats { sum: 3, count: 4 },
        }];
        let (text, _) = write_all(rows).unwrap();
        assert_eq!(text, "key.0,key.1,start,end,value.sum,value.count\nk,1,-1000,0,3,4\n");
    }

    #[test]
    fn scalars_maps_and_enums() {
        assert_eq!(write_all(vec![1u64, 2]).unwrap().0, "value\n1\n2\n");
        assert_eq!(write_all(vec![(1.5f64, "x")]).unwrap().0, "0,1\n1.5,x\n");
        let map = BTreeMap::from([("a", 1), ("b", 2)]);
        assert_eq!(write_all(vec![map]).unwrap().0, "a,b\n1,2\n");

        #[derive(Serialize)]
        enum Shape {
            Circle { r: u32 },
            Unit,
        }
        #[derive(Serialize)]
        struct Tagged {
            id: u32,
            shape: Shape,
        }
        let text = write_all(vec![Tagged {
            id: 1,
            shape: Shape::Circle { r: 2 },
        }])
        .unwrap()
        .0;
        assert_eq!(text, "id,shape.Circle.r\n1,2\n");
        let text = write_all(vec![Tagged {
            id: 1,
            shape: Shape::Unit,
        }])
        .unwrap()
        .0;
        assert_eq!(text, "id,shape\n1,Unit\n");
    }

    #[test]
    fn a_row_with_a_different_shape_fails_the_job() {
        let rows: Vec<Vec<u32>> = vec![vec![1, 2], vec![3]];
        let err = write_all(rows).unwrap_err();
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

    #[test]
    fn no_records_means_an_empty_file() {
        let (text, out) = write_all(Vec::<Flat>::new()).unwrap();
        assert_eq!((text.as_str(), out), ("", 0));
    }
}
