//! Sinks: where records leave a job.
//!
//! A sink is the last [`Collector`](crate::Collector) of a fused chain. File sinks open (and
//! create the parent directories of) their output in `open`, buffer their writes and flush in
//! `end`; a write error is reported once through [`TaskContext::fail`](crate::TaskContext::fail)
//! and the sink stops writing, so the job fails cleanly instead of panicking. Every sink counts
//! the records it wrote and adds them to `records_out` at the end of input.

mod collect;
mod csv;
mod flatten;
mod fold;
mod for_each;
mod json_lines;
mod stdout;

pub use self::csv::{CsvSink, csv};
pub use collect::{CollectSink, Collected, collect};
pub use fold::{FoldSink, Folded, fold};
pub use for_each::{ForEachSink, for_each};
pub use json_lines::{JsonLinesSink, json_lines};
pub use stdout::{StdoutSink, stdout};

use crate::JobError;
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
    path: Arc<str>,
    state: Arc<Mutex<FileState>>,
}

#[derive(Debug, Default)]
struct FileState {
    file: Option<File>,
    opened: bool,
    header_written: bool,
}

impl SharedFile {
    fn new(path: String) -> Self {
        SharedFile {
            path: path.into(),
            state: Arc::default(),
        }
    }

    fn path(&self) -> &str {
        &self.path
    }

    /// Creates the file the first time any instance opens it.
    fn open(&self) -> Result<(), JobError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.opened {
            st.opened = true;
            st.file = Some(create_output(&self.path)?);
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
