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
use std::path::Path;

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
