//! Sinks: where records leave a job.
//!
//! A sink is the last [`Collector`](crate::Collector) of a fused chain. File sinks open (and
//! create the parent directories of) their output in `open`, buffer their writes and flush in
//! `end`; a write error is reported once through [`TaskContext::fail`](crate::TaskContext::fail)
//! and the sink stops writing, so the job fails cleanly instead of panicking. Every sink counts
//! the records it wrote and adds them to `records_out` at the end of input.
//!
//! With checkpoints on, a file sink is exactly-once: its path names a directory of part
//! files that become visible only when the checkpoint covering them completes (see
//! [`checkpoint`](crate::checkpoint)); without, it writes the one file its path names.
//!
//! A file sink has a name (given with `named`, which `pipeline!` sets to the stream's name, or
//! else its file's stem): `--output name=path` ([`Job::with_output`](crate::Job::with_output))
//! makes the sink of that name write to another path, chosen when the sink opens.
//!
//! The [`postgres`](fn@postgres) sink writes rows of a PostgreSQL table, exactly-once with checkpoints
//! (a write-ahead sink that commits each checkpoint's rows in one transaction); `--output
//! name=postgres://…` gives it another database.

mod collect;
mod csv;
mod flatten;
mod fold;
mod for_each;
mod json_lines;
pub mod postgres;
mod stdout;

pub use self::csv::{CsvSink, csv};
pub use crate::kafka::sink::{KafkaSink, kafka, kafka_keyed};
pub use collect::{CollectSink, Collected, collect};
pub use fold::{FoldSink, Folded, fold};
pub use for_each::{ForEachSink, for_each};
pub use json_lines::{JsonLinesSink, json_lines};
pub use postgres::{DEFAULT_BATCH_SIZE, DEFAULT_CONNECT_TIMEOUT, PgSink, PgTable, postgres};
pub use stdout::{StdoutSink, stdout};

use crate::checkpoint::PartWriter;
use crate::{JobError, TaskContext};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Bytes a file sink buffers before appending them to its output.
const CHUNK: usize = 64 * 1024;

/// An output file shared by the parallel instances of one file sink: the first instance to
/// open it creates (or truncates) it, and every instance appends whole chunks of lines under
/// a lock, so lines never interleave. A header, if any, is written once, before any chunk.
#[derive(Debug, Clone)]
struct SharedFile {
    /// The path written in the pipeline.
    path: Arc<str>,
    /// The sink's name, for `--output name=path`.
    name: Option<Arc<str>>,
    state: Arc<Mutex<FileState>>,
}

#[derive(Debug, Default)]
struct FileState {
    file: Option<File>,
    opened: bool,
    header_written: bool,
    /// The path actually written, once opened (the pipeline's or an override).
    path: Option<String>,
}

impl SharedFile {
    fn new(path: String) -> Self {
        SharedFile {
            path: path.into(),
            name: None,
            state: Arc::default(),
        }
    }

    /// Names the sink.
    fn set_name(&mut self, name: &str) {
        self.name = Some(name.into());
    }

    /// The sink's name: the one given, or else the file stem of its path.
    fn name(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => Path::new(&*self.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.to_string()),
        }
    }

    /// The path being written (the pipeline's until the file is opened).
    fn path(&self) -> String {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.path.clone().unwrap_or_else(|| self.path.to_string())
    }

    /// Creates the file the first time any instance opens it, at the path the job's output
    /// overrides give for this sink's name, or else the pipeline's.
    fn open(&self, ctx: &TaskContext) -> Result<(), JobError> {
        let path = ctx.output_override(&self.name()).unwrap_or(&self.path).to_owned();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.opened {
            st.opened = true;
            st.file = Some(create_output(&path)?);
            st.path = Some(path);
        }
        Ok(())
    }

    /// Appends `chunk`, preceded by `header` if no header was written yet.
    fn append(&self, header: &[u8], chunk: &[u8]) -> std::io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *st;
        let Some(file) = st.file.as_mut() else { return Ok(()) };
        if !st.header_written && !header.is_empty() {
            st.header_written = true;
            file.write_all(header)?;
        }
        file.write_all(chunk)
    }
}

/// One file sink instance's output: the file shared by the instances, or, when the job takes
/// checkpoints, this instance's own part files.
#[derive(Debug)]
struct SinkFile {
    shared: SharedFile,
    parts: Option<PartWriter>,
    /// The extension of part files.
    ext: &'static str,
}

impl Clone for SinkFile {
    fn clone(&self) -> Self {
        SinkFile {
            shared: self.shared.clone(),
            parts: None,
            ext: self.ext,
        }
    }
}

impl SinkFile {
    fn new(path: String, ext: &'static str) -> Self {
        SinkFile {
            shared: SharedFile::new(path),
            parts: None,
            ext,
        }
    }

    fn set_name(&mut self, name: &str) {
        self.shared.set_name(name);
    }

    fn name(&self) -> String {
        self.shared.name()
    }

    /// The file or directory being written.
    fn path(&self) -> String {
        match &self.parts {
            Some(p) => p.dir().display().to_string(),
            None => self.shared.path(),
        }
    }

    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        match ctx.checkpoints() {
            None => self.shared.open(ctx),
            Some(c) => {
                let path = ctx
                    .output_override(&self.name())
                    .unwrap_or(&self.shared.path)
                    .to_owned();
                self.parts = Some(PartWriter::open(
                    Arc::clone(c),
                    Path::new(&path),
                    ctx.subtask(),
                    self.ext,
                )?);
                Ok(())
            }
        }
    }

    /// Appends `chunk`; a new file (or part) starts with `header`.
    fn append(&mut self, header: &[u8], chunk: &[u8]) -> std::io::Result<()> {
        match &mut self.parts {
            Some(p) => p.append(header, chunk),
            None => self.shared.append(header, chunk),
        }
    }

    /// Pre-commits what was written since the last barrier, for checkpoint `id` (`None`:
    /// the final checkpoint). Nothing to do without checkpoints.
    fn precommit(&mut self, id: Option<u64>) -> Result<(), JobError> {
        match &mut self.parts {
            Some(p) => p.precommit(id),
            None => Ok(()),
        }
    }
}

/// Creates (or truncates) the output file at `path`, creating its parent directories.
fn create_output(path: &str) -> Result<File, JobError> {
    let err = |e| JobError::io("cannot create output", path, e);
    if let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    File::create(path).map_err(err)
}
